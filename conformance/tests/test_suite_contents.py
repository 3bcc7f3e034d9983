"""The suite covers the whole contract, its goldens are current, and its references are right."""

from __future__ import annotations

import numpy as np
import pytest
from albert_conformance import golden
from albert_conformance.cases import MODEL_CASES, model_case
from albert_conformance.compare import Mismatch
from albert_conformance.gradients import finite_difference, reference_loss
from albert_conformance.opcases import CASES

from albert_core.ops import contract


def test_every_contract_op_has_an_op_case():
    tested = {c.op for c in CASES} | {"dropout"}  # dropout is statistical: test_ops.test_dropout
    assert set(contract()) <= tested, f"ops without a conformance case: {sorted(set(contract()) - tested)}"


def test_cases_cover_every_task_activation_and_position_type():
    from albert_core.config import ACTIVATIONS, POSITION_EMBEDDING_TYPES
    from albert_core.layout import TASKS

    configs = [c.build_config() for c in MODEL_CASES]
    assert {c.task for c in MODEL_CASES} == set(TASKS)
    assert {c.hidden_act for c in configs} == set(ACTIVATIONS)
    assert {c.position_embedding_type for c in configs} == set(POSITION_EMBEDDING_TYPES)
    assert any(c.embedding_size == c.hidden_size for c in configs)
    assert any(c.num_hidden_groups > 1 and c.inner_group_num > 1 for c in configs)
    inputs = [c.build_inputs() for c in MODEL_CASES]
    for name in ("head_mask", "inputs_embeds", "attention_mask", "position_ids", "token_type_ids"):
        assert any(name in i for i in inputs), f"no model case passes {name}"


@pytest.mark.parametrize("case_name", [c.name for c in MODEL_CASES])
def test_golden_file_is_current(case_name):
    golden.check_golden_is_current(model_case(case_name))


def test_breaking_a_head_fails_its_golden(monkeypatch):
    """A masked-LM head that forgets its output bias must fail the golden check, naming the output."""
    import albert_core.model as model

    real = model.mlm_logits

    def without_bias(ops, c, p, seq):
        return real(ops, c, {**p, "predictions.bias": p["predictions.bias"] * 0.0}, seq)

    monkeypatch.setattr(model, "mlm_logits", without_bias)
    name = "masked-lm-relu-relative_key_query-embedding-equals-hidden"
    with pytest.raises(Mismatch, match=r"output '(loss|logits)'.*abs diff"):
        golden.check_golden("numpy", name)


def test_finite_differences_match_the_analytic_classifier_bias_gradient():
    """d(cross-entropy)/d(classifier.bias) is mean(softmax(logits) - onehot(labels)) over the kept labels."""
    from albert_conformance.cases import case_weights

    case = model_case("sequence-classification-silu-single-label")
    config = case.build_config()
    params = case_weights(config, case.task, case.seed)
    inputs = case.build_inputs()
    model = golden.load_case_model(case, "numpy", "float64")
    logits = np.asarray(model(**{k: v for k, v in inputs.items() if k != "labels"}).logits)
    labels = inputs["labels"]
    keep = labels != -100
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    onehot = np.eye(config.num_labels)[np.where(keep, labels, 0)]
    analytic = ((probs - onehot) * keep[:, None]).sum(0) / keep.sum()
    assert np.isfinite(reference_loss(case, params, inputs))
    for k in range(config.num_labels):
        fd = finite_difference(case, params, inputs, "classifier.bias", (k,))
        assert abs(fd - analytic[k]) < 1e-8, (k, fd, analytic[k])


def test_the_tutorial_quotes_the_example_backend_verbatim():
    """docs/writing-a-backend.md is the example backend's code: every file appears in it unchanged."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    tutorial = (root / "docs" / "writing-a-backend.md").read_text()
    example = root / "conformance" / "example_backend"
    files = [example / "pyproject.toml", *sorted((example / "albert_example_backend").glob("*.py"))]
    for path in files:
        assert path.read_text() in tutorial, f"docs/writing-a-backend.md does not quote {path.relative_to(root)}"


def test_the_documented_tolerance_table_is_the_real_one():
    from pathlib import Path

    from albert_conformance.tolerances import TOLERANCES

    doc = (Path(__file__).resolve().parents[2] / "docs" / "conformance.md").read_text()
    for (dtype, kind), tol in TOLERANCES.items():
        assert f"| {dtype} | {kind} | {tol.atol:g} | {tol.rtol:g} |" in doc, (dtype, kind)
