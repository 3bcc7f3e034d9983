"""Pretraining: step time of our backend's `TrainStep` with LAMB on the pretraining head vs HF's
`*AlbertForPreTraining` with the same optimizer in the same framework (tokens per second), and the data
builder's throughput (instances per second) with every core against one process.

HF's step: the PyTorch class with albert-torch's `Lamb` (PyTorch has none); the Flax class with `optax.lamb`,
gradient and update in one `jax.jit`; the TF class with albert-tensorflow's native LAMB in one `tf.function`.
Batches are pretraining batches (15% of the tokens labelled, a sentence-order label per row); the two steps
alternate after warm-up. Google's `create_pretraining_data.py` needs TensorFlow 1 and is not run here: the data
baseline is our own builder in one process.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .common import alternate, summarize, worker_main
from .frameworks import import_framework

TASK = "pretraining"
HF_CLASS = {"torch": "AlbertForPreTraining", "jax": "FlaxAlbertForPreTraining", "tensorflow": "TFAlbertForPreTraining"}
LEARNING_RATE = 1e-3


def make_batch(batch: int, seq: int, vocab: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.full((batch, seq), -100, np.int64)
    where = rng.random((batch, seq)) < 0.15
    labels[where] = rng.integers(5, vocab, int(where.sum()))
    return {"input_ids": rng.integers(5, vocab, (batch, seq)), "attention_mask": np.ones((batch, seq), np.int64),
            "token_type_ids": (np.arange(seq)[None] >= seq // 2).astype(np.int64).repeat(batch, 0),
            "labels": labels, "sentence_order_label": rng.integers(0, 2, batch)}


def _options():
    from albert_core.training.schedule import LinearSchedule
    from albert_core.training.step import OptimizerOptions

    return OptimizerOptions(LinearSchedule(LEARNING_RATE, 0, 10_000), weight_decay=0.01, adam_epsilon=1e-6,
                            optimizer="lamb")


def ours_step(framework: str, folder: Path):
    import albert_core as ac

    model = ac.load(folder, backend=framework, task=TASK, trainable=True, init_missing_heads=True)
    step = ac.get_backend(framework).train_step(model, _options())
    return lambda batch: step.step([batch], [1.0], [0]).loss


def hf_step(framework: str, folder: Path):
    import transformers

    from albert_core.training.step import decays

    transformers.logging.set_verbosity_error()
    cls = getattr(transformers, HF_CLASS[framework])
    if framework == "torch":
        import torch
        from albert_torch.lamb import Lamb

        model = cls.from_pretrained(folder, attn_implementation="sdpa").train()
        named = list(model.named_parameters())
        opt = Lamb([{"params": [p for n, p in named if decays(n)], "weight_decay": 0.01},
                    {"params": [p for n, p in named if not decays(n)], "trust_ratio": False}], lr=LEARNING_RATE)
        native: dict[str, Any] = {}

        def run(batch):
            if not native:
                native.update({k: torch.from_numpy(v) for k, v in batch.items()})
            opt.zero_grad(set_to_none=True)
            loss = model(**native).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            return float(loss.detach())
        return run
    if framework == "jax":
        import jax
        import optax

        model = cls.from_pretrained(folder)
        tx = optax.chain(optax.clip_by_global_norm(1.0), optax.lamb(LEARNING_RATE, weight_decay=0.01))
        state = {"params": model.params, "opt": tx.init(model.params), "rng": jax.random.key(0)}

        @jax.jit
        def update(params, opt_state, rng, batch):
            def loss_fn(p):
                out = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"], params=p,
                            dropout_rng=rng, train=True)
                keep = batch["labels"] != -100
                mlm = optax.softmax_cross_entropy_with_integer_labels(out.prediction_logits,
                                                                      jax.numpy.where(keep, batch["labels"], 0))
                sop = optax.softmax_cross_entropy_with_integer_labels(out.sop_logits, batch["sentence_order_label"])
                return (mlm * keep).sum() / keep.sum() + sop.mean()
            loss, grads = jax.value_and_grad(loss_fn)(params)
            updates, opt_state = tx.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, loss

        def run(batch):
            native = {k: jax.numpy.asarray(v) for k, v in batch.items()}
            state["params"], state["opt"], loss = update(state["params"], state["opt"], state["rng"], native)
            return float(loss)
        return run
    import tensorflow as tf
    from albert_tensorflow.training import AdamW as NativeOptimizer

    model = cls.from_pretrained(folder, from_pt=True)
    model(make_batch(1, 8, 100))  # builds the variables
    variables = model.trainable_variables
    opt = NativeOptimizer(variables, [decays(v.name) for v in variables], _options())

    @tf.function
    def update(batch):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model(**batch, training=True).loss)
        grads = [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g)  # dense: the embeddings' are sparse
                 for g, v in zip(tape.gradient(loss, variables), variables)]
        grads, _ = tf.clip_by_global_norm(grads, 1.0)
        opt.apply(grads, variables)
        return loss

    def run(batch):
        return float(update({k: tf.constant(v) for k, v in batch.items()}))
    return run


def _data_throughput(args: dict[str, Any]) -> dict[str, Any]:
    """Instances per second of `build_pretraining_data` on the sample corpus, every core vs one process."""
    import os

    from albert_core.pretraining.builder import DataOptions, build_pretraining_data
    from albert_core.pretraining.sample_corpus import write_sample_corpus

    root = Path(tempfile.mkdtemp(prefix="albert-bench-data-"))
    corpus = write_sample_corpus(root / "corpus.txt")
    options = DataOptions(max_seq_length=args["max_seq_length"], dupe_factor=args["dupe_factor"])
    cores = os.cpu_count() or 1
    times: dict[str, list[float]] = {"one_process": [], "all_cores": []}
    instances = 0
    for round_ in range(args["rounds"]):
        for label in ("one_process", "all_cores") if round_ % 2 == 0 else ("all_cores", "one_process"):
            start = time.perf_counter()
            stats = build_pretraining_data(corpus, tokenizer=args["tokenizer"], output_dir=root / label,
                                           options=options, workers=1 if label == "one_process" else cores)
            times[label].append(time.perf_counter() - start)
            instances = stats["instances"]
    one, every = float(np.median(times["one_process"])), float(np.median(times["all_cores"]))
    return {"instances": instances, "cores": cores, "one_process_s": times["one_process"],
            "all_cores_s": times["all_cores"], "one_process_per_s": instances / one,
            "all_cores_per_s": instances / every, "speedup": one / every}


def _measure(args: dict[str, Any]) -> dict[str, Any]:
    if args.get("data"):
        return _data_throughput(args)
    framework, folder = args["framework"], Path(args["folder"])
    import_framework(framework)
    ours, hf = ours_step(framework, folder), hf_step(framework, folder)
    batch = make_batch(*args["shape"], vocab=30000)
    times = alternate({"ours": lambda: ours(batch), "hf": lambda: hf(batch)}, int(args["reps"]), int(args["warmup"]))
    o, h = summarize(times["ours"]), summarize(times["hf"])
    tokens = int(np.prod(args["shape"]))
    return {"framework": framework, "shape": args["shape"], "ours": o, "hf": h,
            "ours_tokens_per_s": tokens / o["median_s"], "hf_tokens_per_s": tokens / h["median_s"],
            "ratio_pairwise_median": float(np.median([a / b for a, b in zip(times["ours"], times["hf"])]))}


if __name__ == "__main__":
    worker_main(_measure)
