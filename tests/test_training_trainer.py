"""The fine-tuning trainer (`albert_core.finetune`, `albert finetune`) in the core alone: no framework is installed
here, so every run trains on `fake-train` (tests/fake_training_backend.py: the NumPy model with a deterministic
fake optimizer step). Bad input of every kind is refused before any step with a message that says what to fix;
batches, the schedule, the log, label names and the CLI are checked against what HF Trainer does."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import math
import shutil
import sys
import textwrap
import types
from collections import Counter
from pathlib import Path

import fake_training_backend as fake
import numpy as np
import pytest

import albert_core
from albert_core import AlbertConfig
from albert_core.bucketing import DEFAULT_BUCKET_MULTIPLE
from albert_core.checkpoints.safetensors_file import SafetensorsFile
from albert_core.cli.main import build_parser, main
from albert_core.errors import ConfigError, DataError, TrainingError
from albert_core.ops import IGNORE_INDEX
from albert_core.tokenizer import AlbertTokenizer
from albert_core.training.batches import Batches, Masking
from albert_core.training.checkpoint import checkpoint_folders, read_state
from albert_core.training.features import (
    encode_masked_lm,
    encode_text_classification,
    encode_token_classification,
)
from albert_core.training.options import TrainingOptions
from albert_core.training.runlog import LOG_NAME, PLOT_NAME
from albert_core.training.schedule import LinearSchedule, warmup_steps_for
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


@pytest.fixture(autouse=True)
def fake_backend():
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


# --------------------------------------------------------------------------------------- bad input, before any step
def test_missing_field_names_file_line_and_field(run, tmp_path):
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"text": "Copy data.", "label": "a"}, {"txt": "Copy.", "label": "b"}])
    with refused(DataError, f"{bad} line 2: field 'text' is missing", "['label', 'txt']", "rename or add the field"):
        run(train=bad)
    assert fake.CALLS["train_step"] == [] and not (tmp_path / "out").exists()


def test_eval_label_unknown_to_the_training_labels(run, tmp_path):
    ev = write_jsonl(tmp_path / "eval.jsonl", [{"text": "Copy a file.", "label": "shutil"},
                                               {"text": "Wrap text.", "label": "pathlib"}])
    with refused(DataError, f"{ev} line 2: unknown label 'pathlib'", "the labels are ['collections', 'json', "):
        run(eval=ev)


def test_label_id_out_of_range_of_the_models_label_names(run, tmp_path):
    folder = model_folder(tmp_path / "named", id2label={0: "negative", 1: "positive"},
                          label2id={"negative": 0, "positive": 1}, num_labels=2)
    data = write_jsonl(tmp_path / "ids.jsonl", [{"text": "Fine.", "label": 1}, {"text": "Odd.", "label": 2}])
    with refused(DataError, f"{data} line 2: label id 2 is outside [0, 2)", "['negative', 'positive']"):
        run(model=str(folder), train=data)
    tags = write_jsonl(tmp_path / "tags.jsonl", [{"tokens": ["Copy", "it"], "tags": [0, 7]}])
    with refused(DataError, f"{tags} line 1: tag id 7 is outside [0, 2)"):
        run(model=str(folder), train=tags, task="token-classification")


@pytest.mark.parametrize("content", ["", "\n\n  \n"], ids=["empty", "blank-lines"])
def test_empty_file(run, tmp_path, content):
    empty = tmp_path / "empty.jsonl"
    empty.write_text(content)
    with refused(DataError, f"{empty} holds no records", "at least one example"):
        run(train=empty)


def test_malformed_line_names_its_number(run, tmp_path):
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"text": "One.", "label": "a"}, {"text": "Two.", "label": "b"},
                                               '{"text": "cut short", "label": ', {"text": "Four.", "label": "a"}])
    with refused(DataError, f"{bad} line 3: Expecting value", "each line must be one JSON object"):
        run(train=bad)


def test_answer_not_in_its_context(run, tmp_path):
    rows = qa_rows(3)
    rows[1]["answers"] = {"text": ["a banana"], "answer_start": [4]}
    bad = write_jsonl(tmp_path / "qa.jsonl", rows)
    with refused(DataError, f"{bad} line 2: field 'answers' has answer 'a banana', which is not in its context at "
                 "answer_start=4", "fix answer_start"):
        run(task="question-answering", train=bad, doc_stride=32)


def test_tags_that_evaluation_cannot_score(run, tmp_path):
    rows = [{"tokens": ["(", "see", "copy", ")"], "tags": ["-LRB-", "O", "B-FN", "-RRB-"]}] * 4
    tags = write_jsonl(tmp_path / "ptb.jsonl", rows)
    with refused(ConfigError, "--eval scores token-classification as entities, but the tag '-LRB-' is not a tag of a "
                 "supported scheme", "rename the tags, or train without --eval"):
        run(task="token-classification", train=tags, eval=tags)
    run(task="token-classification", train=tags, max_steps=1)  # without evaluation they train


@pytest.mark.parametrize(("task", "row", "field"), [
    ("text-classification", {"text": "Copy data."}, "label"),
    ("token-classification", {"tokens": ["Copy", "data"]}, "tags"),
    ("question-answering", {"question": "What?", "context": "Copy data from one file to another."}, "answers"),
    ("multiple-choice", {"context": "Copy", "choices": ["data.", "nothing."]}, "label"),
])
def test_training_data_without_labels(run, tmp_path, task, row, field):
    data = write_jsonl(tmp_path / "unlabelled.jsonl", [row] * 3)
    with refused(DataError, f"--train {str(data)!r} has no labels: no record has a {field!r} field",
                 "only --eval data may leave it out"):
        run(task=task, train=data, doc_stride=16)


def test_tokenizer_larger_than_the_models_vocabulary(run, tmp_path, vocab):
    folder = model_folder(tmp_path / "small-vocab", vocab_size=1000)
    with refused(ConfigError, f"the tokenizer {str(vocab)!r} has 30000 pieces but the model's vocabulary has 1000",
                 "pass the model's own spiece.model"):
        run(model=str(folder))


def test_max_seq_length_beyond_the_models_positions(run, tmp_path):
    folder = model_folder(tmp_path / "short", max_position_embeddings=64)
    with refused(ConfigError, "--max-seq-length 128 is longer than the model's max_position_embeddings (64)"):
        run(model=str(folder))
    run(model=str(folder), max_seq_length=64, max_steps=1)  # what the message says works


def test_random_model_without_tokenizer(run):
    with refused(ConfigError, "a random model has no spiece.model; pass --tokenizer"):
        run(tokenizer=None)


def test_backend_that_cannot_train(run):
    with refused(ConfigError, "--backend 'numpy' cannot fine-tune", "--backend torch, jax or tensorflow"):
        run(backend="numpy")


def test_warmup_longer_than_the_run(run):
    with refused(ConfigError, "--warmup-steps 9 is more than the run's 3 optimizer steps"):
        run(warmup_steps=9)


def test_existing_run_is_never_overwritten(run, tmp_path):
    run()
    before = snapshot(tmp_path / "out")
    with refused(ConfigError, f"--output {str(tmp_path / 'out')!r} already holds a run (log.jsonl)", "--resume",
                 "nothing was overwritten"):
        run(seed=4)
    assert snapshot(tmp_path / "out") == before


def test_output_folder_holding_a_model_is_never_overwritten(run, tmp_path):
    folder = model_folder(tmp_path / "model")
    before = snapshot(folder)
    with refused(ConfigError, f"--output {str(folder)!r} already exists and is not empty (config.json, "
                 "model.safetensors)", "nothing was overwritten"):
        run(model=str(folder), output_dir=folder)
    assert snapshot(folder) == before
    (tmp_path / "empty").mkdir()
    run(output_dir=tmp_path / "empty", max_steps=1)  # an empty folder is fine


@pytest.mark.parametrize(("change", "needles"), [
    ("labels", ["the training data (its digest): checkpoint '"]),
    ("rows", ["the training data (its digest)"]),
    ("seed", ["seed: checkpoint 3, now 4"]),
    ("learning_rate", ["learning_rate: checkpoint 5e-05, now 0.001"]),
    ("batch", ["per_device_train_batch_size: checkpoint 4, now 2", "total_steps: checkpoint 1, now 6"]),
])
def test_resume_with_other_data_or_options(run, tmp_path, train_file, change, needles):
    run(max_steps=-1, num_train_epochs=0.2, save_steps=1)  # 16 rows, 4 a step: 1 step (ceil of 0.8)
    run_dir = tmp_path / "out"
    before = snapshot(run_dir)
    rows = classification_rows()
    changes = {"max_steps": -1, "num_train_epochs": 0.2, "resume": True}
    if change == "labels":
        rows[0]["label"] = "textwrap" if rows[0]["label"] != "textwrap" else "json"
        changes["train"] = write_jsonl(tmp_path / "relabelled.jsonl", rows)
    elif change == "rows":
        changes["train"] = write_jsonl(tmp_path / "more.jsonl", rows + rows[:1])
    elif change == "seed":
        changes["seed"] = 4
    elif change == "learning_rate":
        changes["learning_rate"] = 1e-3
    else:
        changes.update(per_device_train_batch_size=2, num_train_epochs=0.7)
    with refused(TrainingError, f"--resume {str(run_dir / 'checkpoint-1')!r}: this run differs", *needles,
                 "resume with the same data and options"):
        run(**changes)
    assert snapshot(run_dir) == before


def test_resume_without_a_checkpoint(run, tmp_path):
    (tmp_path / "fresh").mkdir()
    for folder in (tmp_path / "fresh", tmp_path / "missing"):
        with refused(TrainingError, f"--resume: {str(folder)!r} holds no complete checkpoint",
                     "start without --resume"):
            run(output_dir=folder, resume=True)
    partial = tmp_path / "crashed" / ".checkpoint-2.partial-abc"  # a write a crash cut short is no checkpoint
    partial.mkdir(parents=True)
    (partial / "model.safetensors").write_bytes(b"half")
    with refused(TrainingError, "holds no complete checkpoint"):
        run(output_dir=tmp_path / "crashed", resume=True)
    with refused(TrainingError, "holds no complete checkpoint"):  # --resume PATH naming a plain model folder
        run(output_dir=tmp_path / "new", resume=str(model_folder(tmp_path / "plain")))


def test_non_finite_loss_stops_with_the_step_and_keeps_the_last_checkpoint(run, tmp_path):
    fake.SETTINGS["nan_at"] = 3
    out = tmp_path / "out"
    with pytest.raises(TrainingError) as info:
        run(max_steps=5, save_steps=2)
    message = str(info.value)
    assert "the loss became nan" in message and "at step 3" in message
    assert f"The last good checkpoint is {out / 'checkpoint-2'}" in message and "--learning-rate" in message
    assert len(fake.CALLS["step"]) == 3
    assert [p.name for p in checkpoint_folders(out)] == ["checkpoint-2"]
    last = out / "checkpoint-2"
    assert read_state(last)["step"] == 2 and read_state(last)["optimizer_steps"] == 2
    model = albert_core.load(last, task="sequence-classification")
    assert model.config.num_labels == 4
    assert sorted(SafetensorsFile(last / "optimizer.safetensors").keys())[0].startswith("exp_avg.")
    assert not (out / "model.safetensors").exists()  # no final model from a run that failed
    fake.SETTINGS["nan_at"] = None
    assert run(max_steps=5, save_steps=2, resume=True).global_step == 5  # and it resumes


# ------------------------------------------------------------------------------------------------------ batches
def features_for(tok, count: int = 10):
    return encode_text_classification(classification_rows()[:count], tok, max_seq_length=64)


def test_order_is_seeded_per_epoch_and_file_order_without_shuffle(tok):
    features = features_for(tok, 12)
    a, b = (Batches(features, batch_size=4, accumulation=1, seed=5, shuffle=True, max_length=64) for _ in range(2))
    assert a.order(0).tolist() == b.order(0).tolist() == a.order(0).tolist()
    assert sorted(a.order(0).tolist()) == list(range(12))
    assert a.order(0).tolist() != a.order(1).tolist()  # every epoch its own order
    other = Batches(features, batch_size=4, accumulation=1, seed=6, shuffle=True, max_length=64)
    assert other.order(0).tolist() != a.order(0).tolist()
    plain = Batches(features, batch_size=4, accumulation=1, seed=5, shuffle=False, max_length=64)
    assert plain.order(0).tolist() == plain.order(3).tolist() == list(range(12))
    first, _ = plain.step(0)
    assert first[0]["input_ids"][:, :features.rows[0]["input_ids"].size].tolist()[0] == \
        features.rows[0]["input_ids"].tolist()


def test_a_step_is_a_pure_function_of_its_number(tok):
    features = features_for(tok, 10)

    def make():
        return Batches(features, batch_size=3, accumulation=2, seed=1, shuffle=True, max_length=64)

    walked = make()
    seen = [fake.digest(walked.step(k)[0]) for k in range(6)]
    assert [fake.digest(make().step(k)[0]) for k in reversed(range(6))] == seen[::-1]  # any order, fresh object
    assert len(set(seen[:2])) == 2 and seen[0] != seen[2]  # steps differ; the next epoch is reshuffled
    # 10 rows, 3 a micro-batch: 4 micro-batches an epoch, 2 a step: 2 steps; the last step's are what is left
    assert walked.steps_per_epoch == 2 and [len(walked.step(k)[0]) for k in range(2)] == [2, 2]
    rows = [b["input_ids"].shape[0] for b in walked.step(1)[0]]
    assert rows == [3, 1]
    weights = walked.step(1)[1]
    assert weights == [0.75, 0.25] and math.isclose(sum(weights), 1.0)


def test_accumulation_weights_count_labelled_tokens(tok):
    features = encode_token_classification(token_rows(9), tok, max_seq_length=64)
    batches = Batches(features, batch_size=2, accumulation=3, seed=0, shuffle=True, max_length=64)
    for k in range(batches.steps_per_epoch * 2):
        micro, weights = batches.step(k)
        counts = [int(np.count_nonzero(b["labels"] != IGNORE_INDEX)) for b in micro]
        assert math.isclose(sum(weights), 1.0)
        assert np.allclose(weights, np.asarray(counts) / sum(counts))
    assert len({len(b["input_ids"]) for b in batches.step(0)[0]}) == 1


def test_batches_are_padded_to_the_bucket(tok):
    long_text = " ".join(doc for _, doc in summaries(shutil))
    rows = [{"text": "Copy data.", "label": "a"}, {"text": long_text, "label": "b"}]
    features = encode_text_classification(rows, tok, max_seq_length=48)
    batches = Batches(features, batch_size=1, accumulation=1, seed=0, shuffle=False, max_length=48)
    short, _ = batches.step(0)
    longest, _ = batches.step(1)
    assert short[0]["input_ids"].shape == (1, DEFAULT_BUCKET_MULTIPLE)  # 5 tokens -> 32
    assert longest[0]["input_ids"].shape == (1, 48)  # past 32, capped at max_length (not 64)
    n = features.rows[0]["input_ids"].size
    assert short[0]["input_ids"][0, n:].tolist() == [tok.pad_token_id] * (32 - n)
    assert short[0]["attention_mask"][0].tolist() == [1] * n + [0] * (32 - n)
    tagged = encode_token_classification(token_rows(3), tok, max_seq_length=64)
    micro, _ = Batches(tagged, batch_size=3, accumulation=1, seed=0, shuffle=False, max_length=64).step(0)
    assert micro[0]["labels"].shape[1] % 32 == 0
    for i, row in enumerate(tagged.rows):
        assert (micro[0]["labels"][i, row["labels"].size:] == IGNORE_INDEX).all()


def test_mlm_masks_are_reproducible_and_new_every_step(tok):
    texts = [{"text": doc} for _, doc in summaries(shutil)[:6]]
    features = encode_masked_lm(texts, tok, max_seq_length=64)
    masking = Masking(tok.vocab_size, tok.mask_token_id, 0.3)

    def make():
        return Batches(features, batch_size=6, accumulation=1, seed=2, shuffle=False, max_length=64, masking=masking)

    one, two = make(), make()
    assert one.steps_per_epoch == 1  # every step the same rows, in the same order...
    steps = [one.step(k)[0][0] for k in range(3)]
    assert all(fake.digest([s]) == fake.digest(two.step(k)[0]) for k, s in enumerate(steps))  # reproducible
    assert len({fake.digest([s]) for s in steps}) == 3  # ...masked afresh
    for batch in steps:
        labelled = batch["labels"] != IGNORE_INDEX
        assert labelled.any() and "special_tokens_mask" not in batch
        assert not labelled[:, 0].any()  # never [CLS]
        assert not labelled[batch["attention_mask"] == 0].any()  # never padding
        original = np.zeros_like(batch["input_ids"])
        for i, row in enumerate(features.rows):
            original[i, :row["input_ids"].size] = row["input_ids"]
        assert (batch["labels"][labelled] == original[labelled]).all()
    evals = [make().evaluation(4) for _ in range(2)]
    assert [fake.digest([b]) for b in evals[0]] == [fake.digest([b]) for b in evals[1]]  # one fixed eval stream


# ---------------------------------------------------------------------------------------------- schedule, options
def hf_linear(step: int, warmup: int, total: int) -> float:
    """transformers.get_linear_schedule_with_warmup's lr_lambda, as HF writes it."""
    if step < warmup:
        return float(step) / float(max(1, warmup))
    return max(0.0, float(total - step) / float(max(1, total - warmup)))


