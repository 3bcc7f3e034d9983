"""`albert export onnx MODEL --task TASK --output FILE`: the model definition as an ONNX graph (the albert-onnx
distribution), for onnxruntime or any ONNX runtime. See docs/onnx.md."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import ConfigError
from ..tasks import TASKS


def add_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="export a model to another format (onnx)",
                       description="Export the model definition with a checkpoint's weights: an ONNX graph with "
                                   "dynamic batch and sequence axes, each shared weight stored once.")
    p.add_argument("format", choices=["onnx"], help="what to write")
    p.add_argument("model", help="model folder, preset name, or random:<preset>")
    p.add_argument("--task", required=True, choices=TASKS, help="the head to export")
    p.add_argument("--output", required=True, help="the .onnx file to write (replaced only when complete)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset, 17 to 23 (default 23)")
    p.add_argument("--dtype", default="float32", help="float32 (default) or float16 weights and compute")
    p.add_argument("--output-hidden-states", action="store_true", help="add every layer's hidden states")
    p.add_argument("--output-attentions", action="store_true", help="add every layer's attention probabilities")


def cmd_export(args: argparse.Namespace) -> int:
    try:
        from albert_onnx.export import DEFAULT_OPSET, export_onnx
    except ImportError as exc:
        raise ConfigError(f"exporting to ONNX needs the albert-onnx distribution ({exc}); pip install albert-onnx "
                          "onnx onnxruntime") from None
    path = export_onnx(args.model, args.task, args.output, opset=args.opset or DEFAULT_OPSET, dtype=args.dtype,
                       output_hidden_states=args.output_hidden_states, output_attentions=args.output_attentions)
    print(json.dumps({"output": str(path), "bytes": path.stat().st_size}))
    return 0


HANDLERS = {"export": cmd_export}
