"""The `albert finetune` command in the core alone: a flag for every `TrainingOptions` field with the field's default,
the resume forms, a real run on `fake-train`, one-line errors, and the docs page listing every flag."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import fake_training_backend as fake
import pytest
import training_helpers
from training_helpers import write_jsonl

from albert_core.cli.main import build_parser, main
from albert_core.training.checkpoint import checkpoint_folders
from albert_core.training.options import TrainingOptions
from albert_core.training.trainer import TrainResult

pytestmark = pytest.mark.usefixtures("fake_backend")  # the shared fixtures (tests/training_helpers.py)
fake_backend = training_helpers.fake_backend
train_file = training_helpers.train_file
vocab = training_helpers.vocab


EVERY_FLAG = {  # field -> (argv, value): a non-default value for every TrainingOptions field
    "task": (["--task", "token-classification"], "token-classification"),
    "model": (["--model", "some/folder"], "some/folder"),
    "train": (["--train", "train.jsonl"], "train.jsonl"),
    "output_dir": (["--output", "runs/one"], "runs/one"),
    "eval": (["--eval", "eval.jsonl"], "eval.jsonl"),
    "backend": (["--backend", "fake-train"], "fake-train"),
    "device": (["--device", "cpu"], "cpu"),
    "distributed": (["--distributed", "off"], "off"),
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
    "optimizer": (["--optimizer", "lamb"], "lamb"),
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
    assert main([*required, "--save-steps", "0", "--eval-steps", "0"]) == 0
    assert (captured[-1].save_steps, captured[-1].eval_steps) == (None, None)  # 0: at the end only


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
