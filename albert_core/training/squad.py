"""Extractive question answering for fine-tuning: SQuAD records -> windowed rows with span labels, the model's
logits -> answer texts, and SQuAD's exact-match / F1.

Labels follow HF's `run_qa.py`: the first gold answer's tokens when the answer lies wholly inside a window's
context, else [CLS] (0) for both ends; unanswerable records (SQuAD v2) point at [CLS] in every window.
"""

from __future__ import annotations

import math
import re
import string
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..errors import ConfigError, DataError, InputError, short_repr
from ..tasks import QUESTION_ANSWERING
from ..tokenizer.packing import windows
from .features import Features

if TYPE_CHECKING:
    from ..tokenizer import AlbertTokenizer

_SPECIAL = 3  # [CLS] question [SEP] context [SEP]


class RecordLike(Protocol):
    """What the encoder reads of a record (`albert_core.training.data.Record` is one)."""

    @property
    def fields(self) -> Mapping[str, Any]: ...

    @property
    def where(self) -> str: ...


@dataclass
class _Example:
    question: str
    context: str
    answers: list[tuple[str, int]] | None  # (text, answer_start); [] = unanswerable; None = no answers given
    id: str


def _int_option(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"{name} must be an int >= {low}, got {short_repr(value)}")
    return int(value)


def _fail(record: RecordLike, field: str, problem: str, fix: str) -> DataError:
    return DataError(f"{record.where}: field {field!r} {problem}; {fix}")


def _text_field(record: RecordLike, name: str) -> str:
    fields = record.fields
    if name not in fields:
        names = sorted(map(str, fields))[:10]
        raise _fail(record, name, f"is missing (the record has {names})",
                    "question-answering records need 'question' and 'context' strings")
    value = fields[name]
    if not isinstance(value, str):
        raise _fail(record, name, f"must be a str, got {type(value).__name__} {short_repr(value)}",
                    "give the text as a JSON string")
    if not value.strip():
        raise _fail(record, name, f"is empty ({short_repr(value)})", f"give a non-empty {name} or drop the record")
    return value


def _as_list(value: Any) -> list | None:
    if isinstance(value, np.ndarray):
        return value.tolist()
    return list(value) if isinstance(value, (list, tuple)) else None


def _answers(record: RecordLike, context: str) -> list[tuple[str, int]] | None:
    """The record's gold answers as (text, answer_start), each checked against its context."""
    value = record.fields.get("answers")
    if value is None:
        return None
    listed = _as_list(value)
    if listed is not None and all(isinstance(a, Mapping) for a in listed):  # SQuAD's JSON: [{"text", ...}, ...]
        if not all({"text", "answer_start"} <= set(a) for a in listed):
            raise _fail(record, "answers", f"has entries without 'text' and 'answer_start': "
                        f"{short_repr(value)}", "write answers as {'text': [...], 'answer_start': [...]}")
        value = {"text": [a["text"] for a in listed], "answer_start": [a["answer_start"] for a in listed]}
    form = "write answers as {'text': [str, ...], 'answer_start': [int, ...]} (empty lists: unanswerable)"
    if not isinstance(value, Mapping) or not {"text", "answer_start"} <= set(value):
        raise _fail(record, "answers", f"must be a dict with 'text' and 'answer_start' lists, got {short_repr(value)}",
                    form)
    texts, starts = _as_list(value["text"]), _as_list(value["answer_start"])
    if texts is None or starts is None:
        raise _fail(record, "answers", f"needs lists under 'text' and 'answer_start', got "
                    f"{short_repr(value['text'])} and {short_repr(value['answer_start'])}", form)
    if len(texts) != len(starts):
        raise _fail(record, "answers", f"has {len(texts)} text(s) but {len(starts)} answer_start(s) "
                    f"({short_repr(value)})", "give one answer_start per answer text")
    out = []
    for number, (text, start) in enumerate(zip(texts, starts)):
        if not isinstance(text, str) or not text.strip():
            raise _fail(record, "answers", f"has text[{number}]={short_repr(text)}, not a non-empty str",
                        "give the answer's text as it appears in the context")
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)):
            raise _fail(record, "answers", f"has answer_start[{number}]={short_repr(start)}, not an int",
                        "give the answer's character offset in the context")
        start, limit = int(start), len(context) - len(text)
        if not 0 <= start <= limit:
            raise _fail(record, "answers", f"has answer_start[{number}]={start}, outside the context: an answer of "
                        f"{len(text)} characters in a context of {len(context)} starts in [0, {limit}]",
                        "give the character offset of the answer in the context")
        found = context[start:start + len(text)]
        if found != text:
            raise _fail(record, "answers", f"has answer {short_repr(text)}, which is not in its context at "
                        f"answer_start={start} (the context there reads {short_repr(found)})",
                        "fix answer_start (a character offset, from 0) or the answer text")
        out.append((text, start))
    return out


