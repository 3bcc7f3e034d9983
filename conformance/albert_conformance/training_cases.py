"""What the training tests (`suite/test_training.py`) run: tiny models and batches, AdamW in NumPy float64, the
tolerances of the optimizer checks with their error models, and a small text-classification set of real text.

The contract under test is `albert_core.training.step` (a backend's `TrainStep`) and the core's loop
(`albert_core.finetune`). The tests compare a backend with a reference (the NumPy AdamW below, fed the backend's
own conformance-checked gradients) or with itself (accumulated vs one batch, checkpointed vs not, resumed vs not).
"""

from __future__ import annotations

import collections
import importlib
import inspect
import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import albert_core
from albert_core import AlbertConfig, Checkpoint, param_table
from albert_core.inputs import prepare_inputs
from albert_core.ops import IGNORE_INDEX
from albert_core.tasks import MASKED_LM, PRETRAINING, SEQUENCE_CLASSIFICATION, TOKEN_CLASSIFICATION
from albert_core.training.step import MOMENT_KEYS, OptimizerOptions, decays, moment_key

from .cases import case_weights, make_config, padded_mask
from .compare import assert_close
from .tolerances import Tolerance

# --------------------------------------------------------------------------------------------- tolerances
# The optimizer checks use AdamW's epsilon at 1e-3 (not torch's default 1e-8). Where it is placed matters then
# (Keras adds it before the bias correction: 32x larger at t=1, which shrinks an update with |g| = 0.03 by half
# and one with |g| = 0.3 by 10%, far beyond the tolerances below), and it bounds how much a gradient's float32
# rounding can move an update:
# d(update)/dg <= lr / eps. With eps = 1e-8 a gradient that is zero in exact arithmetic (the key bias: softmax
# ignores a shift shared by all keys) comes out as +-1e-9 of rounding noise, and Adam's first step turns that
# noise into an update of +-lr/10 whose sign no tolerance can predict.
EPSILON = 1e-3
PEAK_LR = 1e-2
WEIGHT_DECAY = 0.1

TRAINING_TOLERANCES: dict[str, Tolerance] = {
    # Parameters after one backend step vs the NumPy float64 AdamW applied to the same parameters with the
    # gradient of `loss_and_grads`. The step computes its gradient again (training-mode forward, dropout 0): the
    # two float32 gradients differ by a few ulps of the largest gradient, |dg| <= ~2e-7 (measured: 1.5e-8 torch
    # and JAX, 1.5e-7 TensorFlow), moving an update by <= lr * |dg| / eps = 2e-6; the update itself rounds a few
    # times in float32 (~1e-9 at lr 1e-2) and the new value once (6e-8 * |p|). What it must catch is 10x to 1000x
    # larger: weight decay on a LayerNorm weight (lr * wd * 1 = 1e-3) or missing on a weight (~2e-4), a missing
    # bias correction, epsilon in the wrong place, a wrong learning rate. Measured, the worst element used this
    # much of the bound: torch 0.010, JAX 0.014, TensorFlow 0.026.
    "adamw_params": Tolerance(atol=5e-6, rtol=1e-6),
    # LAMB's step: the same gradient difference moves u by |dg| / (sqrt(v) + eps), and the trust ratio scales the
    # step to lr * ||p|| / ||u|| * u, so the error stays below AdamW's; its mistakes (no trust ratio: the step
    # changes by ||p|| / ||u||, often 10x; decay outside the ratio; no bias correction) are as large as AdamW's.
    "lamb_params": Tolerance(atol=5e-6, rtol=1e-6),
    # AdamW's first moment vs the reference's: linear in the (clipped) gradients, so off by ~|dg| at most.
    "exp_avg": Tolerance(atol=3e-7, rtol=1e-5),
    # The second moment: (1 - beta2) * g^2 summed, off by 2 * (1 - beta2) * |g| * |dg| per step (~1e-9 here).
    # Measured, both moments against the reference: torch 0.009 of the bound, JAX 0.062, TensorFlow 0.070.
    "exp_avg_sq": Tolerance(atol=1e-9, rtol=1e-5),
    # Loss and gradient norm of a step vs the float32 eval-mode loss and the norm of the `loss_and_grads`
    # gradient: the same function rounded in another order, a few ulps (the suite's `invariant` bound). Measured:
    # torch 0.0006 of the bound, JAX 0.0009, TensorFlow 0.004.
    "step_report": Tolerance(atol=2e-5, rtol=2e-5),
    # The learning rate a step reports vs `schedule.learning_rate(t)` in float64: JAX and TensorFlow compute the
    # schedule in float32 (peak * t / warmup: two roundings, <= 2.4e-7 relative). Measured: torch exact, JAX 0.12
    # of the bound, TensorFlow 0.024.
    "learning_rate": Tolerance(atol=1e-12, rtol=1e-6),
    # A backend against itself with the reductions in another order (one batch vs two weighted micro-batches):
    # losses, norms and moments differ by a few float32 ulps, the weights by <= lr * |dg| / eps per step. Measured
    # (the worst of loss, norm, weights and moments, over the 3 tasks): torch 0.031, JAX 0.087, TensorFlow 0.12.
    "reordered": Tolerance(atol=5e-6, rtol=2e-5),
    # A backend against itself running the same computation: gradient checkpointing recomputes the same ops with
    # the same dropout masks; a resumed step starts from a bitwise copy of the state. Equal up to the framework
    # fusing or vectorising the recompute or the reloaded tensors differently. Measured: checkpointing bitwise equal
    # on torch and JAX, 0.092 of the bound on TensorFlow; the resumed step bitwise equal on JAX and TensorFlow, 0.07
    # to 0.15 on torch (1 ulp in some weights from the 2nd resumed step on). A recompute that redrew other dropout
    # masks moves the weights by O(lr) = 1e-2.
    "same_computation": Tolerance(atol=1e-6, rtol=1e-6),
    # A bf16 step's loss and gradient norm vs float32's: bfloat16 keeps 8 significant bits (2**-9 relative per
    # rounding); the tiny model's loss goes through ~100 of them, partly cancelling. Measured over 3 steps: losses
    # and norms within 0.14% (torch, 0.027 of the bound), 0.37% (JAX), 0.72% (TensorFlow).
    "bf16_vs_float32": Tolerance(atol=0.0, rtol=0.05),
    # Per-step losses of a resumed run vs the uninterrupted one (the bound): the same float32 programs on
    # a bitwise copy of the weights, moments and data position. Measured: bitwise equal on all three backends.
    "resumed_loss": Tolerance(atol=0.0, rtol=1e-6),
}

