"""Parity of fine-tuning with HF transformers: `albert_core.finetune` on torch, jax and tensorflow against HF's
PyTorch class trained by hand the way HF Trainer trains it (`torch.optim.AdamW` with HF's parameter groups,
`get_linear_schedule_with_warmup`, `clip_grad_norm_`), fed the very batches the core builds.

For every fine-tuning task, from one HF folder and one data file (real English text: Python's own docstrings),
dropout 0, 20 optimizer steps with warmup, weight decay, a learning rate that moves the weights and clipping that
bites. Checked: per-step losses and final weights of each backend against the reference and against each other
(1e-4 relative); gradient accumulation against the doubled batch and gradient checkpointing against none, on each
backend (1e-4); the checkpoint a run wrote at step 10 resumed on each other backend against the uninterrupted run
(1e-5). A weight tensor's difference is max|d| / max(max|w|, 1e-2); the few tensors the loss does not depend on
are held to a bound of their own (see `gradient_free`).

Each run happens once per module and is shared by every assertion that reads it; the worst differences of every
comparison are printed in the terminal summary, so the margin to the tolerance is visible. JAX's compilation is
most of the time, so every batch has one shape.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import albert_jax  # noqa: F401  (the parity session installs every backend)
import albert_tensorflow  # noqa: F401
import albert_torch  # noqa: F401
import jax
import numpy as np
import pytest
import torch
import transformers
from conftest import SPIECE_MODEL
from jax.experimental.compilation_cache import compilation_cache
from safetensors.numpy import load_file

import albert_core
from albert_core.layout import ARCHITECTURES
from albert_core.tokenizer import AlbertTokenizer
from albert_core.training.options import FINETUNE_TASKS, TrainingOptions
from albert_core.training.schedule import LinearSchedule
from albert_core.training.step import decays
from albert_core.training.trainer import Run

BACKENDS = ("torch", "jax", "tensorflow")
TASKS = ("text-classification", "token-classification", "question-answering", "multiple-choice", "fill-mask")
STEPS, RESUME_AT = 20, 10
OPTIONS = dict(learning_rate=1e-3, max_steps=STEPS, warmup_steps=5, weight_decay=0.01, max_grad_norm=1.0,
               per_device_train_batch_size=4, max_seq_length=64, doc_stride=16, dropout=0.0, seed=7,
               logging_steps=1, save_steps=RESUME_AT, plot=False, progress=False)
TASK_OPTIONS = {"multiple-choice": dict(max_grad_norm=0.05)}  # its gradient norms are ~0.1: clip those too
LR_SUM = sum(LinearSchedule(OPTIONS["learning_rate"], OPTIONS["warmup_steps"], STEPS).learning_rate(t)
             for t in range(STEPS))  # about the most Adam moves a weight in the run (its steps are <~ lr)
VARIANTS = {"base": {}, "accumulate": dict(gradient_accumulation_steps=2),
            "batch8": dict(per_device_train_batch_size=8), "checkpointing": dict(gradient_checkpointing=True)}
# Every task; the per-token ones weight micro-batches by their labelled tokens (masked-LM rows are masked one by one,
# so 2x4 and 8 rows see the same masks), the others by rows.
ACCUMULATION_TASKS = TASKS
PER_TOKEN_TASKS = ("token-classification", "fill-mask")
CHECKPOINTING_TASKS = TASKS
# Each task's run stops on one backend and resumes on each other one; every backend is a source for some task.
RESUMES = [(task, BACKENDS[i % 3], target) for i, task in enumerate(TASKS) for target in BACKENDS
           if target != BACKENDS[i % 3]]
JAX_CACHE = {"jax_persistent_cache_min_compile_time_secs": 0.0, "jax_persistent_cache_min_entry_size_bytes": -1}
TOLERANCE = 1e-4  # relative: between backends and against HF
RESUME_TOLERANCE = 1e-5  # a run resumed on another backend against the run that wrote the checkpoint
# Logged gradient norms against the reference's: torch's float32 norm (clip_grad_norm_, which HF and the torch
# backend report) is 2e-5 to 1e-4 low on the 30000x16 embedding gradient (measured against float64), where JAX
# and TensorFlow compute it more exactly.
NORM_TOLERANCE = 1e-3
WEIGHT_FLOOR = 1e-2  # a weight tensor's scale is max(max|w|, this), for tensors near 0
HF_CONFIG = dict(vocab_size=30000, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=37, max_position_embeddings=64, hidden_dropout_prob=0.0,
                 attention_probs_dropout_prob=0.0, classifier_dropout_prob=0.0, initializer_range=0.1)

WORST: dict[str, dict] = {}  # comparison -> the worst differences found, for the summary


def gradient_free(task: str, name: str) -> bool:
    """Tensors the loss does not depend on: a constant added to every key's score (an attention key bias), to every
    position's start or end logit (the span head's bias) or to every choice's logit (the multiple-choice head's
    bias) leaves each softmax unchanged. Their true gradient is 0 and autograd's is rounding noise (~1e-9, where
    every other tensor's is >= 1e-3; `test_settings_bite` checks it), which Adam divides by its own running root
    mean square: they take steps of a fraction of the learning rate in random directions, so no two correct
    implementations (nor one with other threads) agree on them. They are held to having moved less than Adam
    can move a weight, and every other tensor to the tolerance."""
    return name.endswith("attention.key.bias") or (task, name) in (
        ("question-answering", "qa_outputs.bias"), ("multiple-choice", "classifier.bias"))


# ------------------------------------------------------------------------------------------------------ the data
# Every row of every task is 33 to 64 tokens long and each data set has 32 rows: every batch pads to the one bucket
# of 64 and has 4 (or 8) rows, so a compiling backend compiles each run's step once (JAX's compile is the budget).
ROWS = 32
MODULES = ("inspect", "statistics", "shutil", "base64", "math", "difflib", "subprocess")  # long docstrings


def _functions(module_name: str) -> list[tuple[str, str]]:
    """(module.name, docstring with its whitespace collapsed) of a stdlib module's own public functions whose
    docstring is at least 40 words long, sorted by name."""
    module = importlib.import_module(module_name)
    out = []
    for name, value in sorted(vars(module).items()):
        if name.startswith("_") or not (inspect.isfunction(value) or inspect.isbuiltin(value)):
            continue
        if getattr(value, "__module__", None) != module.__name__:
            continue  # re-exported from elsewhere
        doc = " ".join((inspect.getdoc(value) or "").split())
        if len(doc.split()) >= 40:
            out.append((f"{module_name}.{name}", doc))
    return out


class Texts:
    """Word prefixes of docstrings cut to a number of tokens of the official vocabulary."""

    def __init__(self) -> None:
        self.tokenizer = AlbertTokenizer(SPIECE_MODEL)

    def length(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False, return_tensors=None)["input_ids"])

    def prefix(self, text: str, tokens: int) -> str:
        """The longest prefix of whole words of `text` that is at most `tokens` tokens long."""
        words = text.split()
        low, high = 1, len(words)
        while low < high:  # the length grows with the words taken
            middle = (low + high + 1) // 2
            low, high = (middle, high) if self.length(" ".join(words[:middle])) <= tokens else (low, middle - 1)
        return " ".join(words[:low])


def _first_sentence(text: str, words: int) -> str:
    return " ".join(re.split(r"(?<=[.:])\s", text)[0].split()[:words])


def _tag(word: str) -> str:
    if word[:1].isupper():
        return "B-CAP"
    return "O" if word.isalpha() else "SYM"


def make_records(task: str, texts: Texts) -> list[dict]:
    by_module = {module: _functions(module) for module in MODULES}
    pool = [item for items in zip(*by_module.values()) for item in items]  # interleaved: every module is in
    pool += [item for items in by_module.values() for item in items if item not in pool]
    if task == "text-classification":  # which module a function is from
        return [{"text": texts.prefix(doc, 70), "label": module} for module in MODULES[:4]
                for _, doc in by_module[module][:ROWS // 4]]
    if task == "token-classification":  # tags from the spelling (capitalised, symbol, other)
        out = []
        for _, doc in pool[:ROWS]:
            words = doc.split()[:45]
            out.append({"tokens": words, "tags": [_tag(w) for w in words]})
        return out
    if task == "question-answering":  # the answer: the function's first sentence, after another function's
        out = []
        for number, (name, doc) in enumerate(pool[:ROWS]):
            lead = _first_sentence(pool[(number + 5) % ROWS][1], 8).rstrip(".:;,") + "."
            context = texts.prefix(f"{lead} {doc}", 45)
            answer = _first_sentence(doc, 10)
            start = len(lead) + 1
            assert context[start:start + len(answer)] == answer, (name, context, answer)
            out.append({"id": f"q{number}", "question": f"What does {name.split('.')[-1]} do?", "context": context,
                        "answers": {"text": [answer], "answer_start": [start]}})
        return out
    if task == "multiple-choice":  # which opening of a docstring is this function's
        openings = [texts.prefix(doc, 40) for _, doc in pool[:ROWS]]
        out = []
        for number, (name, _) in enumerate(pool[:ROWS]):
            label = number % 4
            others = [openings[(number + shift) % ROWS] for shift in (7, 13, 19)]
            out.append({"context": name, "choices": others[:label] + [openings[number]] + others[label:],
                        "label": label})
        return out
    return [{"text": texts.prefix(doc, 60)} for _, doc in pool[:ROWS]]  # fill-mask: one window each


# ------------------------------------------------------------------------------------------------------ the model
def hf_model(task: str, label_names: list[str] | None) -> torch.nn.Module:
    """HF's class for `task`, seeded, with every parameter shifted off its init (no bias at exactly 0, no
    LayerNorm at exactly 1: every term matters), and the data's labels so that no head is initialised on load."""
    extra = {}
    if label_names is not None:
        extra = dict(num_labels=len(label_names), id2label=dict(enumerate(label_names)),
                     label2id={name: i for i, name in enumerate(label_names)})
    elif task == "question-answering":
        extra = dict(num_labels=2)
    config = transformers.AlbertConfig(**HF_CONFIG, **extra, attn_implementation="eager")
    torch.manual_seed(0)
    model = getattr(transformers, ARCHITECTURES[FINETUNE_TASKS[task]])(config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return model


@dataclass
class Setup:
    folder: Path  # the HF model folder every run starts from
    train: Path  # the JSON-lines data


@dataclass
class Trained:
    """What one run gave: per-step losses and gradient norms (from log.jsonl) and the final weights (HF names)."""

    losses: np.ndarray
    grad_norms: np.ndarray
    weights: dict[str, np.ndarray]
    output_dir: Path | None = None
    largest_gradients: dict[str, np.ndarray] | None = None  # the reference's: per tensor, max|grad| of each step


class Cache:
    """Every run of the module, each made once when a test first needs it: the data and HF folder of each task,
    our runs, the HF reference runs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.texts = Texts()
        self.setups: dict[str, Setup] = {}
        self.runs: dict[tuple[str, str, str], Trained] = {}

    def setup(self, task: str) -> Setup:
        if task not in self.setups:
            folder = self.root / task
            folder.mkdir()
            records = make_records(task, self.texts)
            train = folder / "train.jsonl"
            train.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
            names = None
            if task == "text-classification":
                names = sorted({r["label"] for r in records})
            elif task == "token-classification":
                names = sorted({t for r in records for t in r["tags"]})
            model = hf_model(task, names)
            model.save_pretrained(folder / "model", safe_serialization=True)
            loaded = albert_core.load(folder / "model", task=FINETUNE_TASKS[task])
            assert loaded.load_info.initialized == [], "the HF folder lacks a head: we would start elsewhere"
            self.setups[task] = Setup(folder / "model", train)
            run = Run(self.options(task, "check"))  # the data is what the module's design needs
            lengths = {row["input_ids"].shape[-1] for row in run.train_features.rows}
            assert len(run.train_features) == ROWS and min(lengths) > 32 and max(lengths) <= 64, \
                (len(run.train_features), sorted(lengths))
            if names is not None:
                assert run.config.id2label == dict(enumerate(names))
        return self.setups[task]

    def options(self, task: str, name: str, **changes) -> TrainingOptions:
        s = self.setup(task)
        return TrainingOptions(task=task, model=str(s.folder), train=str(s.train), tokenizer=str(SPIECE_MODEL),
                               output_dir=str(self.root / task / name),
                               **{**OPTIONS, **TASK_OPTIONS.get(task, {}), **changes})

    def ours(self, task: str, backend: str, variant: str = "base") -> Trained:
        key = (task, backend, variant)
        if key not in self.runs:
            opts = self.options(task, f"{backend}-{variant}", backend=backend, **VARIANTS[variant])
            result = albert_core.finetune(opts)
            self.runs[key] = _trained(result.log, result.output_dir)
        return self.runs[key]

    def resumed(self, task: str, source: str, target: str) -> Trained:
        """`source`'s base run from the checkpoint it wrote at step RESUME_AT, continued on `target` in a copy of
        its output folder."""
        key = (task, target, f"resumed-from-{source}")
        if key not in self.runs:
            first = self.ours(task, source)
            copy = self.root / task / f"{source}-to-{target}"
            shutil.copytree(first.output_dir, copy)
            opts = self.options(task, copy.name, backend=target, resume=str(copy / f"checkpoint-{RESUME_AT}"))
            self.runs[key] = _trained(albert_core.finetune(opts).log, copy)
        return self.runs[key]

    def reference(self, task: str) -> Trained:
        key = (task, "hf", "base")
        if key not in self.runs:
            self.runs[key] = train_hf(self.options(task, "reference"))
        return self.runs[key]


def _trained(log: list[dict], output_dir: Path) -> Trained:
    steps = [r for r in log if "loss" in r]
    assert [r["step"] for r in steps] == list(range(1, STEPS + 1)), "logging_steps=1 logs every step"
    return Trained(np.array([r["loss"] for r in steps]), np.array([r["grad_norm"] for r in steps]),
                   load_file(str(Path(output_dir) / "model.safetensors")), Path(output_dir))


def train_hf(opts: TrainingOptions) -> Trained:
    """HF's class from the same folder, trained as HF Trainer trains it, on the core's batches: AdamW with weight
    decay on all but biases and LayerNorm weights, the linear schedule with warmup, the global norm clipped; a
    step's loss is the weighted sum of its micro-batches' mean losses, and its gradient that sum's."""
    run = Run(opts)  # the data, batches and schedule length exactly as `finetune` builds them
    model = getattr(transformers, ARCHITECTURES[run.task]).from_pretrained(opts.model, attn_implementation="eager")
    model.train()
    named = list(model.named_parameters())
    groups = [{"params": [p for n, p in named if decays(n)], "weight_decay": opts.weight_decay},
              {"params": [p for n, p in named if not decays(n)], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=opts.learning_rate, betas=(opts.adam_beta1, opts.adam_beta2),
                                  eps=opts.adam_epsilon)
    schedule = transformers.get_linear_schedule_with_warmup(optimizer, opts.warmup_steps, run.total_steps)
    losses, norms, largest = [], [], {n: [] for n, _ in named}
    for k in range(run.total_steps):
        micro, weights = run.batches.step(k)
        optimizer.zero_grad()
        loss = sum(w * model(**{n: torch.as_tensor(v) for n, v in batch.items()}).loss
                   for batch, w in zip(micro, weights))
        loss.backward()
        for n, p in named:
            largest[n].append(float(p.grad.abs().max()))
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), opts.max_grad_norm)))
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
    final = {n: v.detach().numpy().copy() for n, v in model.state_dict().items()}
    return Trained(np.array(losses), np.array(norms), final, None, {n: np.array(v) for n, v in largest.items()})