def test_linear_schedule_matches_hf():
    schedule = LinearSchedule(1e-3, 3, 10)
    by_hand = [0.0, 1e-3 / 3, 2e-3 / 3, 1e-3, 6e-3 / 7, 5e-3 / 7, 4e-3 / 7, 3e-3 / 7, 2e-3 / 7, 1e-3 / 7, 0.0, 0.0]
    assert np.allclose([schedule.learning_rate(t) for t in range(12)], by_hand, rtol=1e-12, atol=0)
    for warmup, total in [(0, 1), (0, 7), (1, 1), (4, 4), (5, 13)]:
        schedule = LinearSchedule(2e-5, warmup, total)
        assert [schedule.factor(t) for t in range(total + 2)] == [hf_linear(t, warmup, total)
                                                                  for t in range(total + 2)]


def test_warmup_ratio_rounds_up_as_hf():
    assert warmup_steps_for(10, 0, 0.25) == 3  # ceil(2.5)
    assert warmup_steps_for(10, 0, 0.1) == 1 and warmup_steps_for(7, 0, 0.0) == 0
    assert warmup_steps_for(10, 0, 1.0) == 10
    assert warmup_steps_for(10, 4, 0.5) == 4  # warmup_steps wins when set


def test_run_schedule_and_step_count(run, fake_backend):
    result = run(max_steps=-1, num_train_epochs=1.5, warmup_ratio=0.25, per_device_train_batch_size=3)
    # 16 rows / 3 -> 6 steps an epoch, 1.5 epochs -> 9 steps, warmup ceil(2.25) = 3
    assert result.global_step == 9
    options = fake.CALLS["train_step"][0]
    assert (options.schedule.total_steps, options.schedule.warmup_steps) == (9, 3)
    lrs = [r["learning_rate"] for r in result.log if "loss" in r]
    assert lrs == [LinearSchedule(5e-5, 3, 9).learning_rate(t) for t in range(9)]


