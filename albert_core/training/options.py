"""`TrainingOptions`: every option of a fine-tuning run, with HF Trainer's names and defaults where it has them.
The CLI (`albert finetune`) and the Python API (`albert_core.finetune`) both build one, and it is checked here,
on the host, before any data is read or any backend runs."""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..tasks import (
    FILL_MASK,
    MASKED_LM,
    MULTIPLE_CHOICE,
    PRETRAINING,
    QUESTION_ANSWERING,
    SEQUENCE_CLASSIFICATION,
    TEXT_CLASSIFICATION,
    TOKEN_CLASSIFICATION,
)
from .data_parallel import check_mode
from .step import check_optimizer

# What `--task` accepts (HF's pipeline names, and the model task names) -> the model task it trains; the trainer
# also runs pretraining (`albert_core.pretraining.trainer`).
FINETUNE_TASKS = {TEXT_CLASSIFICATION: SEQUENCE_CLASSIFICATION, SEQUENCE_CLASSIFICATION: SEQUENCE_CLASSIFICATION,
                  TOKEN_CLASSIFICATION: TOKEN_CLASSIFICATION, QUESTION_ANSWERING: QUESTION_ANSWERING,
                  MULTIPLE_CHOICE: MULTIPLE_CHOICE, FILL_MASK: MASKED_LM, MASKED_LM: MASKED_LM}


@dataclass
class TrainingOptions:
    """A fine-tuning run. `model` is an HF folder, a preset or `random:<preset>`; `train`/`eval` are JSON-lines,
    CSV or text files, lists of dicts, or `datasets.Dataset`s. See docs/finetuning.md for each option."""

    task: str
    model: str
    train: Any
    output_dir: str
    eval: Any = None
    backend: str = "torch"
    device: str | None = None
    distributed: str = "auto"  # data-parallel replicas: "auto" (the launcher's environment / devices), "off", "on"
    tokenizer: str | None = None  # a spiece.model; default: the model folder's
    learning_rate: float = 5e-5
    num_train_epochs: float = 3.0
    max_steps: int = -1  # > 0 overrides num_train_epochs
    per_device_train_batch_size: int = 8
    per_device_eval_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    warmup_steps: int = 0
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    optimizer: str = "adamw"  # or "lamb"
    max_grad_norm: float | None = 1.0  # None or 0: no clipping
    max_seq_length: int | None = None  # None: 384 for question answering (HF's run_qa), else 128 (run_glue)
    doc_stride: int = 128
    max_answer_length: int = 30
    mlm_probability: float = 0.15
    dropout: float | None = None  # overrides the config's hidden, attention and classifier dropout
    seed: int = 42
    shuffle: bool = True
    bf16: bool = False
    gradient_checkpointing: bool = False
    logging_steps: int = 50
    eval_steps: int | None = None  # None: evaluate at the end only
    save_steps: int | None = 500  # None: save at the end only
    save_total_limit: int | None = None
    metric_for_best_model: str | None = None  # e.g. "accuracy" or "loss" (the eval metric names, no eval_ prefix)
    early_stopping_patience: int | None = None  # evaluations without improvement before stopping
    resume: str | bool | None = None  # True: the latest checkpoint in output_dir; or a checkpoint folder
    progress: bool | None = None  # None: a progress bar when stderr is a terminal
    plot: bool = True

    def __post_init__(self) -> None:
        for name in ("save_steps", "eval_steps"):  # 0 (what a command line can say) is "at the end only"
            if getattr(self, name) == 0 and not isinstance(getattr(self, name), bool):
                setattr(self, name, None)
        if self.max_seq_length is None and self.task in FINETUNE_TASKS:
            self.max_seq_length = 384 if FINETUNE_TASKS[self.task] == QUESTION_ANSWERING else 128
        self.check()

    @property
    def model_task(self) -> str:
        return PRETRAINING if self.task == PRETRAINING else FINETUNE_TASKS[self.task]

    def replace(self, **changes: Any) -> TrainingOptions:
        return dataclasses.replace(self, **changes)

    def check(self) -> None:
        if self.task not in FINETUNE_TASKS and self.task != PRETRAINING:
            raise ConfigError(f"--task {self.task!r} cannot be fine-tuned; use one of {sorted(FINETUNE_TASKS)}")
        if not isinstance(self.output_dir, (str, os.PathLike)) or not str(self.output_dir):
            raise ConfigError(f"--output must be a folder path, got {self.output_dir!r}")
        _number("learning_rate", self.learning_rate, low=0.0, low_open=True)
        _number("num_train_epochs", self.num_train_epochs, low=0.0)
        _integer("max_steps", self.max_steps, low=-1)
        if self.max_steps in (0,) or (self.max_steps < 0 and self.num_train_epochs == 0):
            raise ConfigError("the run would take no step: pass --max-steps >= 1 or --num-train-epochs > 0")
        for name in ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps",
                     "logging_steps"):
            _integer(name, getattr(self, name), low=1)
        for name in ("eval_steps", "save_steps", "save_total_limit", "early_stopping_patience"):
            if getattr(self, name) is not None:
                _integer(name, getattr(self, name), low=1)
        _integer("warmup_steps", self.warmup_steps, low=0)
        _number("warmup_ratio", self.warmup_ratio, low=0.0, high=1.0)
        _number("weight_decay", self.weight_decay, low=0.0)
        _number("adam_beta1", self.adam_beta1, low=0.0, high=1.0, high_open=True)
        _number("adam_beta2", self.adam_beta2, low=0.0, high=1.0, high_open=True)
        _number("adam_epsilon", self.adam_epsilon, low=0.0)
        check_optimizer(self.optimizer)
        check_mode(self.distributed)
        if self.max_grad_norm is not None:
            _number("max_grad_norm", self.max_grad_norm, low=0.0)
        if self.max_seq_length is not None or self.task != PRETRAINING:  # pretraining: the data's length
            _integer("max_seq_length", self.max_seq_length, low=8, high=512)
        _integer("doc_stride", self.doc_stride, low=1)
        _integer("max_answer_length", self.max_answer_length, low=1)
        _number("mlm_probability", self.mlm_probability, low=0.0, high=1.0, low_open=True)
        if self.dropout is not None:
            _number("dropout", self.dropout, low=0.0, high=1.0, high_open=True)
        _integer("seed", self.seed, low=0)
        if self.early_stopping_patience is not None and self.eval is None:
            raise ConfigError("--early-stopping-patience needs evaluation data: pass --eval FILE")
        if self.metric_for_best_model is not None and self.eval is None:
            raise ConfigError("--metric-for-best-model needs evaluation data: pass --eval FILE")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _integer(name: str, value: Any, *, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ConfigError(f"{_flag(name)} must be an integer {bounds}, got {value!r}")


def _number(name: str, value: Any, *, low: float, high: float | None = None, low_open: bool = False,
            high_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low)
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        bounds = f"> {low}" if high is None and low_open else f">= {low}" if high is None else \
            f"in {left}{low}, {high}{right}"
        raise ConfigError(f"{_flag(name)} must be a finite number {bounds}, got {value!r}")
