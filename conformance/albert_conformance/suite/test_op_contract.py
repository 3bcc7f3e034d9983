"""The op interface: every primitive implemented, every op with the contract's signature."""

from __future__ import annotations

import inspect

import pytest

from albert_core.ops import Ops, contract, missing_primitives

CONTRACT = contract()
KNOWN_DTYPES = {"float64", "float32", "bfloat16", "float16"}


def test_every_primitive_is_implemented(albert_backend):
    missing = missing_primitives(albert_backend.ops)
    assert not missing, f"backend {albert_backend.name!r} does not implement the primitives {missing}"


def test_backend_declares_itself(albert_backend, albert_backend_name):
    assert isinstance(albert_backend.ops, Ops), "Backend.ops must be an albert_core.Ops instance"
    assert albert_backend.name == albert_backend_name == albert_backend.ops.name, (
        f"names disagree: registered {albert_backend_name!r}, Backend.name {albert_backend.name!r}, "
        f"Ops.name {albert_backend.ops.name!r}")
    assert "float32" in albert_backend.dtypes, f"every backend must support float32; dtypes {albert_backend.dtypes}"
    assert set(albert_backend.dtypes) <= KNOWN_DTYPES, f"unknown dtypes in {albert_backend.dtypes}"


def _params(sig: inspect.Signature) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in sig.parameters.values()]


@pytest.mark.parametrize("op", [pytest.param(name, marks=pytest.mark.albert_op(name)) for name in sorted(CONTRACT)])
def test_op_signature(albert_backend, op):
    kind, expected = CONTRACT[op]
    impl = getattr(type(albert_backend.ops), op, None)
    assert callable(impl), f"op {op!r} ({kind}) is missing"
    got = inspect.signature(impl)
    assert _params(got) == _params(expected), (
        f"op {op!r} ({kind}) has signature {got}, the contract's is {expected}: parameter names, kinds and "
        "defaults must match so the core model can call every backend the same way")