# --------------------------------------------------------------------------------------------- models, batches
NUM_LABELS = {SEQUENCE_CLASSIFICATION: 3, TOKEN_CLASSIFICATION: 4, MASKED_LM: None, PRETRAINING: None}
DROPOUT = dict(hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, classifier_dropout_prob=0.1)


def training_config(task: str, **overrides: Any) -> AlbertConfig:
    """The suite's tiny config (every dropout 0 unless overridden) with the task's labels."""
    return make_config(num_labels=NUM_LABELS[task], **overrides)


def training_weights(config: AlbertConfig, task: str, seed: int = 0) -> dict[str, np.ndarray]:
    """float32 weights with random biases and LayerNorm parameters (so weight decay on them would show)."""
    return {k: v.astype(np.float32) for k, v in case_weights(config, task, seed).items()}


def load_trainable(backend_name: str, config: AlbertConfig, task: str, weights: dict[str, np.ndarray]) -> Any:
    return albert_core.load(Checkpoint(config, weights, source="conformance:training"), backend=backend_name,
                            task=task, trainable=True)


def make_batch(config: AlbertConfig, task: str, seed: int, lengths: Sequence[int],
               labelled: Sequence[int] | None = None) -> dict[str, np.ndarray]:
    """A padded batch with the task's labels, checked as the trainer checks its batches.

    `lengths`: each row's real tokens; `labelled` (per-token tasks): how many of each row's real tokens carry a
    label (-100 everywhere else), so micro-batches can hold unequal numbers of loss terms."""
    rng = np.random.default_rng([seed, zlib.crc32(task.encode())])
    rows, seq = len(lengths), max(lengths)
    batch: dict[str, np.ndarray] = dict(input_ids=rng.integers(5, config.vocab_size, (rows, seq)),
                                        attention_mask=padded_mask(list(lengths), seq))
    if task == SEQUENCE_CLASSIFICATION:
        batch["labels"] = rng.integers(0, config.num_labels, rows)
    else:
        labels = np.full((rows, seq), IGNORE_INDEX, np.int64)
        high = config.num_labels if task == TOKEN_CLASSIFICATION else config.vocab_size
        for row, (length, count) in enumerate(zip(lengths, labelled or lengths)):
            where = rng.choice(length, size=count, replace=False)
            labels[row, where] = rng.integers(0, high, count)
        batch["labels"] = labels
        if task == PRETRAINING:
            batch["sentence_order_label"] = rng.integers(0, 2, rows)
    return prepare_inputs(config, task, np.asarray, **batch)


