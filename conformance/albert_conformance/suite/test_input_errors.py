"""Bad inputs raise the core's errors (validated on the host), given as NumPy arrays or as native tensors."""

from __future__ import annotations

import numpy as np
import pytest

import albert_core
from albert_conformance.cases import ModelCase
from albert_conformance.golden import load_case_model

IDS = np.array([[2, 5, 9, 3], [2, 7, 3, 0]])
MASK = np.array([[1, 1, 1, 1], [1, 1, 1, 0]])

# (label, task, inputs, error class, text the message must contain)
BAD_INPUTS = [
    ("id-too-large", "base", dict(input_ids=np.array([[2, 40, 3]])), albert_core.InputError, "input_ids has value 40"),
    ("negative-id", "base", dict(input_ids=np.array([[2, -1, 3]])), albert_core.InputError, "input_ids has value -1"),
    ("float-ids", "base", dict(input_ids=IDS.astype(np.float32)), albert_core.InputTypeError, "input_ids must hold"),
    ("ids-and-embeds", "base", dict(input_ids=IDS, inputs_embeds=np.zeros((2, 4, 8))), albert_core.InputError,
     "exactly one of input_ids and inputs_embeds"),
    ("no-input", "base", dict(), albert_core.InputError, "exactly one of input_ids and inputs_embeds"),
    ("empty", "base", dict(input_ids=np.zeros((1, 0), np.int64)), albert_core.InputError, "empty"),
    ("mask-shape", "base", dict(input_ids=IDS, attention_mask=MASK[:, :3]), albert_core.InputError,
     "attention_mask has shape"),
    ("mask-value-2", "base", dict(input_ids=IDS, attention_mask=MASK * 2), albert_core.InputError,
     "attention_mask has value 2"),
    ("token-type-range", "base", dict(input_ids=IDS, token_type_ids=np.full_like(IDS, 2)), albert_core.InputError,
     "token_type_ids has value 2"),
    ("position-range", "base", dict(input_ids=IDS, position_ids=np.array([[0, 1, 2, 24]])), albert_core.InputError,
     "position_ids has value 24"),
    ("head-mask-shape", "base", dict(input_ids=IDS, head_mask=np.ones(3)), albert_core.InputError,
     "head_mask has shape"),
    ("embeds-width", "base", dict(inputs_embeds=np.zeros((2, 4, 5))), albert_core.InputError, "embedding_size=8"),
    ("embeds-nan", "base", dict(inputs_embeds=np.full((1, 2, 8), np.nan)), albert_core.InputError, "NaN"),
    ("mlm-label-range", "masked-lm", dict(input_ids=IDS, labels=np.full_like(IDS, 40)), albert_core.InputError,
     "labels has value 40"),
    ("class-label-range", "sequence-classification", dict(input_ids=IDS, labels=np.array([0, 2])),
     albert_core.InputError, "labels has value 2"),
    ("labels-on-base", "base", dict(input_ids=IDS, labels=np.array([0, 1])), albert_core.InputError,
     "takes no labels"),
    ("half-qa-positions", "question-answering", dict(input_ids=IDS, start_positions=np.array([0, 1])),
     albert_core.InputError, "both start_positions and end_positions"),
    ("choices-rank", "multiple-choice", dict(input_ids=IDS[0]), albert_core.InputError, "[batch, choices, seq]"),
    ("ragged", "base", dict(input_ids=[[2, 5, 3], [2, 3]]), albert_core.InputTypeError, "rectangular"),
    ("text", "base", dict(input_ids="hello world"), albert_core.InputTypeError, "tokenize text"),
]


def _model(backend: str, task: str):
    return load_case_model(ModelCase(f"errors-{task}", task, {}, lambda r, c: {}), backend)


@pytest.mark.parametrize("native", [False, True], ids=["numpy-inputs", "native-inputs"])
@pytest.mark.parametrize("label, task, inputs, error, text", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_raises_the_cores_error(albert_backend, albert_backend_name, label, task, inputs, error, text,
                                          native):
    model = _model(albert_backend_name, task)
    if native:
        inputs = {k: albert_backend.ops.asarray(v) if isinstance(v, np.ndarray) else v for k, v in inputs.items()}
    with pytest.raises(error) as info:
        model(**inputs)
    assert text in str(info.value), f"{label}: the message {str(info.value)!r} does not say {text!r}"