@pytest.mark.parametrize(("field", "value", "needle"), [
    ("learning_rate", 0.0, "--learning-rate must be a finite number > 0"),
    ("learning_rate", float("nan"), "--learning-rate must be a finite number"),
    ("num_train_epochs", -1.0, "--num-train-epochs must be a finite number >= 0"),
    ("max_steps", 0, "pass --max-steps >= 1 or --num-train-epochs > 0"),
    ("max_steps", -2, "--max-steps must be an integer >= -1"),
    ("per_device_train_batch_size", 0, "--per-device-train-batch-size must be an integer >= 1, got 0"),
    ("per_device_eval_batch_size", 2.5, "--per-device-eval-batch-size must be an integer"),
    ("gradient_accumulation_steps", True, "--gradient-accumulation-steps must be an integer >= 1, got True"),
    ("warmup_steps", -1, "--warmup-steps must be an integer >= 0"),
    ("warmup_ratio", 1.5, "--warmup-ratio must be a finite number in [0.0, 1.0], got 1.5"),
    ("weight_decay", -0.1, "--weight-decay"),
    ("adam_beta1", 1.0, "--adam-beta1 must be a finite number in [0.0, 1.0)"),
    ("adam_beta2", -0.5, "--adam-beta2"),
    ("adam_epsilon", -1e-8, "--adam-epsilon"),
    ("max_grad_norm", -1.0, "--max-grad-norm"),
    ("max_seq_length", 4, "--max-seq-length must be an integer in [8, 512], got 4"),
    ("max_seq_length", 1024, "--max-seq-length must be an integer in [8, 512]"),
    ("doc_stride", 0, "--doc-stride"),
    ("max_answer_length", 0, "--max-answer-length"),
    ("mlm_probability", 0.0, "--mlm-probability must be a finite number in (0.0, 1.0]"),
    ("dropout", 1.0, "--dropout"),
    ("seed", -1, "--seed"),
    ("logging_steps", 0, "--logging-steps"),
    ("eval_steps", 0, "--eval-steps"),
    ("save_steps", 0, "--save-steps"),
    ("save_total_limit", 0, "--save-total-limit"),
    ("task", "summarization", "--task 'summarization' cannot be fine-tuned; use one of"),
    ("output_dir", "", "--output must be a folder path"),
    ("early_stopping_patience", 2, "--early-stopping-patience needs evaluation data: pass --eval FILE"),
    ("metric_for_best_model", "f1", "--metric-for-best-model needs evaluation data"),
])
def test_bad_option_names_its_flag(field, value, needle):
    base = dict(task="text-classification", model="random:tiny", train="t.jsonl", output_dir="out")
    with pytest.raises(ConfigError) as info:
        TrainingOptions(**{**base, field: value})
    assert needle in str(info.value), str(info.value)
    assert repr(value) in str(info.value) or field in ("max_steps", "early_stopping_patience",
                                                       "metric_for_best_model", "output_dir", "task")


