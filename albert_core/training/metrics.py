"""Every fine-tuning task's evaluation metric, in plain NumPy (no scipy, sklearn or seqeval at run time).

Each function checks its arguments' shapes (raising `InputError`, or `ConfigError` for a bad setting) and returns
plain Python floats, so results go straight into JSON logs. Conventions shared by all of them:

- a ratio whose denominator is 0 (precision with nothing predicted, F1 with nothing true or predicted) is 0, as
  conlleval and scikit-learn's default report it;
- a correlation of a constant input is nan (it is undefined, and nan can never be picked as the best checkpoint);
- logits that hold NaN (a diverged model) give nan metrics, rather than whatever argmax makes of them.

Entities (`entity_scores`) are chunked the way conlleval does it, tolerant of IOB1, IOB2 and BIOES:

- a tag is `O`, or `P-TYPE` with prefix P in B/I/E/S (split at the first `-`, so types may contain hyphens); a tag
  without a `-` (an IO scheme's `PER`) is `I-PER`, as conlleval's `-r` mode reads it; any other prefix (`L-`, `U-`,
  `b-`) or an empty type is refused rather than guessed;
- a chunk starts at B-X or S-X, at I-X/E-X after O, E-* or S-*, and at any tag whose type differs from the previous
  tag's; it ends after E-X or S-X, before B-*, S-* or O, before a change of type, and at the end of the sentence;
- a predicted entity is correct only when its type, first and last token all match a gold entity's; token
  `accuracy` compares the (prefix, type) of every token, so `PER` and `I-PER` are the same tag.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ..errors import ConfigError, InputError, short_repr
from ..tasks import PROBLEM_TYPES

IGNORE_INDEX = -100  # labels at positions no loss (and no metric) is taken on, as in HF and `features`

# Which way is better for every metric name these functions return: the trainer's "best checkpoint by metric".
HIGHER_IS_BETTER: dict[str, bool] = {
    "accuracy": True, "f1": True, "precision": True, "recall": True, "pearson": True, "spearman": True,
    "exact_match": True, "mse": False, "loss": False, "perplexity": False,
}

_NAN = float("nan")


# --- argument checks ---------------------------------------------------------------------------------------------

def _array(name: str, value: npt.ArrayLike, ndims: tuple[int, ...], what: str, kind: str = "any") -> np.ndarray:
    """`value` as an array with one of `ndims` dimensions and at least one item; `kind` "int" (class ids),
    "real" (numbers, as float64) or "any"."""
    try:
        arr = np.asarray(value)
    except ValueError as exc:  # ragged nested lists
        raise InputError(f"{name} is not a rectangular array ({exc}); expected {what}") from None
    if arr.ndim not in ndims:
        raise InputError(f"{name} has shape {arr.shape} but must be {what}")
    if arr.size == 0:
        raise InputError(f"{name} is empty (shape {arr.shape}); expected {what} with at least one item")
    if kind == "int":
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
            raise InputError(f"{name} must hold integer class ids, got dtype {arr.dtype} (cast whole numbers with "
                             ".astype('int64'))")
        return arr.astype(np.int64, copy=False)
    if kind == "real":
        if not (arr.dtype == bool or np.issubdtype(arr.dtype, np.number)) or np.iscomplexobj(arr):
            raise InputError(f"{name} must hold real numbers, got dtype {arr.dtype}")
        return arr.astype(np.float64, copy=False)
    return arr


def _same_rows(a_name: str, a: np.ndarray, b_name: str, b: np.ndarray, what: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise InputError(f"{a_name} has shape {a.shape} but {b_name} has shape {b.shape}; {what}")


def _in_range(name: str, ids: np.ndarray, high: int, ignore: int | None = None) -> None:
    """Every id in [0, high) (or equal to `ignore`); names the first offender and its position."""
    bad = (ids < 0) | (ids >= high)
    if ignore is not None:
        bad &= ids != ignore
    if bad.any():
        pos = tuple(int(i) for i in np.argwhere(bad)[0])
        extra = f" or {ignore} (ignored)" if ignore is not None else ""
        raise InputError(f"{name} has value {int(ids[pos])} at position {pos}, outside the valid range "
                         f"[0, {high}){extra}; {int(bad.sum())} value(s) are out of range")


# --- classification and correlation ------------------------------------------------------------------------------

def accuracy(predictions: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """The fraction (0..1) of positions where `predictions` equals `labels` (both 1-D, the same length)."""
    p = _array("predictions", predictions, (1,), "a 1-D array [N]")
    y = _array("labels", labels, (1,), "a 1-D array [N]")
    _same_rows("predictions", p, "labels", y, "both must be [N] with the same N")
    return float(np.mean(p == y))


def macro_f1(predictions: npt.ArrayLike, labels: npt.ArrayLike, num_classes: int) -> float:
    """The mean per-class F1 over the classes that occur in `labels` or `predictions` (class ids in
    [0, num_classes)); a class absent from both has no F1 and is skipped, not counted as 0 or 1."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ConfigError(f"num_classes {short_repr(num_classes)} is not supported; use a positive integer")
    p = _array("predictions", predictions, (1,), "a 1-D array of class ids [N]", "int")
    y = _array("labels", labels, (1,), "a 1-D array of class ids [N]", "int")
    _same_rows("predictions", p, "labels", y, "both must be [N] with the same N")
    _in_range("predictions", p, int(num_classes))
    _in_range("labels", y, int(num_classes))
    tp = np.bincount(y[p == y], minlength=num_classes)
    fp = np.bincount(p, minlength=num_classes) - tp
    fn = np.bincount(y, minlength=num_classes) - tp
    present = (tp + fp + fn) > 0
    # 2PR/(P+R) = 2tp/(2tp+fp+fn); a present class has a nonzero denominator, and a 0/0 P or R (tp = 0) gives 0
    # either way, so this is the per-class F1 with the "0/0 is 0" convention.
    f1 = 2 * tp[present] / (2 * tp[present] + fp[present] + fn[present])
    return float(f1.mean())