def _example(record: RecordLike, index: int) -> _Example:
    question, context = _text_field(record, "question"), _text_field(record, "context")
    key = record.fields.get("id", index)
    if isinstance(key, bool) or not isinstance(key, (str, int, np.integer)):
        raise _fail(record, "id", f"must be a str or int, got {short_repr(key)}", "give each record a unique id")
    return _Example(question, context, _answers(record, context), str(key))


def _char_span(answer: tuple[str, int]) -> tuple[int, int]:
    """The answer's characters without surrounding whitespace, which no token covers."""
    text, start = answer
    return start + len(text) - len(text.lstrip()), start + len(text.rstrip())


def _label(span: tuple[int, int] | None, offsets: list, shift: int) -> tuple[int, int]:
    """Token positions (in the row) of the span's first and last token, or (0, 0) unless the window's context
    `offsets` hold the whole span."""
    if span is None or offsets[0][0] > span[0] or offsets[-1][1] < span[1]:
        return 0, 0
    start = bisect_right([o[0] for o in offsets], span[0]) - 1  # last token starting at or before the span
    end = bisect_left([o[1] for o in offsets], span[1])  # first token ending at or after it
    return shift + start, shift + max(start, end)


def _check_room(max_seq_length: int, question: int, doc_stride: int, max_query_length: int, where: str) -> None:
    """Windows advance by (context tokens per window - doc_stride), so that must be at least 1."""
    room = max_seq_length - question - _SPECIAL
    if room <= doc_stride:
        raise ConfigError(f"max_seq_length={max_seq_length} leaves {max(room, 0)} context tokens per window after a "
                          f"question of {question} token(s){where} and {_SPECIAL} special tokens, which must be more "
                          f"than doc_stride={doc_stride}; raise max_seq_length or lower doc_stride"
                          + (f" or max_query_length={max_query_length}" if where else ""))


