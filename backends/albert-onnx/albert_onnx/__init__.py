"""ONNX for albert-core: `export_onnx` records the core model definition as an ONNX graph through a graph-building
`Ops` (`GraphOps`), and the "onnxruntime" backend runs it in onnxruntime. See docs/onnx.md."""

from .export import build_graph, export_onnx

__all__ = ["build_graph", "export_onnx"]
