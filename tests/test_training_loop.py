"""The fine-tuning trainer in the core alone, part 2: batches, the schedule and options, log.jsonl and its plot,
checked against what HF Trainer does (the command: test_finetune_cli.py). Runs train on `fake-train`."""

from __future__ import annotations

import json
import math
import shutil
import sys
import types
from pathlib import Path

import fake_training_backend as fake
import numpy as np
import pytest
import training_helpers
from training_helpers import classification_rows, summaries, token_rows, write_jsonl

from albert_core.bucketing import DEFAULT_BUCKET_MULTIPLE
from albert_core.checkpoints.safetensors_file import SafetensorsFile
from albert_core.errors import ConfigError
from albert_core.ops import IGNORE_INDEX
from albert_core.training.batches import Batches, Masking
from albert_core.training.features import (
    encode_masked_lm,
    encode_text_classification,
    encode_token_classification,
)
from albert_core.training.options import TrainingOptions
from albert_core.training.runlog import LOG_NAME, PLOT_NAME
from albert_core.training.schedule import LinearSchedule, warmup_steps_for

# The shared fixtures (tests/training_helpers.py), bound here so that pytest finds them in this module; every test
# trains on `fake-train`.
pytestmark = pytest.mark.usefixtures("fake_backend")
fake_backend = training_helpers.fake_backend
run = training_helpers.run
tok = training_helpers.tok
train_file = training_helpers.train_file
vocab = training_helpers.vocab


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
    ("optimizer", "sgd", "--optimizer 'sgd' is not one of adamw, lamb"),
    ("max_grad_norm", -1.0, "--max-grad-norm"),
    ("max_seq_length", 4, "--max-seq-length must be an integer in [8, 512], got 4"),
    ("max_seq_length", 1024, "--max-seq-length must be an integer in [8, 512]"),
    ("doc_stride", 0, "--doc-stride"),
    ("max_answer_length", 0, "--max-answer-length"),
    ("mlm_probability", 0.0, "--mlm-probability must be a finite number in (0.0, 1.0]"),
    ("dropout", 1.0, "--dropout"),
    ("seed", -1, "--seed"),
    ("logging_steps", 0, "--logging-steps"),
    ("eval_steps", -1, "--eval-steps"),
    ("save_steps", -2, "--save-steps"),
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