def encode_question_answering(records: Iterable[RecordLike], tokenizer: AlbertTokenizer, *, max_seq_length: int,
                              doc_stride: int = 128, max_query_length: int = 64) -> Features:
    """Records with `question`, `context` and `answers` ({"text": [...], "answer_start": [...]}, or SQuAD's list of
    {"text", "answer_start"}; empty: unanswerable) -> one row per window of `[CLS] question [SEP] context [SEP]`.

    Questions are cut to `max_query_length` tokens; contexts too long for `max_seq_length` are cut into windows
    that share `doc_stride` tokens (HF's fast tokenizer's boundaries). An evaluation set may leave out `answers`
    (or give None) in every record: its rows then have no labels and `meta["answers"]` is None.
    `meta`: "offsets" (per row, the (start, end) characters of each context token, None for the other tokens),
    "contexts", "answers" (gold texts) and "ids" (the `id` field, else the record's index) per record.
    """
    max_seq_length = _int_option("max_seq_length", max_seq_length, 1)
    doc_stride = _int_option("doc_stride", doc_stride, 0)
    max_query_length = _int_option("max_query_length", max_query_length, 1)
    _check_room(max_seq_length, 1, doc_stride, max_query_length, "")  # even one question token leaves no room
    records = list(records)
    examples = [_example(record, index) for index, record in enumerate(records)]
    labelled = [example.answers is not None for example in examples]
    if any(labelled) and not all(labelled):
        missing, having = labelled.index(False), labelled.index(True)
        raise _fail(records[missing], "answers", f"is missing, but {records[having].where} has answers",
                    "give answers in every record (empty lists for unanswerable ones) or in none (evaluation "
                    "without labels)")
    seen: dict[str, int] = {}
    for index, example in enumerate(examples):
        if example.id in seen:
            raise _fail(records[index], "id", f"{short_repr(example.id)} is also the id of "
                        f"{records[seen[example.id]].where}", "give each record a unique id")
        seen[example.id] = index
    features = Features(QUESTION_ANSWERING, [], np.zeros(0, np.int64), meta={
        "offsets": [], "contexts": [e.context for e in examples], "ids": [e.id for e in examples],
        "answers": [[text for text, _ in e.answers] for e in examples] if all(labelled) and examples else None})
    if not examples:
        return features
    encode = {"add_special_tokens": False, "return_offsets_mapping": True, "return_tensors": None}
    questions = tokenizer([e.question for e in examples], **encode)["input_ids"]
    contexts = tokenizer([e.context for e in examples], **encode)
    owners = []
    for index, example in enumerate(examples):
        q_ids, c_ids = questions[index][:max_query_length], contexts["input_ids"][index]
        c_offsets = [tuple(o) for o in contexts["offset_mapping"][index]]
        for name, ids in (("question", q_ids), ("context", c_ids)):
            if not ids:
                raise _fail(records[index], name, f"has no tokens ({short_repr(getattr(example, name))})",
                            f"give a {name} with words in it")
        _check_room(max_seq_length, len(q_ids), doc_stride, max_query_length, f" ({records[index].where})")
        head = [tokenizer.cls_token_id, *q_ids, tokenizer.sep_token_id]
        span = _char_span(example.answers[0]) if example.answers else None
        for a, b in windows(len(c_ids), max_seq_length - len(head) - 1, doc_stride, index):
            ids = np.array([*head, *c_ids[a:b], tokenizer.sep_token_id], np.int64)
            row = {"input_ids": ids, "token_type_ids": (np.arange(len(ids)) >= len(head)).astype(np.int64),
                   "attention_mask": np.ones(len(ids), np.int64)}
            if example.answers is not None:
                start, end = _label(span, c_offsets[a:b], len(head))
                row["start_positions"], row["end_positions"] = np.int64(start), np.int64(end)
            features.rows.append(row)
            features.meta["offsets"].append([None] * len(head) + c_offsets[a:b] + [None])
            owners.append(index)
    features.example_index = np.array(owners, np.int64)
    return features


def _row_logits(name: str, value: Any, row: int, size: int) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 1 or len(array) < size:
        raise InputError(f"{name}[{row}] must be a 1-D array of at least the row's {size} tokens, got shape "
                         f"{array.shape}; pass one array of logits per feature row")
    if not np.isfinite(array[:size]).all():
        raise InputError(f"{name}[{row}] holds non-finite values (NaN or inf); check the model's outputs")
    return array[:size]


