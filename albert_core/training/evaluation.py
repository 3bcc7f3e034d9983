"""Evaluation of a fine-tuning run: eval-mode outputs of every batch -> the task's metrics (and the mean loss)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..ops import IGNORE_INDEX
from ..tasks import MASKED_LM, MULTIPLE_CHOICE, QUESTION_ANSWERING, SEQUENCE_CLASSIFICATION, TOKEN_CLASSIFICATION
from .batches import loss_items
from .features import Features
from .metrics import (
    choice_metrics,
    classification_metrics,
    language_model_metrics,
    token_classification_metrics,
)
from .squad import postprocess, squad_metrics
from .step import TrainStep

# The metric each task's best checkpoint is chosen by unless --metric-for-best-model says otherwise.
DEFAULT_METRIC = {SEQUENCE_CLASSIFICATION: "accuracy", TOKEN_CLASSIFICATION: "f1", QUESTION_ANSWERING: "f1",
                  MULTIPLE_CHOICE: "accuracy", MASKED_LM: "loss"}
REGRESSION_METRIC = "pearson"


def evaluate(step: TrainStep, features: Features, batches: Sequence[dict[str, np.ndarray]], *,
             max_answer_length: int = 30) -> dict[str, float]:
    """Metric name -> value (no `eval_` prefix) for `features`, run as `batches` (file order, as `Batches.evaluation`
    gives them)."""
    task = features.task
    outputs = [step.evaluate(batch) for batch in batches]
    metrics: dict[str, float] = {}
    counts = [loss_items(b, task) if _labelled(b) else 0 for b in batches]
    if sum(counts):
        metrics["loss"] = float(sum(c * float(o["loss"]) for c, o in zip(counts, outputs) if c) / sum(counts))
    if task == QUESTION_ANSWERING:
        answers = features.meta.get("answers")
        if answers is not None:
            starts = [row for o in outputs for row in o["start_logits"]]
            ends = [row for o in outputs for row in o["end_logits"]]
            allow_no_answer = any(not a for a in answers)  # SQuAD v2 data: some questions have no answer
            predictions = postprocess(features, starts, ends, max_answer_length=max_answer_length,
                                      allow_no_answer=allow_no_answer)
            metrics.update(squad_metrics(predictions, answers))
        return metrics
    if not sum(counts):
        return metrics
    if task == MASKED_LM:
        metrics.update(language_model_metrics(metrics["loss"]))
    elif task == SEQUENCE_CLASSIFICATION:
        logits = np.concatenate([o["logits"] for o in outputs])
        labels = np.concatenate([b["labels"] for b in batches])
        metrics.update(classification_metrics(logits, labels, features.problem_type))
    elif task == TOKEN_CLASSIFICATION:
        width = max(o["logits"].shape[1] for o in outputs)
        logits = np.concatenate([_pad_tokens(o["logits"], width, 0.0) for o in outputs])
        labels = np.concatenate([_pad_tokens(b["labels"], width, IGNORE_INDEX) for b in batches])
        metrics.update(token_classification_metrics(logits, labels, features.label_names))
    elif task == MULTIPLE_CHOICE:
        metrics.update(choice_metrics(np.concatenate([o["logits"] for o in outputs]),
                                      np.concatenate([b["labels"] for b in batches])))
    return metrics


def _labelled(batch: dict[str, np.ndarray]) -> bool:
    return "labels" in batch or "start_positions" in batch


def _pad_tokens(x: np.ndarray, width: int, value: float) -> np.ndarray:
    widths = [(0, 0)] * x.ndim
    widths[1] = (0, width - x.shape[1])
    return np.pad(x, widths, constant_values=value)
