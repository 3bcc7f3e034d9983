"""The seven ALBERT tasks (HF's heads): one table of what each one is, read by every module that needs a fact
about a head. The task names are written here and nowhere else in the code; other modules use the constants
below or the table's fields.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from .errors import ConfigError

BASE = "base"
PRETRAINING = "pretraining"
MASKED_LM = "masked-lm"
SEQUENCE_CLASSIFICATION = "sequence-classification"
TOKEN_CLASSIFICATION = "token-classification"
QUESTION_ANSWERING = "question-answering"
MULTIPLE_CHOICE = "multiple-choice"
# Pipeline tasks (HF's pipeline names) that are not also model task names.
FILL_MASK = "fill-mask"
TEXT_CLASSIFICATION = "text-classification"
FEATURE_EXTRACTION = "feature-extraction"
# HF's `problem_type` values for sequence classification (the loss it takes).
PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")


@dataclass(frozen=True)
class TaskSpec:
    """One head: its HF class, parameters, outputs, labels and the pipelines that run on it."""

    name: str
    hf_class: str  # HF transformers class; `architectures` in config.json
    roles: tuple[str, ...]  # parameter roles besides the encoder (`layout.ParamSpec.role`); "pooler" = pooled
    outputs: tuple[str, ...]  # output fields besides loss, hidden_states and attentions
    per_token: tuple[str, ...] = ()  # outputs shaped [batch, seq, ...] (sliced back after bucketing)
    labels: tuple[str, ...] = ()  # label arguments; a loss needs all of them
    label_kind: str | None = None  # "token" (one per token), "sequence" (class or float), "choice", "span"
    token_label_bound: str | None = None  # config field bounding token labels: "vocab_size" or "num_labels"
    num_labels: int | None = None  # the num_labels the head needs (HF sizes it by num_labels); None: any
    choices: bool = False  # inputs are [batch, choices, seq]
    pipelines: tuple[str, ...] = ()  # pipeline tasks that run on this head

    @property
    def pooled(self) -> bool:
        """Whether HF's class builds the pooler (the others construct `AlbertModel(add_pooling_layer=False)`)."""
        return "pooler" in self.roles


SPECS: dict[str, TaskSpec] = {spec.name: spec for spec in (
    TaskSpec(BASE, "AlbertModel", ("pooler",), ("last_hidden_state", "pooler_output"),
             per_token=("last_hidden_state",), pipelines=(FEATURE_EXTRACTION,)),
    TaskSpec(PRETRAINING, "AlbertForPreTraining", ("pooler", "predictions", "sop"), ("prediction_logits", "sop_logits"),
             per_token=("prediction_logits",), labels=("labels", "sentence_order_label"), label_kind="token",
             token_label_bound="vocab_size", num_labels=2),
    TaskSpec(MASKED_LM, "AlbertForMaskedLM", ("predictions",), ("logits",), per_token=("logits",),
             labels=("labels",), label_kind="token", token_label_bound="vocab_size", pipelines=(FILL_MASK,)),
    TaskSpec(SEQUENCE_CLASSIFICATION, "AlbertForSequenceClassification", ("pooler", "classifier"), ("logits",),
             labels=("labels",), label_kind="sequence", pipelines=(TEXT_CLASSIFICATION,)),
    TaskSpec(TOKEN_CLASSIFICATION, "AlbertForTokenClassification", ("classifier",), ("logits",), per_token=("logits",),
             labels=("labels",), label_kind="token", token_label_bound="num_labels", pipelines=(TOKEN_CLASSIFICATION,)),
    TaskSpec(QUESTION_ANSWERING, "AlbertForQuestionAnswering", ("qa",), ("start_logits", "end_logits"),
             per_token=("start_logits", "end_logits"), labels=("start_positions", "end_positions"), label_kind="span",
             num_labels=2, pipelines=(QUESTION_ANSWERING,)),
    TaskSpec(MULTIPLE_CHOICE, "AlbertForMultipleChoice", ("pooler", "classifier"), ("logits",), labels=("labels",),
             label_kind="choice", choices=True, pipelines=(MULTIPLE_CHOICE,)),
)}
TASKS = tuple(SPECS)
# Every output field a model may return, in HF's order.
OUTPUT_FIELDS = ("loss", *dict.fromkeys(f for s in SPECS.values() for f in s.outputs), "hidden_states", "attentions")
# Pipeline task -> the model task it runs on; aliases are other names HF users type.
PIPELINE_TASKS = {pipeline: spec.name for spec in SPECS.values() for pipeline in spec.pipelines}
PIPELINE_ALIASES = {"sentiment-analysis": TEXT_CLASSIFICATION, "ner": TOKEN_CLASSIFICATION}


def task_spec(task: str) -> TaskSpec:
    """The table's entry for `task`; an unknown name is a `ConfigError` that lists the known ones."""
    spec = SPECS.get(task) if isinstance(task, str) else None
    if spec is None:
        close = difflib.get_close_matches(str(task), TASKS, n=2)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"task {task!r} is not known; use one of {TASKS}.{hint}")
    return spec


def task_check(task: str) -> str:
    """`task` itself, after checking it is one of the seven."""
    return task_spec(task).name


def problem_type(problem: str | None, num_labels: int, labels_dtype: str) -> str:
    """Sequence classification's loss, by HF's rule when `problem_type` is unset: 1 label regression, integer
    labels single-label, float labels multi-label."""
    if problem:
        return problem
    if num_labels == 1:
        return "regression"
    return "single_label_classification" if labels_dtype.startswith("int") else "multi_label_classification"
