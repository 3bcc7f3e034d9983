"""Property-based tests (hypothesis) of model inputs on the backend under test: random shapes, dtypes, values,
masks, positions, head masks and labels for every head, given as NumPy arrays, nested lists or the backend's own
tensors.

The property: **a valid input gives finite outputs equal to the NumPy reference's (float64) at the suite's model
tolerance, loss included; an invalid one (each mutation below makes exactly one thing wrong) raises the core's
`InputError` or `InputTypeError` before the backend runs.** The examples are derandomized (the same on every run);
HYPOTHESIS_PROFILE=fuzz makes them random and HYPOTHESIS_MAX_EXAMPLES sets how many (`nox -s fuzz`).
"""

from __future__ import annotations

import os
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from albert_conformance.cases import ModelCase, make_config
from albert_conformance.compare import assert_close
from albert_conformance.golden import load_case_model, output_arrays
from albert_conformance.tolerances import tolerance
from albert_core import TASKS, InputError, InputTypeError
from albert_core.tasks import task_spec

_FUZZ = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"
FUZZ_SETTINGS = settings(max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "500")) if _FUZZ else 40,
                         derandomize=not _FUZZ, database=None, deadline=None, print_blob=True,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# On the suite's tiny shape (vocab 40, 24 positions, 2 heads, 2 layers); 3 labels where the head takes any number.
NUM_LABELS = 3
ID_DTYPES = ["int64", "int32", "int16", "uint8", "uint16"]
MASK_DTYPES = ["int64", "int32", "bool", "float32", "uint8"]


def _overrides(task: str) -> dict[str, int]:
    return {"num_labels": task_spec(task).num_labels or NUM_LABELS}


def _case(task: str) -> ModelCase:
    return ModelCase(f"fuzz-inputs-{task}", task, _overrides(task), lambda r, c: {})


@pytest.fixture(scope="module")
def models(albert_backend_name):
    """task -> (the backend's model, the float64 NumPy reference), loaded on first use."""
    cache: dict[str, tuple[Any, Any]] = {}

    def get(task: str):
        if task not in cache:
            cache[task] = (load_case_model(_case(task), albert_backend_name),
                           load_case_model(_case(task), "numpy", dtype="float64"))
        return cache[task]

    return get


def ints(draw, dtype: str, shape: tuple[int, ...], low: int, high: int) -> np.ndarray:
    return draw(hnp.arrays(dtype, shape, elements=st.integers(low, high - 1)))


@st.composite
def valid_inputs(draw, task: str) -> dict[str, Any]:
    c, spec = make_config(**_overrides(task)), task_spec(task)
    batch, seq = draw(st.integers(1, 2)), draw(st.sampled_from([1, 3, 6]))
    shape = (batch, 2, seq) if spec.choices else (batch, seq)
    out: dict[str, Any] = {"input_ids": ints(draw, draw(st.sampled_from(ID_DTYPES)), shape, 0, c.vocab_size)}
    if draw(st.booleans()):
        out["attention_mask"] = ints(draw, "int64", shape, 0, 2).astype(draw(st.sampled_from(MASK_DTYPES)))
    if draw(st.booleans()):
        out["token_type_ids"] = ints(draw, draw(st.sampled_from(ID_DTYPES)), shape, 0, c.type_vocab_size)
    if draw(st.booleans()):
        positions = draw(st.sampled_from([shape, (seq,), (1, seq)] if not spec.choices else [shape]))
        out["position_ids"] = ints(draw, "int64", positions, 0, c.max_position_embeddings)
    if draw(st.booleans()):
        heads = draw(st.sampled_from([(c.num_attention_heads,), (c.num_hidden_layers, c.num_attention_heads)]))
        out["head_mask"] = draw(hnp.arrays("float32", heads, elements=st.sampled_from([0.0, 0.5, 1.0])))
    if spec.labels and draw(st.booleans()):
        out.update(draw(valid_labels(task, shape)))
    return out