# ------------------------------------------------------------------------------------------------- comparisons
def loss_difference(got: np.ndarray, want: np.ndarray) -> float:
    """The worst per-step |got - want| / |want|."""
    assert got.shape == want.shape
    return float(np.max(np.abs(got - want) / np.abs(want)))


def weight_difference(task: str, got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> tuple[float, str, float]:
    """The worst over tensors of max|got - want| / max(max|want|, WEIGHT_FLOOR), the tensor it is at, and the
    largest |got - want| of the gradient-free tensors. Both hold the same tensors, except the tied copies HF's
    masked-LM state_dict also keeps under a second name."""
    tied = {"predictions.decoder.weight", "predictions.decoder.bias"}
    assert set(got) - tied == set(want) - tied, f"tensors differ: {sorted(set(got) ^ set(want))}"
    worst, where, free = 0.0, "", 0.0
    for name in sorted(set(got) & set(want)):
        a, b = np.asarray(got[name], np.float64), np.asarray(want[name], np.float64)
        assert a.shape == b.shape, f"{name}: {a.shape} vs {b.shape}"
        if gradient_free(task, name):
            free = max(free, float(np.abs(a - b).max()))
            continue
        ratio = float(np.abs(a - b).max()) / max(float(np.abs(b).max()), WEIGHT_FLOOR)
        if ratio >= worst:
            worst, where = ratio, name
    return worst, where, free


def check(label: str, task: str, got: Trained, want: Trained, tolerance: float = TOLERANCE,
          norms: bool = False) -> None:
    """Per-step losses and final weights of `got` within `tolerance` (relative) of `want` (and, if `norms`, the
    logged gradient norms within NORM_TOLERANCE); the margins are kept for the summary."""
    loss = loss_difference(got.losses, want.losses)
    weights, where, free = weight_difference(task, got.weights, want.weights)
    norm = loss_difference(got.grad_norms, want.grad_norms) if norms else None
    WORST[label] = {"loss": loss, "weights": weights, "at": where, "tolerance": tolerance, "free": free, "norm": norm}
    assert loss <= tolerance, f"{label}: per-step losses differ by {loss:.3g} relative\n{got.losses}\n{want.losses}"
    assert weights <= tolerance, f"{label}: final weights differ by {weights:.3g} relative at {where}"
    assert free <= 2 * LR_SUM, f"{label}: gradient-free tensors differ by {free:.3g}, more than Adam moves weights"
    assert norm is None or norm <= NORM_TOLERANCE, \
        f"{label}: gradient norms differ by {norm:.3g} relative\n{got.grad_norms}\n{want.grad_norms}"


class _Summary:
    """Prints the table of worst differences at the end of the session (registered by the `cache` fixture)."""

    @staticmethod
    def pytest_terminal_summary(terminalreporter) -> None:
        if not WORST:
            return
        terminalreporter.section("training parity: worst differences")
        terminalreporter.write_line("loss: max over steps of |d|/|loss|; weights: max over tensors of max|d| / "
                                    f"max(max|w|, {WEIGHT_FLOOR}) (at: that tensor), both against tol; free: max|d| "
                                    f"of the gradient-free tensors (bound {2 * LR_SUM:.0e}); norm: gradient norms, "
                                    f"relative (tol {NORM_TOLERANCE:.0e})")
        terminalreporter.write_line(f"{'comparison':64} {'loss':>7} {'weights':>7} {'tol':>5} {'free':>7} "
                                    f"{'norm':>7}  at")
        for label, d in WORST.items():
            at = d["at"].replace("albert.encoder.albert_layer_groups.0.albert_layers.0.", "").replace(
                "albert.embeddings.", "")
            norm = "" if d["norm"] is None else f"{d['norm']:7.1e}"
            terminalreporter.write_line(f"{label:64} {d['loss']:7.1e} {d['weights']:7.1e} {d['tolerance']:5.0e} "
                                        f"{d['free']:7.1e} {norm:>7}  {at}")


@pytest.fixture(scope="module")
def cache(tmp_path_factory, request):
    """The module's runs; JAX's persistent compilation cache on meanwhile, so that runs of one program (a resumed
    run and the run it resumes) compile it once."""
    transformers.logging.set_verbosity_error()
    plugins = request.config.pluginmanager
    if plugins.get_plugin("training-parity-summary") is None:
        plugins.register(_Summary(), "training-parity-summary")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: a second thread only adds contention (5x slower on 2 busy cores)
    settings = {"jax_compilation_cache_dir": str(tmp_path_factory.mktemp("jax-cache")), **JAX_CACHE}
    saved = {name: getattr(jax.config, name) for name in settings}
    for name, value in settings.items():
        jax.config.update(name, value)
    compilation_cache.reset_cache()  # read the settings again at the next compilation
    yield Cache(tmp_path_factory.mktemp("training"))
    for name, value in saved.items():
        jax.config.update(name, value)
    compilation_cache.reset_cache()
    torch.set_num_threads(threads)


# ------------------------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("task", TASKS)
def test_settings_bite(cache, task):
    """The reference run is not a trivial one: clipping acts in some steps and the weights move; and the tensors
    `gradient_free` names are those whose gradient is rounding noise."""
    ref, opts = cache.reference(task), cache.options(task, "reference")
    assert (ref.grad_norms > opts.max_grad_norm).any(), f"no step clipped: {ref.grad_norms}"
    start = load_file(str(cache.setup(task).folder / "model.safetensors"))
    moved = max(float(np.abs(ref.weights[n] - start[n]).max()) for n in start)
    assert moved > LR_SUM / 2, f"the weights barely moved ({moved:.2g}; Adam moves them by up to {LR_SUM:.2g})"
    largest = np.max(list(ref.largest_gradients.values()), axis=0)  # per step, over every tensor
    for name, values in ref.largest_gradients.items():
        noise = bool((values <= 1e-5 * largest).all())
        assert noise == gradient_free(task, name), f"{name}: max|grad| {values.max():.2g} (largest {largest.min():.2g})"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("task", TASKS)
def test_matches_hf(cache, task, backend):
    """Each backend's 20 steps against HF's class trained by hand on the same batches."""
    check(f"{task}: {backend} vs HF", task, cache.ours(task, backend), cache.reference(task), norms=True)


@pytest.mark.parametrize("task", TASKS)
def test_backends_agree(cache, task):
    """The three backends' 20 steps against each other."""
    for i, first in enumerate(BACKENDS):
        for second in BACKENDS[i + 1:]:
            check(f"{task}: {second} vs {first}", task, cache.ours(task, second), cache.ours(task, first))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("task", ACCUMULATION_TASKS)
def test_accumulation_equals_doubled_batch(cache, task, backend):
    """2 micro-batches of 4 per step (weighted by their loss items) against one batch of the same 8 rows."""
    steps = Run(cache.options(task, "check", **VARIANTS["accumulate"])).batches
    if task in PER_TOKEN_TASKS:
        assert any(steps.step(k)[1][0] != 0.5 for k in range(STEPS)), "equal micro-batch weights: not the case meant"
    check(f"{task}: {backend} accumulate 2x4 vs batch 8", task, cache.ours(task, backend, "accumulate"),
          cache.ours(task, backend, "batch8"))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("task", CHECKPOINTING_TASKS)
def test_gradient_checkpointing(cache, task, backend):
    """Recomputing each layer in the backward pass against keeping its activations."""
    check(f"{task}: {backend} gradient checkpointing vs none", task, cache.ours(task, backend, "checkpointing"),
          cache.ours(task, backend))


@pytest.mark.parametrize(("task", "source", "target"), RESUMES)
def test_resume_on_another_backend(cache, task, source, target):
    """Steps 1-10 on `source`, its checkpoint-10 resumed on `target` for steps 11-20: the 20 steps of the
    uninterrupted run on `source` within RESUME_TOLERANCE, and of the one on `target` within the cross-backend
    tolerance (their first 10 steps ran on different backends)."""
    resumed = cache.resumed(task, source, target)
    uninterrupted = cache.ours(task, source)
    np.testing.assert_array_equal(resumed.losses[:RESUME_AT], uninterrupted.losses[:RESUME_AT])  # the log kept
    check(f"{task}: {source} 1-10, {target} 11-20 vs {source}", task, resumed, uninterrupted, RESUME_TOLERANCE)
    check(f"{task}: {source} 1-10, {target} 11-20 vs {target}", task, resumed, cache.ours(task, target))
