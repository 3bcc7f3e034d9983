"""The fine-tuning trainer (`albert_core.finetune`) in the core alone, part 1: bad input of every kind is refused
before any step with a message that says what to fix; label names reach config.json; every task trains; the best
checkpoint, early stopping and rotation. No framework is installed here: runs train on `fake-train`
(tests/fake_training_backend.py). Part 2 is test_training_loop.py."""

from __future__ import annotations

import json
import math
import shutil

import fake_training_backend as fake
import pytest
import training_helpers
from training_helpers import (
    choice_rows,
    classification_rows,
    model_folder,
    qa_rows,
    refused,
    snapshot,
    summaries,
    token_rows,
    write_jsonl,
)

import albert_core
from albert_core.checkpoints.safetensors_file import SafetensorsFile
from albert_core.cli.main import main
from albert_core.errors import ConfigError, DataError, TrainingError
from albert_core.training.checkpoint import checkpoint_folders, read_state

# The shared fixtures (tests/training_helpers.py), bound here so that pytest finds them in this module; every test
# trains on `fake-train`.
pytestmark = pytest.mark.usefixtures("fake_backend")
fake_backend = training_helpers.fake_backend
run = training_helpers.run
train_file = training_helpers.train_file
vocab = training_helpers.vocab


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
    ("batch", ["rows per micro-batch (--per-device-train-batch-size x replicas): checkpoint 4, now 2",
               "total_steps: checkpoint 1, now 6"]),
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


@pytest.mark.parametrize(("key", "value"), [("step", -10**12), ("step", 10**30), ("step", "3"),
                                          ("optimizer_steps", -1), ("optimizer_steps", True)])
def test_resume_refuses_a_step_outside_the_run(run, tmp_path, key, value):
    """The loop runs from the checkpoint's step to the end, so a hand-edited step would choose how long it runs
    (a negative one: that many more steps)."""
    run(max_steps=2, save_steps=1)
    state_file = tmp_path / "out" / "checkpoint-1" / "trainer_state.json"
    state_file.write_text(json.dumps({**json.loads(state_file.read_text()), key: value}))
    before = snapshot(tmp_path / "out")
    with refused(TrainingError, f"trainer_state.json has {key}=", "outside this run's 0..2 steps"):
        run(max_steps=2, save_steps=1, resume=str(tmp_path / "out" / "checkpoint-1"))
    assert snapshot(tmp_path / "out") == before


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