def postprocess(features: Features, start_logits: Sequence[np.ndarray], end_logits: Sequence[np.ndarray], *,
                n_best: int = 20, max_answer_length: int = 30, null_score_diff_threshold: float = 0.0,
                allow_no_answer: bool = False) -> list[str]:
    """The answer text of each record: its best span over all windows, scored start_logit + end_logit among the
    `n_best` best starts and ends of each window's context tokens (end >= start, at most `max_answer_length`
    tokens). With `allow_no_answer` (SQuAD v2), "" when the lowest [CLS] score (start[0] + end[0]) over the
    record's windows beats the best span by more than `null_score_diff_threshold`. A record with no valid span
    gets "" either way."""
    if features.task != QUESTION_ANSWERING or "offsets" not in features.meta or "contexts" not in features.meta:
        raise ConfigError(f"postprocess needs the features of encode_question_answering, got task "
                          f"{short_repr(features.task)} with meta {sorted(features.meta)}")
    n_best = _int_option("n_best", n_best, 1)
    max_answer_length = _int_option("max_answer_length", max_answer_length, 1)
    if isinstance(null_score_diff_threshold, bool) or not isinstance(null_score_diff_threshold, (int, float)) \
            or not math.isfinite(null_score_diff_threshold):
        raise ConfigError(f"null_score_diff_threshold must be a finite number, got "
                          f"{short_repr(null_score_diff_threshold)}")
    if len(start_logits) != len(features) or len(end_logits) != len(features):
        raise InputError(f"got {len(start_logits)} start_logits and {len(end_logits)} end_logits rows for "
                         f"{len(features)} feature rows; pass the model's logits for every row, in order")
    contexts = features.meta["contexts"]
    best: list[tuple[float, str]] = [(-math.inf, "")] * len(contexts)
    null = [math.inf] * len(contexts)
    for row, record in enumerate(np.asarray(features.example_index).tolist()):
        offsets = features.meta["offsets"][row]
        start = _row_logits("start_logits", start_logits[row], row, len(offsets))
        end = _row_logits("end_logits", end_logits[row], row, len(offsets))
        null[record] = min(null[record], float(start[0] + end[0]))
        found = _best_span(start, end, offsets, n_best, max_answer_length)
        if found is not None and found[0] > best[record][0]:
            score, first, last = found
            best[record] = (score, contexts[record][offsets[first][0]:offsets[last][1]])
    if allow_no_answer:
        return ["" if null[i] - score > null_score_diff_threshold else text for i, (score, text) in enumerate(best)]
    return [text for _, text in best]


def _best_span(start: np.ndarray, end: np.ndarray, offsets: list, n_best: int,
               max_length: int) -> tuple[float, int, int] | None:
    """(score, first token, last token) of one window's best valid span, or None."""
    context = np.flatnonzero([o is not None for o in offsets])
    if not len(context):
        return None
    starts = context[np.argsort(-start[context], kind="stable")[:n_best]]
    ends = context[np.argsort(-end[context], kind="stable")[:n_best]]
    length = ends[None, :] - starts[:, None] + 1
    scores = np.where((length >= 1) & (length <= max_length), start[starts][:, None] + end[ends][None, :], -np.inf)
    s, e = np.unravel_index(np.argmax(scores), scores.shape)
    if scores[s, e] == -np.inf:
        return None
    return float(scores[s, e]), int(starts[s]), int(ends[e])


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles (a, an, the), single spaces."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split())


def _f1(prediction: str, gold: str) -> float:
    pred, true = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not true:  # SQuAD v2's rule: an empty answer scores only against an empty answer
        return float(pred == true)
    same = sum((Counter(pred) & Counter(true)).values())
    if not same:
        return 0.0
    precision, recall = same / len(pred), same / len(true)
    return 2 * precision * recall / (precision + recall)


def squad_metrics(predictions: Sequence[str], answers: Sequence[Sequence[str]] | None) -> dict[str, float]:
    """`exact_match` and `f1` (0-100), each the best over a record's gold answers, averaged over records. A record
    without gold answers (SQuAD v2 unanswerable) scores 1 when its prediction normalises to ""."""
    if answers is None:
        raise InputError("squad_metrics needs gold answers, but the evaluation set has none (its records have no "
                         "'answers'); score a set with answers")
    if len(predictions) != len(answers) or not predictions:
        raise InputError(f"got {len(predictions)} predictions for {len(answers)} records; pass one prediction per "
                         "record (at least one)")
    exact = f1 = 0.0
    for index, (prediction, golds) in enumerate(zip(predictions, answers)):
        if not isinstance(prediction, str) or isinstance(golds, str) or \
                not all(isinstance(gold, str) for gold in golds):
            raise InputError(f"record {index}: predictions must be str and answers lists of str, got "
                             f"{short_repr(prediction)} and {short_repr(golds)}")
        golds = list(golds) or [""]
        exact += max(float(normalize_answer(prediction) == normalize_answer(gold)) for gold in golds)
        f1 += max(_f1(prediction, gold) for gold in golds)
    return {"exact_match": 100 * exact / len(predictions), "f1": 100 * f1 / len(predictions)}
