"""Fine-tuning step time: our backend's `TrainStep` vs HF's class in the same framework, and peak step memory with
and without gradient checkpointing.

One optimizer step = forward, backward, global-norm clipping, AdamW update, on a sequence-classification head.
HF's step is what its users run: the PyTorch class with `torch.optim.AdamW`; the Flax class with optax's adamw,
gradient and update in one `jax.jit`; the TF class with Keras's AdamW in one `tf.function`. Ours is the trainer's
step (`Backend.train_step`), fed host NumPy batches as the trainer feeds it. Both start from the same weights; the
two alternate step by step after warm-up. Memory: each configuration in its own process, the peak RSS of one step
over the RSS before it (parameters and optimizer moments are allocated before).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from .common import alternate, peak_rss_bytes, rss_bytes, summarize, worker_main
from .frameworks import import_framework

TASK = "sequence-classification"
HF_CLASS = {"torch": "AlbertForSequenceClassification", "jax": "FlaxAlbertForSequenceClassification",
            "tensorflow": "TFAlbertForSequenceClassification"}
LEARNING_RATE = 5e-5


def reset_peak_rss() -> bool:
    """Linux: reset this process's peak RSS (VmHWM) so the next step's peak is measured on its own."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def peak_rss_since_reset() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return peak_rss_bytes()


def make_batch(batch: int, seq: int, vocab: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, seq), np.int64)
    mask[0, seq // 2:] = 0
    return {"input_ids": rng.integers(5, vocab, (batch, seq)), "attention_mask": mask,
            "token_type_ids": np.zeros((batch, seq), np.int64), "labels": rng.integers(0, 2, batch)}


def ours_step(framework: str, folder: Path, gradient_checkpointing: bool = False):
    import albert_core as ac
    from albert_core.training.schedule import LinearSchedule
    from albert_core.training.step import OptimizerOptions

    model = ac.load(folder, backend=framework, task=TASK, trainable=True, init_missing_heads=True)
    options = OptimizerOptions(LinearSchedule(LEARNING_RATE, 0, 10_000), gradient_checkpointing=gradient_checkpointing)
    step = ac.get_backend(framework).train_step(model, options)
    return model, lambda batch: step.step([batch], [1.0], [0])


def hf_step(framework: str, folder: Path):
    """HF's model and its users' optimizer step, as a function of a host batch."""
    import transformers

    transformers.logging.set_verbosity_error()
    cls = getattr(transformers, HF_CLASS[framework])
    if framework == "torch":
        import torch

        model = cls.from_pretrained(folder, attn_implementation="sdpa").train()
        opt = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
        native = {}

        def run(batch):
            if not native:
                native.update({k: torch.from_numpy(v) for k, v in batch.items()})
            opt.zero_grad(set_to_none=True)
            loss = model(**native).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            return float(loss.detach())
        return model, run
    if framework == "jax":
        import jax
        import optax

        model = cls.from_pretrained(folder)
        tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(LEARNING_RATE, weight_decay=0.0))
        state = {"params": model.params, "opt": tx.init(model.params), "rng": jax.random.key(0)}

        @jax.jit
        def update(params, opt_state, rng, batch):
            def loss_fn(p):
                logits = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"], params=p,
                               dropout_rng=rng, train=True).logits
                return optax.softmax_cross_entropy_with_integer_labels(logits, batch["labels"]).mean()
            loss, grads = jax.value_and_grad(loss_fn)(params)
            updates, opt_state = tx.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, loss

        def run(batch):
            native = {k: jax.numpy.asarray(v) for k, v in batch.items()}
            state["params"], state["opt"], loss = update(state["params"], state["opt"], state["rng"], native)
            return float(loss)
        return model, run
    import tensorflow as tf
    import tf_keras

    model = cls.from_pretrained(folder, from_pt=True)
    opt = tf_keras.optimizers.AdamW(learning_rate=LEARNING_RATE, weight_decay=0.0, global_clipnorm=1.0)

    @tf.function
    def update(batch):
        with tf.GradientTape() as tape:
            out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                        token_type_ids=batch["token_type_ids"], labels=batch["labels"], training=True)
            loss = tf.reduce_mean(out.loss)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    def run(batch):
        return float(update({k: tf.constant(v) for k, v in batch.items()}))
    return model, run


def _measure(args: dict[str, Any]) -> dict[str, Any]:
    framework, folder = args["framework"], Path(args["folder"])
    import_framework(framework)
    if args.get("memory"):
        # A step's memory: the peak RSS of a steady-state (second) step over the RSS of the loaded model before any
        # step: AdamW's moments, the gradients and the activations. (Measured from the loaded model, not from
        # just before the second step: the allocator keeps the first step's freed memory resident.)
        _, step = ours_step(framework, folder, gradient_checkpointing=args["gradient_checkpointing"])
        batch = make_batch(*args["shape"], vocab=30000)
        loaded = rss_bytes()
        step(batch)  # allocates the moments and compiles
        reset = reset_peak_rss()
        step(batch)
        peak = peak_rss_since_reset() if reset else peak_rss_bytes()
        return {"framework": framework, "shape": args["shape"],
                "gradient_checkpointing": args["gradient_checkpointing"], "loaded_model_bytes": loaded,
                "peak_bytes": peak, "peak_reset": reset, "step_peak_over_before_bytes": peak - loaded}
    _, ours = ours_step(framework, folder)
    _, hf = hf_step(framework, folder)
    batch = make_batch(*args["shape"], vocab=30000)
    start = time.perf_counter()
    runners = {"ours": lambda: ours(batch), "hf": lambda: hf(batch)}
    times = alternate(runners, int(args["reps"]), int(args["warmup"]))
    o, h = summarize(times["ours"]), summarize(times["hf"])
    return {"framework": framework, "shape": args["shape"], "ours": o, "hf": h,
            "ratio_median": o["median_s"] / h["median_s"],
            "ratio_pairwise_median": float(np.median([a / b for a, b in zip(times["ours"], times["hf"])])),
            "timed_s": time.perf_counter() - start}


if __name__ == "__main__":
    worker_main(_measure)
