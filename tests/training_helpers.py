"""Shared pieces of the trainer's core tests (test_training_trainer.py, test_training_loop.py): real-text data sets
(Python's own docstrings), small model folders, and fixtures that train on the `fake-train` backend."""

from __future__ import annotations

import contextlib
import inspect
import json
import shutil
import sys
import textwrap
import types
from collections import Counter
from pathlib import Path

import fake_training_backend as fake
import pytest

import albert_core
from albert_core import AlbertConfig
from albert_core.errors import DataError
from albert_core.tokenizer import AlbertTokenizer
from albert_core.training.trainer import TrainResult

SPIECE = Path(__file__).resolve().parents[1].parent / "shared/assets/albert-30k/spiece.model"
MODULES = (shutil, json, textwrap, Counter.__module__)  # their docstrings are the data: real English text


# ------------------------------------------------------------------------------------------------------- data
def summaries(module: types.ModuleType | str) -> list[tuple[str, str]]:
    """(name, first paragraph of its docstring) of a module's public functions and classes."""
    module = sys.modules[module] if isinstance(module, str) else module
    out = []
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)) or \
                getattr(obj, "__module__", None) != module.__name__:
            continue
        doc = " ".join((inspect.getdoc(obj) or "").split("\n\n")[0].split())
        if len(doc.split()) >= 4:
            out.append((name, doc[:300]))
    return out


def classification_rows(per_module: int = 4) -> list[dict]:
    rows = []
    for module in MODULES:
        label = module if isinstance(module, str) else module.__name__
        rows += [{"text": doc, "label": label} for _, doc in summaries(module)[:per_module]]
    return rows


def token_rows(count: int = 12) -> list[dict]:
    """Words of docstrings tagged CAP (capitalised) or O."""
    rows = []
    for _, doc in summaries(shutil)[:count]:
        words = doc.split()[:12]
        rows.append({"tokens": words, "tags": ["CAP" if w[:1].isupper() else "O" for w in words]})
    return rows


def qa_rows(count: int = 6) -> list[dict]:
    rows = []
    for name, doc in summaries(shutil)[:count]:
        answer = " ".join(doc.split()[:3])
        rows.append({"id": name, "question": f"What does {name} do?", "context": doc,
                     "answers": {"text": [answer], "answer_start": [doc.index(answer)]}})
    return rows


def choice_rows(count: int = 6) -> list[dict]:
    docs = summaries(shutil)[:count + 1]
    rows = []
    for i, ((name, doc), (_, other)) in enumerate(zip(docs, docs[1:])):
        choices = [doc, other] if i % 2 == 0 else [other, doc]
        rows.append({"context": f"shutil.{name}:", "choices": choices, "label": i % 2})
    return rows


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    """A file of `content` (text as UTF-8) in `tmp_path`."""
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def raises(match: str, error: type = DataError):
    return pytest.raises(error, match=match)


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes: to show that nothing was touched."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def vocab() -> Path:
    if not SPIECE.is_file():
        pytest.skip(f"the official vocabulary is not at {SPIECE}")
    return SPIECE


@pytest.fixture(scope="module")
def tok(vocab) -> AlbertTokenizer:
    return AlbertTokenizer(str(vocab))


@pytest.fixture
def fake_backend():
    """`fake-train` registered and reset (the test modules use it for every test)."""
    fake.install()
    fake.reset()
    yield fake
    fake.reset()


@pytest.fixture
def train_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "train.jsonl", classification_rows())


@pytest.fixture
def run(tmp_path, vocab, train_file):
    """finetune() on the fake backend with small defaults; keyword arguments override them."""

    def go(**changes) -> TrainResult:
        options = dict(task="text-classification", model="random:tiny", tokenizer=str(vocab), train=train_file,
                       output_dir=tmp_path / "out", backend=fake.NAME, max_steps=3, per_device_train_batch_size=4,
                       logging_steps=1, save_steps=None, seed=3, progress=False, plot=False)
        options.update(changes)
        return albert_core.finetune(**options)

    return go


def model_folder(folder: Path, **config) -> Path:
    """A model folder of a small config (vocabulary 30000 unless said) with random weights."""
    cfg = AlbertConfig(**{**dict(vocab_size=30000, embedding_size=8, hidden_size=16, num_hidden_layers=1,
                                 num_attention_heads=2, intermediate_size=16, max_position_embeddings=512), **config})
    task = "sequence-classification" if "id2label" in config else "base"
    folder.mkdir(parents=True)
    cfg.to_json_file(folder / "config.json")
    albert_core.checkpoints.save_safetensors(albert_core.init_params(cfg, task, 0), folder / "model.safetensors")
    return folder


@contextlib.contextmanager
def refused(error: type, *needles: str):
    """pytest.raises(error) whose message holds every needle, raised before any backend step ran."""
    steps = len(fake.CALLS["step"])
    with pytest.raises(error) as info:
        yield info
    message = str(info.value)
    for needle in needles:
        assert needle in message, f"{needle!r} not in: {message}"
    assert len(fake.CALLS["step"]) == steps, "a step ran before the error"