def test_options_defaults_are_hf_trainers():
    o = TrainingOptions(task="fill-mask", model="m", train="t.txt", output_dir="o")
    assert (o.learning_rate, o.num_train_epochs, o.max_steps, o.per_device_train_batch_size, o.warmup_steps,
            o.weight_decay, o.adam_beta1, o.adam_beta2, o.adam_epsilon, o.max_grad_norm, o.seed, o.logging_steps,
            o.save_steps, o.mlm_probability) == (5e-5, 3.0, -1, 8, 0, 0.0, 0.9, 0.999, 1e-8, 1.0, 42, 50, 500, 0.15)
    assert o.model_task == "masked-lm" and o.replace(task="text-classification").model_task == "sequence-classification"


# --------------------------------------------------------------------------------------------------- log.jsonl
TRAIN_KEYS = {"step", "epoch", "loss", "learning_rate", "grad_norm"}


def test_log_records_every_step_and_each_evaluation(run, tmp_path):
    ev = write_jsonl(tmp_path / "eval.jsonl", classification_rows(2))
    result = run(eval=ev, max_steps=4, eval_steps=2)
    records = [json.loads(line) for line in (tmp_path / "out" / LOG_NAME).read_text().splitlines()]
    assert records == result.log
    train = [r for r in records if "loss" in r]
    assert [r["step"] for r in train] == [1, 2, 3, 4] and all(set(r) == TRAIN_KEYS for r in train)
    assert [r["epoch"] for r in train] == [0.25, 0.5, 0.75, 1.0]  # 16 rows, 4 a step
    assert all(math.isfinite(r["loss"]) and r["grad_norm"] > 0 for r in train)
    evals = [r for r in records if "loss" not in r]
    assert [r["step"] for r in evals] == [2, 4]
    assert all(set(r) == {"step", "epoch", "eval_loss", "eval_accuracy", "eval_f1"} for r in evals)
    assert result.metrics == {k[5:]: v for k, v in evals[-1].items() if k.startswith("eval_")}
    # logging_steps=3 of 4 steps: the mean loss of steps 1-3, then the last step alone
    fake.reset()
    averaged = run(output_dir=tmp_path / "every3", max_steps=4, logging_steps=3)
    assert [r["step"] for r in averaged.log] == [3, 4]
    assert averaged.log[0]["loss"] == pytest.approx(np.mean([r["loss"] for r in train[:3]]), rel=1e-6)