@st.composite
def valid_labels(draw, task: str, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    c, spec, batch = make_config(**_overrides(task)), task_spec(task), shape[0]
    ignore = st.just(-100)
    if spec.label_kind == "token":
        bound = getattr(c, spec.token_label_bound)
        out = {"labels": draw(hnp.arrays("int64", shape, elements=st.integers(0, bound - 1) | ignore))}
        if "sentence_order_label" in spec.labels:
            out["sentence_order_label"] = draw(hnp.arrays("int64", (batch,), elements=st.integers(0, 1)))
        return out
    if spec.label_kind == "span":  # out-of-range positions are clamped and ignored, as HF does: valid
        return {name: draw(hnp.arrays("int64", (batch,), elements=st.integers(-3, shape[-1] + 3)))
                for name in spec.labels}
    bound = shape[1] if spec.label_kind == "choice" else c.num_labels
    return {"labels": draw(hnp.arrays("int64", (batch,), elements=st.integers(0, bound - 1) | ignore))}


# Each mutation makes one thing wrong in a valid input (in place) and returns what the message must mention.

def m_id_out_of_range(draw, inputs, task):
    ids = inputs["input_ids"].astype(np.int64)
    ids.flat[draw(st.integers(0, ids.size - 1))] = draw(st.sampled_from([40, 41, 10**6, -1, -(2**40)]))
    inputs["input_ids"] = ids
    return "input_ids"


def m_id_dtype(draw, inputs, task):
    kind = draw(st.sampled_from(["float32", "float64", "bool", "complex64"]))
    inputs["input_ids"] = inputs["input_ids"].astype(kind)
    return "input_ids"


def m_id_rank(draw, inputs, task):
    ids = inputs["input_ids"]
    inputs["input_ids"] = ids[..., None] if draw(st.booleans()) else ids[None, None]
    return "input_ids"


def m_too_long_or_empty(draw, inputs, task):
    ids = inputs["input_ids"]
    seq = draw(st.sampled_from([0, 25, 40]))
    inputs.clear()
    inputs["input_ids"] = np.ones((*ids.shape[:-1], seq), np.int64)
    return "input" if seq == 0 else "max_position_embeddings"


def m_mask(draw, inputs, task):
    ids = inputs["input_ids"]
    mask = np.ones(ids.shape, np.float32)
    if draw(st.booleans()):
        mask.flat[draw(st.integers(0, mask.size - 1))] = draw(st.sampled_from([2.0, -1.0, 0.5, np.nan]))
    else:
        mask = mask[..., :-1] if ids.shape[-1] > 1 else np.ones((*ids.shape, 2))
    inputs["attention_mask"] = mask
    return "attention_mask"


def m_token_types(draw, inputs, task):
    ids = inputs["input_ids"]
    inputs["token_type_ids"] = np.full(ids.shape, draw(st.sampled_from([2, 3, -1])), np.int64)
    return "token_type_ids"


def m_positions(draw, inputs, task):
    ids = inputs["input_ids"]
    if draw(st.booleans()):
        inputs["position_ids"] = np.full(ids.shape, draw(st.sampled_from([24, 100, -1])), np.int64)
    else:
        inputs["position_ids"] = np.zeros((ids.shape[-1] + 1,), np.int64)
    return "position_ids"


def m_head_mask(draw, inputs, task):
    inputs["head_mask"] = draw(st.sampled_from([np.ones(3), np.ones((3, 2)), np.full(2, np.nan), np.full(2, np.inf)]))
    return "head_mask"


def m_labels(draw, inputs, task):
    spec, ids = task_spec(task), inputs["input_ids"]
    batch = ids.shape[0] if ids.ndim > 1 else 1
    if not spec.labels:
        inputs["labels"] = np.zeros(batch, np.int64)
        return "labels"
    if spec.label_kind == "span":
        inputs[spec.labels[0]] = np.zeros(batch, np.int64)
        inputs.pop(spec.labels[1], None)
        return spec.labels[1]
    inputs.update({name: np.zeros(batch, np.int64) for name in spec.labels[1:]})  # sentence_order_label too
    bound = {"token": 40 if spec.token_label_bound == "vocab_size" else NUM_LABELS, "choice": 2,
             "sequence": NUM_LABELS}
    shape = ids.shape if spec.label_kind == "token" else (batch,)
    inputs["labels"] = np.full(shape, draw(st.sampled_from([bound[spec.label_kind], -2, 10**9])), np.int64)
    return "labels"


def m_not_arrays(draw, inputs, task):
    kind = draw(st.sampled_from(["text", "ragged", "object", "both", "neither", "embeds"]))
    if kind == "text":
        inputs["input_ids"] = "hello world"
    elif kind == "ragged":
        inputs["input_ids"] = [[2, 5, 3], [2, 3]]
    elif kind == "object":
        inputs["input_ids"] = np.array([[2, None, 3]], dtype=object)
    elif kind == "both":
        inputs["inputs_embeds"] = np.zeros((*inputs["input_ids"].shape, 8), np.float32)
    elif kind == "neither":
        del inputs["input_ids"]
    else:
        ids = inputs.pop("input_ids")
        inputs["inputs_embeds"] = np.full((*ids.shape, draw(st.sampled_from([8, 5]))),
                                          draw(st.sampled_from([np.nan, np.inf, 0.0])), np.float32)
        if inputs["inputs_embeds"].shape[-1] == 8 and np.isfinite(inputs["inputs_embeds"]).all():
            inputs["inputs_embeds"] = inputs["inputs_embeds"].astype(np.int64)
    return "input"


MUTATIONS = [m_id_out_of_range, m_id_dtype, m_id_rank, m_too_long_or_empty, m_mask, m_token_types, m_positions,
             m_head_mask, m_labels, m_not_arrays]


NATIVE_DTYPES = {"int64", "int32", "float32", "float64", "bool"}  # what every framework's tensors hold


def as_given(draw, inputs: dict[str, Any], ops) -> dict[str, Any]:
    """The arrays as a user might pass them: NumPy, nested lists, or the backend's tensors."""
    how = draw(st.sampled_from(["numpy", "numpy", "lists", "native"]))
    if how == "numpy":
        return inputs
    if how == "lists":
        return {k: v.tolist() if isinstance(v, np.ndarray) and v.dtype != object else v for k, v in inputs.items()}
    return {k: ops.asarray(v) if isinstance(v, np.ndarray) and v.dtype.name in NATIVE_DTYPES else v
            for k, v in inputs.items()}


def nothing_to_learn(task: str, inputs: dict[str, Any]) -> bool:
    """Every label ignored (-100, or a span position past the sequence): the mean loss over no label is NaN, in HF's
    classes and the reference alike."""
    spec = task_spec(task)
    if spec.label_kind == "span":
        seq = np.asarray(inputs["input_ids"]).shape[-1]
        return any((np.asarray(inputs[name]) >= seq).all() for name in spec.labels)
    return "labels" in inputs and bool((np.asarray(inputs["labels"]) == -100).all())


@FUZZ_SETTINGS
@given(task=st.sampled_from(sorted(TASKS)), data=st.data())
def test_valid_inputs_match_the_reference(albert_backend, models, task, data):
    inputs = data.draw(valid_inputs(task))
    model, reference = models(task)
    given_inputs = as_given(data.draw, inputs, albert_backend.ops)
    with np.errstate(invalid="ignore"):  # NumPy warns of the NaN loss of nothing_to_learn
        want = output_arrays(reference.ops, reference(**inputs))
        got = output_arrays(albert_backend.ops, model(**given_inputs))
    assert set(got) == set(want)
    tol = tolerance("float32", "model")
    for key, value in got.items():
        if key == "loss" and nothing_to_learn(task, inputs):
            assert np.isnan(value) and np.isnan(want[key]), (value, want[key])
            continue
        assert np.isfinite(value).all(), f"{task}: {key} is not finite for {inputs}"
        assert_close(value, want[key], tol, f"{task}: {key}")


@FUZZ_SETTINGS
@given(task=st.sampled_from(sorted(TASKS)), mutation=st.sampled_from(MUTATIONS), data=st.data())
def test_invalid_inputs_raise_the_cores_error(albert_backend, models, task, mutation, data):
    inputs = data.draw(valid_inputs(task))
    mentioned = mutation(data.draw, inputs, task)
    model, _ = models(task)
    with pytest.raises((InputError, InputTypeError)) as info:
        model(**as_given(data.draw, inputs, albert_backend.ops))
    assert mentioned in str(info.value), f"{mutation.__name__}: {info.value}"
