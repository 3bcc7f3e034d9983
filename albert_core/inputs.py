"""Host-side validation of model inputs, identical for every backend and run before any backend sees them.

A framework cannot be trusted to reject bad ids: JAX's gather returns NaN or clamps, TensorFlow on GPU
returns zeros. So every id, mask and label is checked here, in NumPy, with a message naming the argument,
the offending value and its position, and the valid range.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .config import AlbertConfig
from .errors import InputError, InputTypeError
from .ops import IGNORE_INDEX
from .tasks import SPECS, TASKS, problem_type, task_spec

_Host = Callable[[Any], np.ndarray]


def _host(name: str, value: Any, to_host: _Host) -> np.ndarray:
    if isinstance(value, (str, bytes)):
        raise InputTypeError(f"{name} must be an array of numbers, got a {type(value).__name__}; "
                             "tokenize text with AlbertTokenizer first")
    try:
        arr = value if isinstance(value, np.ndarray) else to_host(value)
        arr = np.asarray(arr)
    except (TypeError, ValueError) as exc:
        raise InputTypeError(f"{name} could not be read as a rectangular array ({exc}); pass a NumPy array, a "
                             "nested list of equal-length rows (tokenizer: padding=True), or a tensor of the "
                             "backend") from None
    if arr.dtype == object:
        raise InputTypeError(f"{name} must be a rectangular array of numbers; got ragged or non-numeric data "
                             "(pad the rows to one length, e.g. with the tokenizer's padding=True)")
    return arr


def _ints(name: str, arr: np.ndarray) -> np.ndarray:
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise InputTypeError(f"{name} must hold integers, got dtype {arr.dtype}; ids and positions are never "
                             "floats (cast with .astype('int64') if they are whole numbers)")
    return arr.astype(np.int64, copy=False)


def _in_range(name: str, arr: np.ndarray, low: int, high: int, allowed: tuple[int, ...] = ()) -> None:
    """Every value in [low, high) or in `allowed`; names the first offender and its position."""
    bad = (arr < low) | (arr >= high)
    for value in allowed:
        bad &= arr != value
    if bad.any():
        pos = tuple(int(i) for i in np.argwhere(bad)[0])
        extra = f" or {list(allowed)}" if allowed else ""
        raise InputError(f"{name} has value {int(arr[pos])} at position {pos}, outside the valid range "
                         f"[{low}, {high}){extra}; {int(bad.sum())} value(s) are out of range")


def _shape(name: str, arr: np.ndarray, want: tuple[int, ...], what: str) -> None:
    if arr.shape != want:
        raise InputError(f"{name} has shape {arr.shape} but must have shape {want} ({what})")


def id_bounds(config: AlbertConfig) -> dict[str, int]:
    """The exclusive upper bound of each id input (all must be >= 0); compiled graphs that get symbolic tensors,
    which the host cannot read, assert these in the graph instead."""
    return {"input_ids": config.vocab_size, "token_type_ids": config.type_vocab_size,
            "position_ids": config.max_position_embeddings}


def check_one_input(input_ids: Any, inputs_embeds: Any) -> None:
    """Exactly one of `input_ids` and `inputs_embeds` is given."""
    if (input_ids is None) == (inputs_embeds is None):
        raise InputError("pass exactly one of input_ids and inputs_embeds "
                         f"(got {'both' if input_ids is not None else 'neither'})")


def prepare_inputs(config: AlbertConfig, task: str, to_host: _Host = np.asarray, *,
                   input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                   head_mask=None, inputs_embeds=None, labels=None, sentence_order_label=None,
                   start_positions=None, end_positions=None) -> dict[str, np.ndarray]:
    """Validate every given input and return them as NumPy arrays (ids as int64); absent ones are omitted."""
    c = config
    lead = 2 if task_spec(task).choices else 1  # batch dims before the sequence axis
    check_one_input(input_ids, inputs_embeds)
    bounds = id_bounds(c)
    out: dict[str, np.ndarray] = {}
    if input_ids is not None:
        ids = _ints("input_ids", _host("input_ids", input_ids, to_host))
        if ids.ndim == lead:  # one unbatched sequence
            ids = ids[None]
        if ids.ndim != lead + 1:
            raise InputError(f"input_ids must have {lead + 1} dimensions "
                             f"({'[batch, choices, seq]' if lead == 2 else '[batch, seq]'}), got shape {ids.shape}")
        _in_range("input_ids", ids, 0, bounds["input_ids"])
        out["input_ids"] = ids
        base_shape = ids.shape
    else:
        emb = _host("inputs_embeds", inputs_embeds, to_host)
        if not np.issubdtype(emb.dtype, np.floating):
            raise InputTypeError(f"inputs_embeds must be floating point, got dtype {emb.dtype}")
        if emb.ndim != lead + 2 or emb.shape[-1] != c.embedding_size:
            raise InputError(f"inputs_embeds must have shape [batch{', choices' if lead == 2 else ''}, seq, "
                             f"embedding_size={c.embedding_size}], got {emb.shape}")
        if not np.isfinite(emb).all():
            raise InputError("inputs_embeds contains NaN or Inf")
        out["inputs_embeds"] = emb
        base_shape = emb.shape[:-1]
    seq = base_shape[-1]
    if seq == 0 or 0 in base_shape:
        raise InputError(f"the input is empty (shape {base_shape}); every sequence needs at least one token "
                         "(the tokenizer always adds [CLS] and [SEP])")
    if seq > c.max_position_embeddings:
        raise InputError(f"sequence length {seq} exceeds max_position_embeddings={c.max_position_embeddings}; "
                         f"truncate to at most {c.max_position_embeddings} tokens (tokenizer: truncation=True)")

    if attention_mask is not None:
        mask = _host("attention_mask", attention_mask, to_host)
        _shape("attention_mask", mask, base_shape, "the same as the input ids")
        if mask.dtype != bool and not np.isin(mask, (0, 1)).all():
            pos = tuple(int(i) for i in np.argwhere(~np.isin(mask, (0, 1)))[0])
            raise InputError(f"attention_mask has value {mask[pos].item()!r} at position {pos}; it must hold only 0 "
                             "(padding) and 1 (token)")
        out["attention_mask"] = mask.astype(np.int64)
    if token_type_ids is not None:
        tt = _ints("token_type_ids", _host("token_type_ids", token_type_ids, to_host))
        _shape("token_type_ids", tt, base_shape, "the same as the input ids")
        _in_range("token_type_ids", tt, 0, bounds["token_type_ids"])
        out["token_type_ids"] = tt
    if position_ids is not None:
        pos = _ints("position_ids", _host("position_ids", position_ids, to_host))
        if pos.shape not in {base_shape, (seq,), (1, seq)}:
            raise InputError(f"position_ids has shape {pos.shape}; use {base_shape}, ({seq},) or (1, {seq})")
        _in_range("position_ids", pos, 0, bounds["position_ids"])
        out["position_ids"] = pos if pos.ndim > 1 else pos[None]
    if head_mask is not None:
        hm = _host("head_mask", head_mask, to_host).astype(np.float64)
        N, L = c.num_attention_heads, c.num_hidden_layers
        if hm.shape not in {(N,), (L, N)}:
            raise InputError(f"head_mask has shape {hm.shape}; use ({N},) for every layer or ({L}, {N}) per layer")
        if not np.isfinite(hm).all():
            raise InputError("head_mask contains NaN or Inf")
        out["head_mask"] = hm
    out.update(_labels(c, task, base_shape, to_host, labels, sentence_order_label, start_positions, end_positions))
    return out


def _labels(c: AlbertConfig, task: str, shape: tuple[int, ...], to_host: _Host, labels, sentence_order_label,
            start_positions, end_positions) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    spec = task_spec(task)
    given = {name: value for name, value in (("labels", labels), ("sentence_order_label", sentence_order_label),
                                             ("start_positions", start_positions), ("end_positions", end_positions))
             if value is not None}
    batch = shape[0]
    wrong = [name for name in given if name not in spec.labels]
    if wrong:
        owners = {t for name in wrong for t in TASKS if name in SPECS[t].labels}
        if len(owners) == 1 and "labels" not in wrong:
            verb = "apply" if len(wrong) > 1 else "applies"
            raise InputError(f"{'/'.join(wrong)} only {verb} to task {owners.pop()!r}, not {task!r}")
        use = f"; use {' and '.join(spec.labels)}" if spec.labels else ""
        raise InputError(f"task {task!r} takes no {' or '.join(wrong)}{use}")
    if not given:
        return out
    if len(given) < len(spec.labels):
        missing = " and ".join(name for name in spec.labels if name not in given)
        raise InputError(f"task {task!r} needs {missing} too: pass both {' and '.join(spec.labels)} (or neither) "
                         "to get a loss")
    if spec.label_kind == "span":
        for name in spec.labels:
            arr = _ints(name, _host(name, given[name], to_host)).reshape(-1)
            _shape(name, arr, (batch,), "one position per sequence")
            out[name] = arr  # out-of-range positions are clamped and ignored, as HF does
        return out
    if sentence_order_label is not None:  # pretraining
        sop = _ints("sentence_order_label", _host("sentence_order_label", sentence_order_label, to_host)).reshape(-1)
        _shape("sentence_order_label", sop, (batch,), "one label per sequence")
        _in_range("sentence_order_label", sop, 0, 2, (IGNORE_INDEX,))
        out["sentence_order_label"] = sop
    raw = _host("labels", labels, to_host)
    if spec.label_kind == "token":
        lab = _ints("labels", raw)
        _shape("labels", lab, shape, f"one label per token, {IGNORE_INDEX} to ignore a token")
        _in_range("labels", lab, 0, getattr(c, spec.token_label_bound), (IGNORE_INDEX,))
    elif spec.label_kind == "choice":
        lab = _ints("labels", raw).reshape(-1)
        _shape("labels", lab, (batch,), "one correct choice per example")
        _in_range("labels", lab, 0, shape[1], (IGNORE_INDEX,))
    else:  # "sequence"
        kind = problem_type(c.problem_type, c.num_labels, "int64" if np.issubdtype(raw.dtype, np.integer) else
                             "float32")
        if kind == "single_label_classification":
            lab = _ints("labels", raw).reshape(-1)
            _shape("labels", lab, (batch,), "one class id per sequence")
            _in_range("labels", lab, 0, c.num_labels, (IGNORE_INDEX,))
        else:
            lab = raw.astype(np.float32)
            want = {(batch,), (batch, 1)} if c.num_labels == 1 else {(batch, c.num_labels)}
            if lab.shape not in want:
                raise InputError(f"labels for {kind} have shape {lab.shape}; expected one of {sorted(want)}")
            if not np.isfinite(lab).all():
                raise InputError("labels contain NaN or Inf")
    out["labels"] = lab
    return out