def test_resume_drops_records_after_the_checkpoint_and_cut_lines(run, tmp_path):
    out = tmp_path / "out"
    full = run(max_steps=6, save_steps=2)
    original = (out / LOG_NAME).read_text()
    final = SafetensorsFile(out / "model.safetensors")
    weights = {k: np.array(final[k]) for k in final.keys()}
    with open(out / LOG_NAME, "a") as log:
        log.write('{"step": 7, "loss": 0.5, "learn')  # what a crash mid-write leaves
    digests = [c["digest"] for c in fake.CALLS["step"]]
    fake.reset()
    resumed = run(max_steps=6, save_steps=2, resume=str(out / "checkpoint-2"))
    assert [c["t"] for c in fake.CALLS["step"]] == [2, 3, 4, 5]
    assert [c["digest"] for c in fake.CALLS["step"]] == digests[2:]  # the batches the first run saw
    assert (out / LOG_NAME).read_text() == original  # steps 3-6 dropped, then logged again; the cut line gone
    assert resumed.log == full.log and resumed.global_step == 6
    again = SafetensorsFile(out / "model.safetensors")
    assert all(np.array_equal(weights[k], again[k]) for k in weights)  # bit for bit the same run


def test_plot_is_skipped_without_matplotlib(run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` raises ImportError
    result = run(plot=True)
    assert result.global_step == 3 and not (tmp_path / "out" / PLOT_NAME).exists()
    assert (tmp_path / "out" / "model.safetensors").is_file()


def test_plot_is_written_with_matplotlib(run, tmp_path, monkeypatch):
    drawn = []

    class Axes:
        def plot(self, *args, **kwargs):
            drawn.append((kwargs.get("label"), list(args[0]), list(args[1])))

        def set(self, **kwargs):
            pass

        def legend(self):
            pass

    class Figure:
        def tight_layout(self):
            pass

        def savefig(self, path, format):
            assert format == "png"
            Path(path).write_bytes(b"\x89PNG\r\n\x1a\nstub")

    pyplot = types.ModuleType("matplotlib.pyplot")
    pyplot.subplots = lambda rows, cols, figsize, squeeze: (Figure(), [[Axes() for _ in range(cols)]])
    pyplot.close = lambda fig: None
    stub = types.ModuleType("matplotlib")
    stub.use = lambda backend: None
    stub.pyplot = pyplot
    monkeypatch.setitem(sys.modules, "matplotlib", stub)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", pyplot)
    ev = write_jsonl(tmp_path / "eval.jsonl", classification_rows(2))
    run(eval=ev, eval_steps=1, plot=True)
    assert (tmp_path / "out" / PLOT_NAME).read_bytes().startswith(b"\x89PNG")
    labels = {label: steps for label, steps, _ in drawn}
    assert labels["train loss"] == [1, 2, 3] and labels["eval_accuracy"] == [1, 2, 3]
    assert not list((tmp_path / "out").glob(".*partial"))
    fake.reset()
    run(output_dir=tmp_path / "no-plot", plot=False)  # --no-plot
    assert not (tmp_path / "no-plot" / PLOT_NAME).exists()


def test_plot_with_real_matplotlib(run, tmp_path):
    pytest.importorskip("matplotlib")
    run(plot=True)
    assert (tmp_path / "out" / PLOT_NAME).read_bytes().startswith(b"\x89PNG")


# ------------------------------------------------------------------------------------------------- label names
def test_label_names_reach_config_json_and_classify(run, tmp_path, capsys):
    out = tmp_path / "out"
    run(max_steps=2, save_steps=1)
    names = ["collections", "json", "shutil", "textwrap"]
    for folder in (out, out / "checkpoint-1", out / "checkpoint-2"):
        config = json.loads((folder / "config.json").read_text())
        assert config["id2label"] == {str(i): n for i, n in enumerate(names)}
        assert config["label2id"] == {n: i for i, n in enumerate(names)}
        assert config["architectures"] == ["AlbertForSequenceClassification"]
        assert config["problem_type"] == "single_label_classification"
        assert (folder / "spiece.model").is_file()
    assert read_state(out / "checkpoint-2")["label_names"] == names
    capsys.readouterr()
    assert main(["classify", "--model", str(out), "--top-k", "all", "--json", "Copy a file."]) == 0
    result = json.loads(capsys.readouterr().out)["result"]
    assert sorted(r["label"] for r in result) == names


def test_token_labels_and_regression_in_config(run, tmp_path):
    tags = write_jsonl(tmp_path / "tags.jsonl", token_rows(8))
    run(task="token-classification", train=tags, output_dir=tmp_path / "ner", max_steps=1)
    config = json.loads((tmp_path / "ner" / "config.json").read_text())
    assert config["id2label"] == {"0": "CAP", "1": "O"} and config["architectures"] == ["AlbertForTokenClassification"]
    scores = write_jsonl(tmp_path / "sts.jsonl", [{"text": doc, "label": i / 4} for i, (_, doc) in
                                                   enumerate(summaries(shutil)[:8])])
    run(train=scores, output_dir=tmp_path / "sts", max_steps=1)
    config = json.loads((tmp_path / "sts" / "config.json").read_text())
    assert config["problem_type"] == "regression" and len(config["id2label"]) == 1


@pytest.mark.parametrize("task", ["question-answering", "multiple-choice", "fill-mask"])
def test_every_task_trains(run, tmp_path, task):
    if task == "question-answering":
        data, extra = write_jsonl(tmp_path / "qa.jsonl", qa_rows()), {"doc_stride": 32, "max_seq_length": 96}
    elif task == "multiple-choice":
        data, extra = write_jsonl(tmp_path / "mc.jsonl", choice_rows()), {}
    else:
        data, extra = tmp_path / "docs.txt", {"mlm_probability": 0.3}
        data.write_text("\n".join(doc for _, doc in summaries(shutil)[:8]))
    result = run(task=task, train=data, eval=data, max_steps=2, per_device_train_batch_size=2,
                 gradient_accumulation_steps=2, **extra)
    assert result.global_step == 2 and all(math.isfinite(v) for v in result.metrics.values())
    expected = {"question-answering": {"exact_match", "f1"}, "multiple-choice": {"accuracy"},
                "fill-mask": {"loss", "perplexity"}}[task]
    assert expected <= set(result.metrics)
    assert fake.CALLS["step"][0]["count"] == 2  # accumulated: two micro-batches a step (an epoch's last may have one)
    assert all(math.isclose(sum(c["weights"]), 1.0) for c in fake.CALLS["step"])
    albert_core.load(tmp_path / "out", task=albert_core.TrainingOptions(task=task, model="m", train="t",
                                                                         output_dir="o").model_task)


def test_rotation_keeps_the_best_and_the_latest(tmp_path):
    from albert_core.training.checkpoint import STATE_NAME, rotate

    for step in (1, 2, 3, 4):
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / STATE_NAME).write_text("{}")
    rotate(tmp_path, 1, tmp_path / "checkpoint-2")
    assert [p.name for p in checkpoint_folders(tmp_path)] == ["checkpoint-2", "checkpoint-4"]
    (tmp_path / "checkpoint-5").mkdir()
    (tmp_path / "checkpoint-5" / STATE_NAME).write_text("{}")
    rotate(tmp_path, 2, None)
    assert [p.name for p in checkpoint_folders(tmp_path)] == ["checkpoint-4", "checkpoint-5"]
    rotate(tmp_path, None, None)
    assert len(checkpoint_folders(tmp_path)) == 2


def test_best_checkpoint_and_early_stopping(run, tmp_path):
    ev = write_jsonl(tmp_path / "eval.jsonl", classification_rows(2))  # one eval batch: one scripted loss each
    fake.SETTINGS["eval_losses"] = [0.9, 0.5, 0.7, 0.6, 0.4, 0.3]
    result = run(eval=ev, max_steps=6, eval_steps=1, save_steps=1, save_total_limit=1,
                 metric_for_best_model="loss", early_stopping_patience=2)
    out = tmp_path / "out"
    assert result.global_step == 4  # steps 3 and 4 did not beat step 2: patience 2 ran out
    assert [r["eval_loss"] for r in result.log if "eval_loss" in r] == pytest.approx([0.9, 0.5, 0.7, 0.6])
    assert result.best_checkpoint == out / "checkpoint-2"
    assert [p.name for p in checkpoint_folders(out)] == ["checkpoint-2", "checkpoint-4"]  # best and latest kept
    state = read_state(out / "checkpoint-4")
    assert state["best_checkpoint"] == "checkpoint-2" and state["best_metric"] == pytest.approx(0.5)
    assert state["evals_without_improvement"] == 2 and state["metric_for_best_model"] == "loss"
    assert (out / "model.safetensors").is_file()  # the final model: the last step's weights
    # Resumed from anywhere (another working directory too), the best checkpoint is still known and kept.
    fake.reset()
    fake.SETTINGS["eval_losses"] = [0.2]
    moved = tmp_path / "moved"
    shutil.move(out, moved)
    resumed = run(eval=ev, max_steps=6, eval_steps=1, save_steps=1, save_total_limit=1, metric_for_best_model="loss",
                  early_stopping_patience=3, output_dir=moved, resume=True)
    assert resumed.global_step == 6 and resumed.best_checkpoint == moved / "checkpoint-5"

# ---------------------------------------------------------------------------------------------------------- CLI
EVERY_FLAG = {  # field -> (argv, value): a non-default value for every TrainingOptions field
    "task": (["--task", "token-classification"], "token-classification"),
    "model": (["--model", "some/folder"], "some/folder"),
    "train": (["--train", "train.jsonl"], "train.jsonl"),
    "output_dir": (["--output", "runs/one"], "runs/one"),
    "eval": (["--eval", "eval.jsonl"], "eval.jsonl"),
    "backend": (["--backend", "fake-train"], "fake-train"),
    "device": (["--device", "cpu"], "cpu"),
    "tokenizer": (["--tokenizer", "spiece.model"], "spiece.model"),
    "learning_rate": (["--learning-rate", "3e-5"], 3e-5),
    "num_train_epochs": (["--num-train-epochs", "2.5"], 2.5),
    "max_steps": (["--max-steps", "7"], 7),
    "per_device_train_batch_size": (["--per-device-train-batch-size", "3"], 3),
    "per_device_eval_batch_size": (["--per-device-eval-batch-size", "5"], 5),
    "gradient_accumulation_steps": (["--gradient-accumulation-steps", "2"], 2),
    "warmup_steps": (["--warmup-steps", "1"], 1),
    "warmup_ratio": (["--warmup-ratio", "0.1"], 0.1),
    "weight_decay": (["--weight-decay", "0.01"], 0.01),
    "adam_beta1": (["--adam-beta1", "0.8"], 0.8),
    "adam_beta2": (["--adam-beta2", "0.98"], 0.98),
    "adam_epsilon": (["--adam-epsilon", "1e-6"], 1e-6),
    "max_grad_norm": (["--max-grad-norm", "0.5"], 0.5),
    "max_seq_length": (["--max-seq-length", "64"], 64),
    "doc_stride": (["--doc-stride", "16"], 16),
    "max_answer_length": (["--max-answer-length", "10"], 10),
    "mlm_probability": (["--mlm-probability", "0.2"], 0.2),
    "dropout": (["--dropout", "0.05"], 0.05),
    "seed": (["--seed", "7"], 7),
    "shuffle": (["--no-shuffle"], False),
    "bf16": (["--bf16"], True),
    "gradient_checkpointing": (["--gradient-checkpointing"], True),
    "logging_steps": (["--logging-steps", "3"], 3),
    "eval_steps": (["--eval-steps", "4"], 4),
    "save_steps": (["--save-steps", "6"], 6),
    "save_total_limit": (["--save-total-limit", "2"], 2),
    "metric_for_best_model": (["--metric-for-best-model", "f1"], "f1"),
    "early_stopping_patience": (["--early-stopping-patience", "2"], 2),
    "resume": (["--resume", "runs/one/checkpoint-6"], "runs/one/checkpoint-6"),
    "progress": (["--no-progress"], False),
    "plot": (["--no-plot"], False),
}


@pytest.fixture
def captured(monkeypatch):
    """`finetune` replaced by a recorder: the options the CLI built."""
    from albert_core.training import trainer

    seen = []

    def record(options):
        seen.append(options)
        return TrainResult(Path(options.output_dir), 7, {"f1": 0.5}, Path(options.output_dir) / "checkpoint-6")

    monkeypatch.setattr(trainer, "finetune", record)
    return seen


def test_every_option_has_a_flag(captured, capsys):
    assert set(EVERY_FLAG) == {f.name for f in dataclasses.fields(TrainingOptions)}
    argv = ["finetune", *(arg for flags, _ in EVERY_FLAG.values() for arg in flags), "--json"]
    assert main(argv) == 0
    (options,) = captured
    assert dataclasses.asdict(options) == {name: value for name, (_, value) in EVERY_FLAG.items()}
    assert json.loads(capsys.readouterr().out) == {"output_dir": "runs/one", "global_step": 7,
                                                   "best_checkpoint": "runs/one/checkpoint-6", "eval_f1": 0.5}


def test_cli_defaults_and_resume_forms(captured, capsys):
    required = ["finetune", "--task", "fill-mask", "--model", "m", "--train", "t.txt", "--output", "o"]
    assert main(required) == 0
    defaults = TrainingOptions(task="fill-mask", model="m", train="t.txt", output_dir="o")
    assert captured[-1] == defaults  # every flag's default is the field's (progress: automatic)
    assert "output_dir: o\nglobal_step: 7\n" in capsys.readouterr().out
    for extra, resume in ([], None), (["--resume"], True), (["--resume", "o/checkpoint-4"], "o/checkpoint-4"):
        assert main([*required, *extra]) == 0 and captured[-1].resume == resume
    help_text = build_parser()._subparsers._group_actions[0].choices["finetune"].format_help()
    for flags, _ in EVERY_FLAG.values():
        assert flags[0] in help_text


def test_cli_runs_and_errors_are_one_line(tmp_path, vocab, train_file, capsys):
    def argv(output="out", train=train_file, *more):
        return ["finetune", "--task", "text-classification", "--model", "random:tiny", "--tokenizer", str(vocab),
                "--train", str(train), "--output", str(tmp_path / output), "--backend", fake.NAME, "--max-steps", "2",
                "--no-progress", *more]

    def error(args, status=1):
        assert main(args) == status
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("albert: error: "), captured.err
        assert "Traceback" not in captured.err
        return lines[0]

    out = tmp_path / "out"
    assert main([*argv(), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == {"output_dir": str(out), "global_step": 2, "best_checkpoint": None}
    assert [p.name for p in checkpoint_folders(out)] == ["checkpoint-2"]
    assert "already holds a run" in error(argv())
    assert "--learning-rate must be a finite number > 0" in error(argv("o1", train_file, "--learning-rate", "-1"))
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"text": "One.", "label": "a"}, "not json"])
    assert f"{bad} line 2:" in error(argv("o2", bad))
    assert "holds no complete checkpoint" in error(argv("o3", train_file, "--resume"))
    assert "--max-steps: invalid int value: 'two'" in error(argv("o4", train_file, "--max-steps", "two"), status=2)
    assert "the following arguments are required: --train" in error(["finetune", "--task", "fill-mask", "--model",
                                                                      "m", "--output", "o"], status=2)
    assert not any((tmp_path / name).exists() for name in ("o1", "o2", "o3", "o4"))
    assert main([*argv(), "--resume"]) == 0  # a finished run: resuming takes no step and says where it ended
    assert capsys.readouterr().out.splitlines()[:2] == [f"output_dir: {out}", "global_step: 2"]


def test_docs_page_lists_every_flag():
    page = Path(__file__).resolve().parents[1] / "docs" / "finetuning.md"
    text = page.read_text(encoding="utf-8")
    missing = [flags[0] for flags, _ in EVERY_FLAG.values() if f"`{flags[0]}" not in text]
    assert missing == [], f"docs/finetuning.md does not document {missing}"