def pearson(x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Pearson's correlation of two 1-D arrays; nan when either is constant (or holds NaN)."""
    a = _array("x", x, (1,), "a 1-D array [N]", "real")
    b = _array("y", y, (1,), "a 1-D array [N]", "real")
    _same_rows("x", a, "y", b, "both must be [N] with the same N")
    return _correlation(a, b)


def spearman(x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Spearman's rank correlation: Pearson's of the ranks, tied values sharing the mean of the ranks they span;
    nan when either input is constant (or holds NaN, which has no rank)."""
    a = _array("x", x, (1,), "a 1-D array [N]", "real")
    b = _array("y", y, (1,), "a 1-D array [N]", "real")
    _same_rows("x", a, "y", b, "both must be [N] with the same N")
    if np.isnan(a).any() or np.isnan(b).any():
        return _NAN
    return _correlation(_ranks(a), _ranks(b))


def _ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks; each run of equal values gets the mean of the ranks it spans."""
    order = np.argsort(x, kind="stable")
    ordered = x[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # where a run of equal values begins
    ends = np.r_[starts[1:], len(x)]  # exclusive; the run holds 1-based ranks starts+1 .. ends
    ranks = np.empty(len(x))
    ranks[order] = np.repeat((starts + 1 + ends) / 2.0, ends - starts)
    return ranks


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    if np.isnan(a).any() or np.isnan(b).any() or (a == a[0]).all() or (b == b[0]).all():
        return _NAN  # compared exactly: a centred constant is rounding noise, whose "correlation" is meaningless
    a, b = a - a.mean(), b - b.mean()
    a, b = a / np.abs(a).max(), b / np.abs(b).max()  # scaled first so the sums of squares cannot overflow
    r = np.dot(a, b) / math.sqrt(np.dot(a, a) * np.dot(b, b))
    return float(np.clip(r, -1.0, 1.0))  # rounding can step just past +-1


# --- entities (conlleval) ----------------------------------------------------------------------------------------

_PREFIXES = frozenset("BIES")
_Tag = tuple[str, str]  # (prefix, type); ("O", "") outside any entity


def parse_tag(tag: object) -> _Tag | None:
    """(prefix, type) of a tag, or None when it is not one (see the module docstring)."""
    if not isinstance(tag, str) or not tag:
        return None
    if tag == "O":
        return ("O", "")
    prefix, dash, kind = tag.partition("-")
    if not dash:
        return ("I", tag)  # IO scheme, as conlleval -r reads it
    return (prefix, kind) if prefix in _PREFIXES and kind else None


def tag_error(tag: object) -> str:
    return (f"tag {short_repr(tag)} is not a tag of a supported scheme; use 'O', a bare type ('PER', read as "
            "'I-PER') or B-/I-/E-/S- followed by the type (IOB1, IOB2/BIO, IOE, BIOES; map BILOU's L- to E-, U- to S-)")


def _ends(prev: _Tag, tag: _Tag) -> bool:
    """Whether a chunk open at `prev` ends before `tag`."""
    if prev[0] in ("E", "S"):
        return True
    if prev[0] in ("B", "I") and tag[0] in ("B", "S", "O"):
        return True
    return prev[0] != "O" and prev[1] != tag[1]


def _starts(prev: _Tag, tag: _Tag) -> bool:
    """Whether a chunk starts at `tag`. (Whenever it does, `_ends` also closes any chunk open at `prev`.)"""
    if tag[0] in ("B", "S"):
        return True
    if tag[0] in ("I", "E") and prev[0] in ("E", "S", "O"):
        return True
    return tag[0] != "O" and prev[1] != tag[1]


def _chunks(tags: Sequence[_Tag]) -> list[tuple[int, int, str]]:
    """The entities of one sentence as (first token, last token + 1, type)."""
    out: list[tuple[int, int, str]] = []
    start: int | None = None
    prev: _Tag = ("O", "")
    for i, tag in enumerate([*tags, ("O", "")]):  # the trailing O closes a chunk that runs to the end
        if start is not None and _ends(prev, tag):
            out.append((start, i, prev[1]))
            start = None
        if _starts(prev, tag):
            start = i
        prev = tag
    return out


def _score(pairs: Sequence[tuple[Sequence[_Tag], Sequence[_Tag]]]) -> dict[str, float]:
    """Micro precision/recall/F1 over entities and token accuracy, from (predicted, gold) parsed sentences."""
    found = true = correct = tokens = right_tags = 0
    for pred, gold in pairs:
        p, g = _chunks(pred), _chunks(gold)
        found, true = found + len(p), true + len(g)
        correct += len(set(p) & set(g))
        tokens += len(gold)
        right_tags += sum(a == b for a, b in zip(pred, gold))
    if tokens == 0:
        raise InputError("there are no tokens to score (every sentence is empty, or every label is "
                         f"{IGNORE_INDEX}); evaluate on at least one labelled token")
    precision = correct / found if found else 0.0
    recall = correct / true if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1),
            "accuracy": float(right_tags / tokens)}


def entity_scores(predicted: Sequence[Sequence[str]], gold: Sequence[Sequence[str]]) -> dict[str, float]:
    """conlleval's scores for sentences of tags: `precision`, `recall` and `f1` micro-averaged over entities (an
    entity is right only with the same type, start and end), and token-level `accuracy`. Chunking rules and the
    tag schemes accepted are in the module docstring; a precision or recall of 0/0 is 0."""
    for name, value in (("predicted", predicted), ("gold", gold)):
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise InputError(f"{name} must be a sequence of sentences, each a sequence of tag strings, got "
                             f"{short_repr(value)}")
    if len(predicted) != len(gold):
        raise InputError(f"predicted has {len(predicted)} sentences but gold has {len(gold)}; give both the same "
                         "sentences in the same order")
    if not gold:
        raise InputError("gold is empty (0 sentences); give at least one sentence of tags")
    cache: dict[str, _Tag | None] = {}

    def parse(name: str, s: int, sentence: Sequence[str]) -> list[_Tag]:
        if isinstance(sentence, (str, bytes)) or not isinstance(sentence, Sequence):
            raise InputError(f"{name}[{s}] must be a sequence of tag strings, got {short_repr(sentence)}")
        out = []
        for i, tag in enumerate(sentence):
            parsed = cache.get(tag) if isinstance(tag, str) else None
            if parsed is None:
                parsed = parse_tag(tag)  # None for a non-string too, so only strings reach the cache
                if parsed is None:
                    raise InputError(f"{name}[{s}][{i}]: {tag_error(tag)}")
                cache[tag] = parsed
            out.append(parsed)
        return out

    pairs = []
    for s, (p, g) in enumerate(zip(predicted, gold)):
        pair = parse("predicted", s, p), parse("gold", s, g)
        if len(pair[0]) != len(pair[1]):
            raise InputError(f"sentence {s} has {len(pair[0])} predicted tags but {len(pair[1])} gold tags; "
                             "predict one tag per gold token")
        pairs.append(pair)
    return _score(pairs)


# --- per task ----------------------------------------------------------------------------------------------------

def _diverged(logits: np.ndarray, names: tuple[str, ...]) -> dict[str, float] | None:
    return dict.fromkeys(names, _NAN) if np.isnan(logits).any() else None


def classification_metrics(logits: npt.ArrayLike, labels: npt.ArrayLike, problem_type: str) -> dict[str, float]:
    """Sequence classification's metrics by HF `problem_type`:

    - single_label_classification: logits [N, L], labels [N] class ids -> `accuracy`, `f1` (macro, over L classes);
    - regression: logits and labels [N] or [N, 1] -> `pearson`, `spearman`, `mse`;
    - multi_label_classification: logits and labels [N, L] (labels 0/1), a label predicted where its logit is > 0
      (probability > 0.5) -> `accuracy` (every label of the row right) and `f1` (micro, over all N*L decisions).
    """
    if problem_type == "single_label_classification":
        z = _array("logits", logits, (2,), "[N, num_labels] for single_label_classification", "real")
        y = _array("labels", labels, (1,), "[N] class ids for single_label_classification", "int")
        _same_rows("logits", z, "labels", y, "labels must be [N] for logits [N, num_labels]")
        _in_range("labels", y, z.shape[1])
        if (nan := _diverged(z, ("accuracy", "f1"))) is not None:
            return nan
        pred = z.argmax(axis=1)
        return {"accuracy": accuracy(pred, y), "f1": macro_f1(pred, y, z.shape[1])}
    if problem_type == "regression":
        z = _array("logits", logits, (1, 2), "[N] or [N, 1] for regression", "real")
        y = _array("labels", labels, (1, 2), "[N] or [N, 1] for regression", "real")
        for name, arr in (("logits", z), ("labels", y)):
            if arr.ndim == 2 and arr.shape[1] != 1:
                raise InputError(f"{name} has shape {arr.shape} but must be [N] or [N, 1] for regression "
                                 "(one score per row)")
        z, y = z.reshape(-1), y.reshape(-1)
        _same_rows("logits", z, "labels", y, "both must hold one score per row")
        return {"pearson": _correlation(z, y), "spearman": spearman(z, y), "mse": float(np.mean((z - y) ** 2))}
    if problem_type == "multi_label_classification":
        z = _array("logits", logits, (2,), "[N, num_labels] for multi_label_classification", "real")
        y = _array("labels", labels, (2,), "[N, num_labels] of 0/1 for multi_label_classification", "real")
        if z.shape != y.shape:
            raise InputError(f"logits has shape {z.shape} but labels has shape {y.shape}; "
                             "multi_label_classification needs both [N, num_labels]")
        if not np.isin(y, (0.0, 1.0)).all():
            pos = tuple(int(i) for i in np.argwhere(~np.isin(y, (0.0, 1.0)))[0])
            raise InputError(f"labels has value {y[pos]} at position {pos}; multi_label_classification labels "
                             "must be 0 or 1")
        if (nan := _diverged(z, ("accuracy", "f1"))) is not None:
            return nan
        pred, gold = z > 0, y == 1
        tp = int((pred & gold).sum())
        wrong = int((pred != gold).sum())  # fp + fn
        return {"accuracy": float(np.mean((pred == gold).all(axis=1))),
                "f1": float(2 * tp / (2 * tp + wrong)) if tp + wrong else 0.0}
    raise ConfigError(f"problem_type {short_repr(problem_type)} is not supported; use one of {PROBLEM_TYPES} "
                      "(albert_core.tasks.problem_type resolves an unset one)")


def token_classification_metrics(logits: npt.ArrayLike, labels: npt.ArrayLike,
                                 label_names: Sequence[str]) -> dict[str, float]:
    """Token classification: the argmax label of every token whose label is not -100, named by `label_names`
    (id -> tag), scored by `entity_scores` -> `precision`, `recall`, `f1`, `accuracy`."""
    z = _array("logits", logits, (3,), "[N, seq, num_labels]", "real")
    y = _array("labels", labels, (2,), f"[N, seq] label ids ({IGNORE_INDEX} where ignored)", "int")
    if y.shape != z.shape[:2]:
        raise InputError(f"labels has shape {y.shape} but logits has shape {z.shape}; labels must be [N, seq] "
                         f"= {z.shape[:2]}")
    if isinstance(label_names, (str, bytes)) or not isinstance(label_names, Sequence):
        raise ConfigError(f"label_names must be a sequence of tag strings (id -> tag), got {short_repr(label_names)}")
    if len(label_names) != z.shape[2]:
        raise ConfigError(f"label_names has {len(label_names)} names but logits has {z.shape[2]} labels "
                          f"(shape {z.shape}); give one name per label id")
    tags = [parse_tag(name) for name in label_names]
    for i, tag in enumerate(tags):
        if tag is None:
            raise ConfigError(f"label_names[{i}]: {tag_error(label_names[i])}")
    _in_range("labels", y, z.shape[2], ignore=IGNORE_INDEX)
    keep = y != IGNORE_INDEX
    if (nan := _diverged(z[keep], ("precision", "recall", "f1", "accuracy"))) is not None:
        return nan
    pred = z.argmax(axis=2)
    pairs = [([tags[i] for i in pred[n][keep[n]]], [tags[i] for i in y[n][keep[n]]]) for n in range(len(y))]
    return _score(pairs)


def choice_metrics(logits: npt.ArrayLike, labels: npt.ArrayLike) -> dict[str, float]:
    """Multiple choice: `accuracy` of the highest-scoring choice, logits [N, num_choices], labels [N]."""
    z = _array("logits", logits, (2,), "[N, num_choices]", "real")
    y = _array("labels", labels, (1,), "[N] choice ids", "int")
    _same_rows("logits", z, "labels", y, "labels must be [N] for logits [N, num_choices]")
    _in_range("labels", y, z.shape[1])
    if (nan := _diverged(z, ("accuracy",))) is not None:
        return nan
    return {"accuracy": accuracy(z.argmax(axis=1), y)}


def language_model_metrics(mean_loss: float) -> dict[str, float]:
    """Masked-LM `loss` (mean cross-entropy per predicted token, in nats) and `perplexity` = exp(loss); a loss too
    large for exp gives perplexity inf, and a NaN loss NaN."""
    if isinstance(mean_loss, (str, bytes, bool)):
        raise InputError(f"mean_loss must be a number, got {short_repr(mean_loss)}")
    try:
        loss = float(mean_loss)
    except (TypeError, ValueError):
        raise InputError(f"mean_loss must be a number, got {short_repr(mean_loss)}") from None
    if loss < 0:
        raise InputError(f"mean_loss is {loss} but a cross-entropy is never negative; pass the mean token loss")
    try:
        perplexity = math.exp(loss)
    except OverflowError:  # past ~709.78 nats
        perplexity = math.inf
    return {"loss": loss, "perplexity": perplexity}


def is_better(metric: str, new: float, old: float | None) -> bool:
    """Whether `new` beats `old` (None: no value yet) on `metric`, by `HIGHER_IS_BETTER`. NaN is never better, and
    anything not NaN beats a NaN; a tie is not better, so the earliest checkpoint with the best value is kept."""
    if metric not in HIGHER_IS_BETTER:
        raise ConfigError(f"metric {short_repr(metric)} is not known; use one of {sorted(HIGHER_IS_BETTER)}")
    new = float(new)
    if math.isnan(new):
        return False
    if old is None or math.isnan(old):
        return True
    return new > old if HIGHER_IS_BETTER[metric] else new < old
