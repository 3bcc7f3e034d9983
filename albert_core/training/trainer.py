"""The fine-tuning loop, once for every backend: `finetune(task=..., model=..., train=..., output_dir=...)`.

Everything is checked on the host before the first step (options, data, labels, the model folder against the task
and tokenizer); the backend's `TrainStep` then runs each optimizer step on batches the core built."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..api import RANDOM_PREFIX, load, open_source, save
from ..atomic_files import update_folder
from ..config import AlbertConfig
from ..errors import ConfigError, DataError, TrainingError, short_repr
from ..inputs import prepare_inputs
from ..plugins import get_backend
from ..progress import Progress
from ..tasks import (
    MASKED_LM,
    MULTIPLE_CHOICE,
    PRETRAINING,
    QUESTION_ANSWERING,
    SEQUENCE_CLASSIFICATION,
    TOKEN_CLASSIFICATION,
)
from ..tokenizer import AlbertTokenizer
from .batches import Batches, Masking
from .checkpoint import (
    checkpoint_folders,
    read_optimizer_state,
    read_state,
    remove_partial,
    resolve_resume,
    rotate,
    save_checkpoint,
)
from .data import read_records
from .data_parallel import check_even_rows, single
from .evaluation import DEFAULT_METRIC, REGRESSION_METRIC, evaluate
from .features import (
    Features,
    encode_masked_lm,
    encode_multiple_choice,
    encode_text_classification,
    encode_token_classification,
)
from .metrics import is_better, parse_tag, tag_error
from .options import TrainingOptions
from .runlog import LOG_NAME, PLOT_NAME, RunLog, plot
from .schedule import LinearSchedule, warmup_steps_for
from .squad import encode_question_answering
from .step import OptimizerOptions

_LABELLED_TASKS = (SEQUENCE_CLASSIFICATION, TOKEN_CLASSIFICATION)
# The row key each task's loss reads, and the data field it comes from (masked LM makes its labels by masking).
_LABEL_FIELDS = {SEQUENCE_CLASSIFICATION: ("labels", "label"), TOKEN_CLASSIFICATION: ("labels", "tags"),
                 MULTIPLE_CHOICE: ("labels", "label"), QUESTION_ANSWERING: ("start_positions", "answers")}


@dataclass
class TrainResult:
    """What a run did: the folder of the final model, the steps taken, the last evaluation, the best checkpoint."""

    output_dir: Path
    global_step: int
    metrics: dict[str, float] = field(default_factory=dict)
    best_checkpoint: Path | None = None
    log: list[dict[str, Any]] = field(default_factory=list)


def finetune(options: TrainingOptions | None = None, **kwargs: Any) -> TrainResult:
    """Fine-tune a model; takes a `TrainingOptions` or its fields as keyword arguments (see docs/finetuning.md)."""
    opts = options if options is not None else TrainingOptions(**kwargs)
    if options is not None and kwargs:
        opts = options.replace(**kwargs)
    if opts.task == PRETRAINING:
        raise ConfigError("finetune() does not pretrain; use albert_core.pretrain() or 'albert pretrain'")
    return Run(opts).train()


def with_dropout(config: AlbertConfig, rate: float | None) -> AlbertConfig:
    """`config` with `--dropout` (one rate for the hidden, attention and classifier dropout), when given."""
    if rate is None:
        return config
    return dataclasses.replace(config, hidden_dropout_prob=rate, attention_probs_dropout_prob=rate,
                               classifier_dropout_prob=rate)


class Run:
    """One run: set up from the options (and the checkpoint it resumes), then `train()`."""

    def __init__(self, opts: TrainingOptions) -> None:
        self.opts = opts
        self.output_dir = Path(opts.output_dir)
        self.resume_from = resolve_resume(opts.resume, self.output_dir) if opts.resume else None
        self.state = read_state(self.resume_from) if self.resume_from else {}
        backend = self._check_backend()
        self.world = backend.data_parallel(opts.distributed, opts.device) or single(opts.distributed, backend.name)
        if self.resume_from is None and self.world.is_main:  # the other processes never write
            self._check_output_dir()
        self.task = opts.model_task
        self._prepare()
        steps = self.batches.steps_per_epoch
        self.total_steps = opts.max_steps if opts.max_steps > 0 else math.ceil(opts.num_train_epochs * steps)
        warmup = warmup_steps_for(self.total_steps, opts.warmup_steps, opts.warmup_ratio)
        if warmup > self.total_steps:
            raise ConfigError(f"--warmup-steps {opts.warmup_steps} is more than the run's {self.total_steps} optimizer "
                              "steps; pass at most that, or a --warmup-ratio in [0, 1]")
        self.schedule = LinearSchedule(opts.learning_rate, warmup, self.total_steps)
        self.metric = self._default_metric()
        self._check_resume()

    # ------------------------------------------------------------------------------------------------ set-up
    def _prepare(self) -> None:
        """The model source, tokenizer, data and config of the run (`checkpoint`, `tokenizer_file`, `tokenizer`,
        `train_features`, `eval_features`, `config`, `batches`, `eval_batches`): fine-tuning's; pretraining has its
        own."""
        opts = self.opts
        self.checkpoint = open_source(self.resume_from or opts.model)
        self.tokenizer_file = self._tokenizer_file()
        self.tokenizer = AlbertTokenizer(str(self.tokenizer_file))
        self.train_features = self._encode(opts.train, self._given_labels(), self.state.get("problem_type"))
        self.eval_features = (self._encode(opts.eval, self.train_features.label_names,
                                           self.train_features.problem_type) if opts.eval is not None else None)
        self.config = self._config()
        self._check_model()
        masking = (Masking(self.config.vocab_size, self.tokenizer.mask_token_id, opts.mlm_probability)
                   if self.task == MASKED_LM else None)
        self.batches = Batches(self.train_features, batch_size=self.micro_batch_size,
                               accumulation=opts.gradient_accumulation_steps, seed=opts.seed, shuffle=opts.shuffle,
                               max_length=opts.max_seq_length, masking=masking)
        self.eval_batches = None
        if self.eval_features is not None:
            self.eval_batches = Batches(self.eval_features, batch_size=opts.per_device_eval_batch_size,
                                        accumulation=1, seed=opts.seed, shuffle=False,
                                        max_length=opts.max_seq_length, masking=masking)

    @property
    def micro_batch_size(self) -> int:
        """Rows per global micro-batch: each data-parallel replica trains on its piece of every one."""
        return self.opts.per_device_train_batch_size * self.world.replicas

    def _default_metric(self) -> str:
        return self.opts.metric_for_best_model or (REGRESSION_METRIC if self.train_features.problem_type ==
                                                   "regression" else DEFAULT_METRIC[self.task])

    def _check_output_dir(self) -> None:
        """A new run writes into an empty (or new) folder only: never over another run, a model or other files."""
        out = self.output_dir
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--output {str(out)!r} is a file; pass a folder for the run (nothing was overwritten)")
        if (out / LOG_NAME).exists():
            raise ConfigError(f"--output {str(out)!r} already holds a run ({LOG_NAME}); pass --resume to continue "
                              "it, or choose a new output folder (nothing was overwritten)")
        held = sorted(child.name for child in out.iterdir()) if out.is_dir() else []
        if held:
            shown = ", ".join(held[:5]) + (", ..." if len(held) > 5 else "")
            raise ConfigError(f"--output {str(out)!r} already exists and is not empty ({shown}); choose a new or "
                              "empty output folder (nothing was overwritten)")

    def _check_backend(self) -> Any:
        backend = get_backend(self.opts.backend)  # unknown names and missing frameworks fail here, before the data
        if not getattr(backend, "supports_training", False):
            raise ConfigError(f"--backend {self.opts.backend!r} cannot fine-tune (it has no training support); "
                              "pass --backend torch, jax or tensorflow (see 'albert backends')")
        return backend

    def _tokenizer_file(self) -> Path:
        given = self.opts.tokenizer
        path = Path(given) if given else self.checkpoint.tokenizer_file
        if path is None:
            where = "a random model" if str(self.opts.model).startswith(RANDOM_PREFIX) else \
                f"the model folder {str(self.opts.model)!r}"
            raise ConfigError(f"{where} has no spiece.model; pass --tokenizer PATH/spiece.model")
        if not Path(path).is_file():
            raise ConfigError(f"--tokenizer {str(path)!r} is not a file; pass the path of a spiece.model")
        return Path(path)

    def _given_labels(self) -> list[str] | None:
        """Label names to keep: those of the run being resumed, or of a model already fine-tuned with named labels."""
        if self.state:
            return self.state.get("label_names")
        names = [self.checkpoint.config.id2label[i] for i in range(self.checkpoint.config.num_labels)]
        default = names == [f"LABEL_{i}" for i in range(len(names))]
        return None if default or self.task not in _LABELLED_TASKS else names

    def _encode(self, source: Any, label_names: list[str] | None, problem_type: str | None) -> Features:
        """`source` as the task's rows; `label_names` and `problem_type` (sequence classification) are kept when given
        (the resumed run's, or the training set's for the evaluation set), else inferred from the data."""
        records = read_records(source)
        o, tok = self.opts, self.tokenizer
        if self.task == SEQUENCE_CLASSIFICATION:
            return encode_text_classification(records, tok, max_seq_length=o.max_seq_length, label_names=label_names,
                                              problem_type=problem_type)
        if self.task == TOKEN_CLASSIFICATION:
            return encode_token_classification(records, tok, max_seq_length=o.max_seq_length, label_names=label_names)
        if self.task == QUESTION_ANSWERING:
            return encode_question_answering(records, tok, max_seq_length=o.max_seq_length, doc_stride=o.doc_stride)
        if self.task == MULTIPLE_CHOICE:
            return encode_multiple_choice(records, tok, max_seq_length=o.max_seq_length)
        return encode_masked_lm(records, tok, max_seq_length=o.max_seq_length)

    def _config(self) -> AlbertConfig:
        config = self.checkpoint.config
        features = self.train_features
        if self.task == SEQUENCE_CLASSIFICATION and features.problem_type == "regression":
            config = config.with_labels(1)
        elif self.task in _LABELLED_TASKS and features.label_names is not None:
            config = config.with_labels(features.label_names)
        if self.task == QUESTION_ANSWERING and config.num_labels != 2:
            config = config.with_labels(2)
        if self.task == SEQUENCE_CLASSIFICATION:
            config = dataclasses.replace(config, problem_type=features.problem_type)
        return with_dropout(config, self.opts.dropout)

    def _check_model(self) -> None:
        """What would fail inside a backend, said on the host with what to do."""
        c, o = self.config, self.opts
        if self.tokenizer.vocab_size > c.vocab_size:
            raise ConfigError(f"the tokenizer {str(self.tokenizer_file)!r} has {self.tokenizer.vocab_size} pieces but "
                              f"the model's vocabulary has {c.vocab_size}; pass the model's own spiece.model")
        if o.max_seq_length > c.max_position_embeddings:
            raise ConfigError(f"--max-seq-length {o.max_seq_length} is longer than the model's "
                              f"max_position_embeddings ({c.max_position_embeddings}); pass at most that")
        if not len(self.train_features):
            raise ConfigError("the training data gave no rows to train on; check --train")
        if self.world.mesh:
            check_even_rows(len(self.train_features), self.micro_batch_size, self.world.replicas, self.task,
                            self.train_features.problem_type)
        label_key, field_name = _LABEL_FIELDS.get(self.task, (None, None))
        if label_key is not None and label_key not in self.train_features.rows[0]:  # encoders label all or none
            source = f"--train {str(o.train)!r}" if isinstance(o.train, (str, os.PathLike)) else "the training data"
            raise DataError(f"{source} has no labels: no record has a {field_name!r} field, which {self.task} "
                            f"learns from; add it to every record (only --eval data may leave it out)")
        if self.task == TOKEN_CLASSIFICATION and self.eval_features is not None:  # scored as entities at each eval
            for name in self.train_features.label_names or ():
                if parse_tag(name) is None:
                    raise ConfigError(f"--eval scores token-classification as entities, but the {tag_error(name)}; "
                                      "rename the tags, or train without --eval")

    @functools.cached_property
    def _fingerprint(self) -> str:
        """A digest of the training rows (computed once: every checkpoint records it): resuming with other data would
        not continue the same run."""
        digest = hashlib.sha256()
        for row in self.train_features.rows:
            for key in sorted(row):
                value = np.ascontiguousarray(row[key])
                digest.update(f"{key}{value.dtype}{value.shape}".encode())
                digest.update(value.tobytes())
        return digest.hexdigest()[:16]

    def _check_resume(self) -> None:
        if not self.state:
            return
        o = self.opts
        self.state.setdefault("optimizer", "adamw")  # checkpoints written before LAMB existed
        self.state.setdefault("train_batch_size", self.state.get("per_device_train_batch_size"))  # ... before replicas
        same = {"task": self.task, "fingerprint": self._fingerprint, "total_steps": self.total_steps,
                "learning_rate": o.learning_rate, "warmup_steps": self.schedule.warmup_steps, "seed": o.seed,
                "train_batch_size": self.micro_batch_size,
                "gradient_accumulation_steps": o.gradient_accumulation_steps, "shuffle": o.shuffle,
                "optimizer": o.optimizer}
        for key in ("step", "optimizer_steps"):
            value = self.state.get(key, 0)  # the loop runs from `step` to the end: a file must not choose how far
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= self.total_steps:
                raise TrainingError(f"--resume {str(self.resume_from)!r}: trainer_state.json has {key}="
                                    f"{short_repr(value)}, outside this run's 0..{self.total_steps} steps; resume "
                                    "from a checkpoint this run wrote, or start a new run")
        changed = {k: (self.state.get(k), v) for k, v in same.items() if self.state.get(k) != v}
        if changed:
            names = {"fingerprint": "the training data (its digest)",
                     "train_batch_size": "rows per micro-batch (--per-device-train-batch-size x replicas)"}
            detail = "; ".join(f"{names.get(k, k)}: checkpoint {a!r}, now {b!r}" for k, (a, b) in changed.items())
            raise TrainingError(f"--resume {str(self.resume_from)!r}: this run differs from the one that wrote the "
                                f"checkpoint ({detail}); resume with the same data and options, or start a new run")

    # ------------------------------------------------------------------------------------------------ training
    def train(self) -> TrainResult:
        o, main = self.opts, self.world.is_main
        if main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            remove_partial(self.output_dir)
        model = load(self.checkpoint, backend=o.backend, task=self.task, trainable=True, init_missing_heads=True,
                     seed=o.seed, config=self.config, device=self.world.device or o.device)
        backend = get_backend(o.backend)
        step = backend.train_step(model, OptimizerOptions(
            self.schedule, weight_decay=o.weight_decay, adam_beta1=o.adam_beta1, adam_beta2=o.adam_beta2,
            adam_epsilon=o.adam_epsilon, max_grad_norm=o.max_grad_norm or None, bf16=o.bf16,
            gradient_checkpointing=o.gradient_checkpointing, optimizer=o.optimizer),
            **({"world": self.world} if self.world.distributed else {}))  # a backend without replicas never sees one
        start = int(self.state.get("step", 0))
        if self.resume_from is not None:
            step.load_optimizer_state(int(self.state["optimizer_steps"]), read_optimizer_state(self.resume_from))
        log = RunLog(self.output_dir, start if self.resume_from else None, write=main)
        best, best_path = self.state.get("best_metric"), self.state.get("best_checkpoint")
        best_path = self.resume_from.parent / Path(best_path).name if best_path and self.resume_from else None
        patience = int(self.state.get("evals_without_improvement", 0))
        progress = Progress(self.total_steps - start, enabled=o.progress if main else False)
        window, terms, last_metrics, began = [], {}, {}, time.monotonic()
        global_step = start
        for global_step in range(start, self.total_steps):
            micro, weights = self.batches.step(global_step)
            micro = [prepare_inputs(self.config, self.task, np.asarray, **b) for b in micro]
            seeds = [(o.seed * 1_000_003 + global_step * 64 + i) % 2**31 for i in range(len(micro))]
            result = step.step(micro, weights, seeds)
            if not (math.isfinite(result.loss) and math.isfinite(result.grad_norm)):
                raise self._diverged(global_step + 1, result.loss, result.grad_norm)
            done = global_step + 1
            window.append(result.loss)
            for name, value in result.metrics.items():
                terms.setdefault(name, []).append(value)
            rate = (done - start) / max(1e-9, time.monotonic() - began)
            progress.update(1, f"loss {np.mean(window):.4f} {rate:.2f} steps/s")
            last = done == self.total_steps
            if done % o.logging_steps == 0 or last:
                log.write({"step": done, "epoch": round(done / self.batches.steps_per_epoch, 4),
                           "loss": float(np.mean(window)), **{k: float(np.mean(v)) for k, v in terms.items()},
                           "learning_rate": result.learning_rate, "grad_norm": result.grad_norm})
                window, terms = [], {}
            evaluating = self.eval_batches is not None and ((o.eval_steps and done % o.eval_steps == 0) or last)
            saving = (o.save_steps and done % o.save_steps == 0) or last
            improved = False
            if evaluating:
                last_metrics = evaluate(step, self.eval_features, self.eval_batches.evaluation(
                    o.per_device_eval_batch_size), max_answer_length=o.max_answer_length)
                log.write({"step": done, "epoch": round(done / self.batches.steps_per_epoch, 4),
                           **{f"eval_{k}": v for k, v in last_metrics.items()}})
                value = last_metrics.get(self.metric)
                improved = value is not None and is_better(self.metric, value, best)
                if improved:
                    best, patience = value, 0
                else:
                    patience += 1
            stop = bool(o.early_stopping_patience and patience >= o.early_stopping_patience)
            if main and (saving or stop or improved):  # an improvement is always saved: the best checkpoint exists
                path = self.output_dir / f"checkpoint-{done}"
                if improved:
                    best_path = path
                save_checkpoint(self.output_dir, done, model, step, self._state(done, best, best_path, patience),
                                self.tokenizer_file)
                rotate(self.output_dir, o.save_total_limit, best_path)
            if stop:
                break
        progress.close()
        if main:
            with update_folder(self.output_dir) as final:  # the final model and its tokenizer, in place together:
                save(model, final)  # an HF folder, then the tokenizer with its options (a cased vocabulary stays cased)
                self.tokenizer.save_pretrained(final)
        if o.plot and main:
            plot(log.records, self.output_dir / PLOT_NAME)
        return TrainResult(self.output_dir, global_step + 1 if self.total_steps > start else start, last_metrics,
                           best_path, log.records)

    def _data_state(self) -> dict[str, Any]:
        """What a resumed run must reuse of this run's data: the label names and problem type."""
        return {"label_names": self.train_features.label_names, "problem_type": self.train_features.problem_type}

    def _diverged(self, step: int, loss: float, grad_norm: float) -> TrainingError:
        o, kept = self.opts, checkpoint_folders(self.output_dir)
        advice = [f"a lower --learning-rate than {o.learning_rate:g}"]
        if not o.max_grad_norm:
            advice.append("--max-grad-norm 1.0")
        if self.schedule.warmup_steps < max(1, self.total_steps // 10):
            advice.append(f"--warmup-steps {max(1, self.total_steps // 10)}")
        if o.bf16:
            advice.append("float32 (without --bf16)")
        last = (f"{str(kept[-1])} (an HF model folder: start a new run from it with --model)" if kept
                else "none (none was saved yet)")
        return TrainingError(f"the loss became {loss} (gradient norm {grad_norm}) at step {step}; training stopped "
                             f"and nothing was written for it. The last good checkpoint is {last}. Try "
                             f"{', '.join(advice[:-1]) + ' or ' + advice[-1] if len(advice) > 1 else advice[0]}")

    def _state(self, done: int, best: float | None, best_path: Path | None, patience: int) -> dict[str, Any]:
        o = self.opts
        return {"step": done, "epoch": done / self.batches.steps_per_epoch, "task": self.task,
                "backend": o.backend, "total_steps": self.total_steps, "warmup_steps": self.schedule.warmup_steps,
                "learning_rate": o.learning_rate, "seed": o.seed, "shuffle": o.shuffle,
                "per_device_train_batch_size": o.per_device_train_batch_size, "replicas": self.world.replicas,
                "train_batch_size": self.micro_batch_size,
                "gradient_accumulation_steps": o.gradient_accumulation_steps, "fingerprint": self._fingerprint,
                "optimizer": o.optimizer, **self._data_state(), "metric_for_best_model": self.metric,
                "best_metric": best,
                "best_checkpoint": best_path.name if best_path else None, "evals_without_improvement": patience}
