"""`export_onnx(model, task, output)`: the core model definition recorded by `GraphOps` into one ONNX file.

Inputs `input_ids`, `attention_mask`, `token_type_ids` (int64; [batch, sequence], or [batch, choices, sequence] for
multiple choice) with dynamic axes; outputs under the core's `ModelOutput` names (`hidden_states.0`, ... for
tuples). Every weight is one initializer under its HF name, so the shared layer group is stored once."""

from __future__ import annotations

import glob
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from albert_core.api import RANDOM_PREFIX, load
from albert_core.atomic_files import write_atomically
from albert_core.config import AlbertConfig
from albert_core.errors import ConfigError
from albert_core.model import forward
from albert_core.tasks import task_check, task_spec

from .graph import Graph, Sym
from .ops import GraphOps

DEFAULT_OPSET = 23  # Gelu is an ONNX op from 20, Attention from 23
OPSETS = range(17, 24)
EXPORT_DTYPES = ("float32", "float16")
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
EXTERNAL_DATA_BYTES = 1 << 30  # beyond this the weights go to FILE.data beside the graph (protobuf's 2 GiB cap)


def check_export(opset: Any, dtype: Any) -> None:
    if isinstance(opset, bool) or not isinstance(opset, int) or opset not in OPSETS:
        raise ConfigError(f"--opset {opset!r} is not supported; pass one of {OPSETS.start}..{OPSETS.stop - 1} "
                          f"(default {DEFAULT_OPSET})")
    if dtype not in EXPORT_DTYPES:
        raise ConfigError(f"--dtype {dtype!r} cannot be exported; pass one of {', '.join(EXPORT_DTYPES)}")


def build_graph(model: Any, task: str, *, opset: int = DEFAULT_OPSET, dtype: str = "float32",
                output_hidden_states: bool = False, output_attentions: bool = False) -> onnx.ModelProto:
    """The ONNX model of `model` (a folder, a preset, `random:...`, or a loaded model of any backend) for `task`."""
    task = task_check(task)
    check_export(opset, dtype)
    random = isinstance(model, str) and model.startswith(RANDOM_PREFIX)  # random weights: any head, also random
    loaded = model if hasattr(model, "numpy_params") else load(model, backend="numpy", task=task,
                                                                init_missing_heads=random)
    return graph_of(loaded.config, task, loaded.numpy_params(), opset=opset, dtype=dtype,
                    output_hidden_states=output_hidden_states, output_attentions=output_attentions)


def token_axes(task: str) -> tuple[str, ...]:
    """The dynamic axes of the token inputs."""
    return ("batch", "choices", "sequence") if task_spec(task).choices else ("batch", "sequence")


def graph_of(config: AlbertConfig, task: str, weights: Mapping[str, np.ndarray], *, opset: int = DEFAULT_OPSET,
             dtype: str = "float32", output_hidden_states: bool = False, output_attentions: bool = False,
             inputs: Mapping[str, tuple[str, tuple[int | str, ...]]] | None = None) -> onnx.ModelProto:
    """`forward` for `task` recorded as an ONNX model, with `weights` (HF names and layout) as its initializers.
    `inputs`: name -> (dtype, shape with named dynamic axes); by default `INPUT_NAMES`, int64 token tensors."""
    graph = Graph(opset)
    ops = GraphOps(graph)
    params = {name: Sym(graph, graph.initializer(name, np.asarray(w, dtype)), dtype, np.shape(w))
              for name, w in weights.items()}
    spec = inputs if inputs is not None else {name: ("int64", token_axes(task)) for name in INPUT_NAMES}
    inputs = {name: graph.input(name, kind, shape) for name, (kind, shape) in spec.items()}
    out = forward(ops, config, task, params, **inputs, output_hidden_states=output_hidden_states,
                  output_attentions=output_attentions)
    for key, value in out.items():
        for name, item in ([(f"{key}.{i}", v) for i, v in enumerate(value)] if isinstance(value, tuple)
                           else [(key, value)]):
            graph.output(name, item)
    built = graph.model(f"albert-{task}")
    onnx.checker.check_model(built)
    return built


def export_onnx(model: Any, task: str, output: str | os.PathLike, **options: Any) -> Path:
    """Write `build_graph(model, task, **options)` to `output`, replaced only when whole. Weights over 1 GiB go to
    ONNX external data, `OUTPUT.<token>.data`: a new token each time, so that a crash while writing never touches
    the data an older graph at `output` reads (that older data is removed once the new graph is in place)."""
    built = build_graph(model, task, **options)
    path = Path(output)
    if built.ByteSize() <= EXTERNAL_DATA_BYTES:
        write_atomically(path, built.SerializeToString())
        return path
    old = list(path.parent.glob(f"{glob.escape(path.name)}.*.data"))
    data = f"{path.name}.{secrets.token_hex(4)}.data"
    staged = path.with_name(f"{data}.onnx")  # the graph and its new data beside the old ones ...
    onnx.save_model(built, str(staged), save_as_external_data=True, all_tensors_to_one_file=True, location=data)
    os.replace(staged, path)  # ... then the graph into place, in one rename
    for stale in old:
        stale.unlink(missing_ok=True)
    return path