def rows_of(batch: dict[str, np.ndarray], rows: slice) -> dict[str, np.ndarray]:
    return {k: v[rows] for k, v in batch.items()}


def float64_params(model: Any) -> dict[str, np.ndarray]:
    return {k: np.array(v, dtype=np.float64) for k, v in model.numpy_params().items()}


def float64_state(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.array(v, dtype=np.float64) for k, v in state.items()}


def param_shapes(config: AlbertConfig, task: str) -> dict[str, tuple[int, ...]]:
    return {s.name: tuple(s.shape) for s in param_table(config, task)}


def expected_state_keys(config: AlbertConfig, task: str) -> set[str]:
    return {moment_key(m, s.name) for m in MOMENT_KEYS for s in param_table(config, task)}


def bf16_representable(x: np.ndarray) -> bool:
    """Whether every float32 value of `x` has a zero low half (holds exactly in bfloat16)."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    return bool(np.all((bits & 0xFFFF) == 0))


# ----------------------------------------------------------------------------------------- optimizer reference
@dataclass
class OptimizerReference:
    """`torch.optim.AdamW` (with HF Trainer's parameter groups and `clip_grad_norm_`), or `optax.lamb`, in NumPy
    float64, as `options.optimizer` says.

    For optimizer step t = 1, 2, ... with learning rate lr = schedule.learning_rate(t - 1):
        norm = ||g||_2 over every parameter; if max_grad_norm: g *= min(1, max_grad_norm / (norm + 1e-6))
        m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g^2
      AdamW:
        p *= 1 - lr * weight_decay                                  (only where decays(name))
        p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
      LAMB, per parameter tensor:
        u = (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps) + weight_decay * p   (the decay only where decays)
        p -= lr * r * u,  r = ||p|| / ||u||  (1 where either norm is 0; r = 1 where not decays)
    """

    options: OptimizerOptions
    exp_avg: dict[str, np.ndarray] = field(default_factory=dict)
    exp_avg_sq: dict[str, np.ndarray] = field(default_factory=dict)
    steps: int = 0

    def step(self, params: dict[str, np.ndarray],
             grads: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], float, float, bool]:
        """The parameters after one update from `params` with gradient `grads` (float64), the norm before
        clipping, the learning rate used, and whether clipping scaled the gradient."""
        o = self.options
        lr = o.schedule.learning_rate(self.steps)
        g = {n: np.asarray(v, np.float64) for n, v in grads.items()}
        norm = float(np.sqrt(sum(float(np.sum(v * v)) for v in g.values())))
        coefficient = min(1.0, o.max_grad_norm / (norm + 1e-6)) if o.max_grad_norm else 1.0
        self.steps += 1
        t = self.steps
        c1, c2 = 1.0 - o.adam_beta1 ** t, 1.0 - o.adam_beta2 ** t
        out = {}
        for name, p in params.items():
            grad = g[name] * coefficient
            m = o.adam_beta1 * self.exp_avg.get(name, 0.0) + (1.0 - o.adam_beta1) * grad
            v = o.adam_beta2 * self.exp_avg_sq.get(name, 0.0) + (1.0 - o.adam_beta2) * grad * grad
            self.exp_avg[name], self.exp_avg_sq[name] = m, v
            if o.optimizer == "lamb":
                u = (m / c1) / (np.sqrt(v / c2) + o.adam_epsilon) + (o.weight_decay * p if decays(name) else 0.0)
                p_norm, u_norm = float(np.linalg.norm(p)), float(np.linalg.norm(u))
                adapted = decays(name) and p_norm > 0 and u_norm > 0
                out[name] = p - lr * (p_norm / u_norm if adapted else 1.0) * u
                continue
            new = p * (1.0 - lr * o.weight_decay) if decays(name) else p.copy()
            out[name] = new - (lr / c1) * m / (np.sqrt(v) / np.sqrt(c2) + o.adam_epsilon)
        return out, norm, lr, coefficient < 1.0

    def state(self) -> dict[str, np.ndarray]:
        """The moments keyed as `TrainStep.optimizer_state` keys them."""
        return {**{moment_key("exp_avg", n): v for n, v in self.exp_avg.items()},
                **{moment_key("exp_avg_sq", n): v for n, v in self.exp_avg_sq.items()}}


# --------------------------------------------------------------------------------------------- real text
# Docstrings of four standard-library modules: real English on every machine Python runs on, with vocabularies
# apart (numbers and functions; loggers, handlers and records; tests, assertions and failures; dates, times and
# time zones). The label of a text is the module it documents.
DOCSTRING_MODULES = {"math": "math", "logging": "logging", "unittest": "unittest.case", "datetime": "datetime"}
MIN_WORDS = 4


def _first_paragraph(obj: Any) -> str | None:
    doc = inspect.getdoc(obj)
    if not doc:
        return None
    text = " ".join(doc.split("\n\n")[0].split())
    return text if len(text.split()) >= MIN_WORDS else None


def docstring_records() -> list[dict[str, str]]:
    """`{"text", "label", "name"}` for each public function, class and method defined in the modules (the first
    paragraph of its docstring), sorted by name; a text found under two names (an inherited docstring, an alias)
    is left out, so no text is in both the training and the held-out rows."""
    found: dict[str, list[tuple[str, str]]] = collections.defaultdict(list)
    for label, module_name in DOCSTRING_MODULES.items():
        module = importlib.import_module(module_name)
        for name, obj in sorted(vars(module).items()):
            if name.startswith("_") or getattr(obj, "__module__", None) != module_name:
                continue
            if not (inspect.isclass(obj) or inspect.isroutine(obj)):
                continue
            members = [(name, obj)]
            if inspect.isclass(obj):
                members += [(f"{name}.{k}", v) for k, v in sorted(vars(obj).items())
                            if not k.startswith("_") and inspect.isroutine(v)]
            for qualified, member in members:
                text = _first_paragraph(member)
                if text:
                    found[text].append((label, f"{module_name}.{qualified}"))
    records = [dict(text=text, label=where[0][0], name=where[0][1]) for text, where in found.items()
               if len(where) == 1]
    return sorted(records, key=lambda r: r["name"])


def held_out(record: dict[str, str]) -> bool:
    """A quarter of the rows, chosen by a hash of the documented name (stable across Python versions)."""
    return zlib.crc32(record["name"].encode()) % 4 == 0


def train_sentencepiece(texts: Sequence[str], path: Path, vocab_size: int) -> Path:
    """A unigram SentencePiece model with ALBERT's special pieces (<pad>=0, <unk>=1, [CLS]=2, [SEP]=3, [MASK]=4),
    trained on the lower-cased texts (AlbertTokenizer lower-cases before it splits)."""
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([t.lower() for t in texts]), model_writer=model, vocab_size=vocab_size,
        hard_vocab_limit=False, model_type="unigram", pad_id=0, unk_id=1, bos_id=-1, eos_id=-1,
        control_symbols=["[CLS]", "[SEP]", "[MASK]"], normalization_rule_name="nmt_nfkc", character_coverage=1.0,
        minloglevel=2, num_threads=1)
    path.write_bytes(model.getvalue())
    return path


def used_bound(actual: Any, expected: Any, tol: Tolerance) -> float:
    """How much of the tolerance the worst element uses (0: equal, 1: at the bound), for the tests' reports."""
    a, e = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    return float(np.max(np.abs(a - e) / (tol.atol + tol.rtol * np.abs(e)), initial=0.0))


def compare_params(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray], tol: Any, what: str) -> float:
    """Every parameter within `tol`; returns the largest share of the bound any element used."""
    assert set(actual) == set(expected), f"{what}: parameters {sorted(set(actual) ^ set(expected))} differ"
    for name in sorted(expected):
        assert_close(actual[name], expected[name], tol, f"{what}: {name}")
    return max(used_bound(actual[n], expected[n], tol) for n in expected)


def check_state_format(state: dict[str, np.ndarray], config: AlbertConfig, task: str, what: str) -> None:
    """An `optimizer_state()`: every moment of every parameter, float32, in HF's shapes."""
    keys = expected_state_keys(config, task)
    assert set(state) == keys, (f"{what}: optimizer_state() keys must be moment_key(m, hf_name) for m in MOMENT_KEYS "
                                f"and every parameter; missing {sorted(keys - set(state))[:4]}, unexpected "
                                f"{sorted(set(state) - keys)[:4]}")
    shapes = param_shapes(config, task)
    for key, value in state.items():
        value = np.asarray(value)
        name = key.split(".", 1)[1]
        assert value.dtype == np.float32, f"{what}: {key} is {value.dtype}, moments travel as float32 host arrays"
        assert value.shape == shapes[name], f"{what}: {key} has shape {value.shape}, HF's {name} is {shapes[name]}"
