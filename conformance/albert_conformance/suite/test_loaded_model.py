"""What `albert_core.load` returns satisfies the `albert_core.LoadedModel` protocol on every backend, for every task:
the pipelines, `albert_core.save` and the CLI rely on exactly these members and nothing framework-specific."""

from __future__ import annotations

import numpy as np
import pytest

import albert_core
from albert_conformance.cases import MODEL_CASES
from albert_conformance.golden import load_case_model, output_arrays
from albert_core.layout import param_table

ONE_CASE_PER_TASK = list({case.task: case for case in reversed(MODEL_CASES)}.values())


@pytest.mark.parametrize("case", ONE_CASE_PER_TASK, ids=[case.task for case in ONE_CASE_PER_TASK])
def test_loaded_model_satisfies_the_protocol(albert_backend, albert_backend_name, case):
    model = load_case_model(case, albert_backend_name, "float32")
    missing = [name for name in ("config", "task", "load_info", "dtype", "ops", "numpy_params", "__call__")
               if not hasattr(model, name)]
    assert not missing and isinstance(model, albert_core.LoadedModel), (
        f"{type(model).__name__} from backend {albert_backend_name!r} lacks {missing} of albert_core.LoadedModel")
    assert model.task == case.task and model.config == case.build_config()
    assert model.dtype == "float32", f"dtype is {model.dtype!r}, loaded as 'float32'"
    assert isinstance(model.ops, albert_core.Ops), f"model.ops is a {type(model.ops).__name__}, not an albert_core.Ops"
    assert isinstance(model.load_info, albert_core.LoadInfo) and model.load_info.source.startswith("conformance:")
    params = model.numpy_params()
    want = {spec.name: spec.shape for spec in param_table(case.build_config(), case.task)}
    assert {name: value.shape for name, value in params.items()} == want, "numpy_params: names or shapes differ"
    assert all(value.dtype == np.float32 for value in params.values()), "numpy_params must be float32 host arrays"
    outputs = output_arrays(model.ops, model(**case.build_inputs()))  # model.ops.to_numpy reads its outputs
    assert outputs and all(np.isfinite(value).all() for value in outputs.values())
