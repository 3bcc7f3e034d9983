"""The `onnx` section: albert-core's exported graph against HF's `AlbertModel` exported with `torch.onnx.export`, all
run in onnxruntime on the CPU with the same session options.

Graphs (albert-base-v2 shape, the benchmark's random weights, float32, dynamic batch and sequence axes, exported
once per run, each export timed):
- `albert-core`: `albert_onnx.export_onnx(folder, "base", ...)`, the one model definition recorded by `GraphOps`;
- `hf-torchscript`, `hf-dynamo`: HF's class (eager attention, the exportable one) through `torch.onnx.export`
  with `dynamo=False` / `dynamo=True` (onnxscript), opset 20, weights inside the file;
- each HF graph also after onnxruntime's transformer optimizer (`optimize_model(model_type="bert")`: fused
  attention, SkipLayerNormalization, FastGelu): `...+ort-opt`.
Per shape (the last row of the batch half padded) every session runs round-robin after warm-up
(`alternate`); the outputs are compared with ours. Then our graph runs once more under onnxruntime's profiler: the
share of each op type in the kernels' time says what is left to win.
"""

from __future__ import annotations

import collections
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .common import WORK_DIR, alternate, summarize, worker_main
from .flops import albert_forward_flops

OURS = "albert-core"
GEMM = "ort-matmul"  # onnxruntime's float32 MatMul on the FFN's shapes: the rate a GEMM-bound graph cannot beat
TARGET = 0.9  # ours / the best HF graph, at every shape


def _hf_export(folder: Path, path: Path, dynamo: bool) -> None:
    import torch
    import transformers
    from albert_onnx.export import INPUT_NAMES as INPUTS  # the same input names as our graph

    transformers.logging.set_verbosity_error()
    model = transformers.AlbertModel.from_pretrained(folder, attn_implementation="eager").eval()
    ids = torch.ones((2, 16), dtype=torch.int64)
    example = (ids, torch.ones_like(ids), torch.zeros_like(ids))
    names = dict(input_names=list(INPUTS), output_names=["last_hidden_state", "pooler_output"], opset_version=20)
    if dynamo:
        batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence", max=model.config.max_position_embeddings)
        torch.onnx.export(model, example, str(path), dynamo=True, external_data=False,
                          dynamic_shapes=tuple({0: batch, 1: seq} for _ in INPUTS), **names)
    else:
        torch.onnx.export(model, example, str(path), dynamo=False,
                          dynamic_axes={n: {0: "batch", 1: "sequence"} for n in INPUTS}, **names)


def _ort_optimized(source: Path, path: Path, config: Any) -> None:
    from onnxruntime.transformers import optimizer

    model = optimizer.optimize_model(str(source), model_type="bert", num_heads=config.num_attention_heads,
                                     hidden_size=config.hidden_size)
    model.save_model_to_file(str(path))


def export_graphs(folder: Path, work: Path) -> dict[str, dict[str, Any]]:
    """Every graph of the comparison under `work`: name -> {path, bytes, export_s} (or {error})."""
    import albert_onnx

    from albert_core import AlbertConfig

    config = AlbertConfig.from_json_file(folder / "config.json")
    steps = {OURS: lambda p: albert_onnx.export_onnx(str(folder), "base", p),
             "hf-torchscript": lambda p: _hf_export(folder, p, dynamo=False),
             "hf-dynamo": lambda p: _hf_export(folder, p, dynamo=True)}
    for hf in ("hf-torchscript", "hf-dynamo"):
        steps[f"{hf}+ort-opt"] = lambda p, hf=hf: _ort_optimized(work / f"{hf}.onnx", p, config)
    graphs: dict[str, dict[str, Any]] = {}
    for name, step in steps.items():
        path = work / f"{name}.onnx"
        if "+" in name and "error" in graphs[name.split("+")[0]]:
            graphs[name] = {"error": "its source graph failed to export"}
            continue
        start = time.perf_counter()
        try:
            step(path)
        except Exception as error:  # one failed exporter must not hide the others' numbers
            graphs[name] = {"error": f"{type(error).__name__}: {error}"[-500:]}
            continue
        size = sum(p.stat().st_size for p in work.iterdir() if p.name.startswith(path.name))  # + external data
        graphs[name] = {"path": str(path), "bytes": size, "export_s": round(time.perf_counter() - start, 2)}
    return graphs


def _session(path: str | bytes, threads: int, profile: bool = False) -> Any:
    """An onnxruntime CPU session of a graph file (or serialized graph), the same options for every graph."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    if profile:
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tempfile.mkdtemp(prefix="albert-onnx-profile-")) / "ours")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def _gemm_runner(m: int, hidden: int, inter: int, layers: int, threads: int) -> tuple[Any, int]:
    """`layers` FFN matmul pairs, `x @ W1 @ W2` (the weights initializers, as in every graph), as one graph timed
    like the others; returns (runner, its FLOPs)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array((rng.standard_normal(shape) / np.sqrt(shape[0])).astype(np.float32), name)
               for shape, name in (((hidden, inter), "w1"), ((inter, hidden), "w2"))]
    nodes, value = [], "x"
    for i in range(layers):
        nodes += [helper.make_node("MatMul", [value, "w1"], [f"h{i}"]),
                  helper.make_node("MatMul", [f"h{i}", "w2"], [f"y{i}"])]
        value = f"y{i}"
    graph = helper.make_graph(nodes, "ffn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, hidden])],
                              [helper.make_tensor_value_info(value, TensorProto.FLOAT, [m, hidden])], weights)
    session = _session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]).SerializeToString(),
                       threads)
    x = rng.standard_normal((m, hidden), dtype=np.float32)
    return (lambda: session.run(None, {"x": x})[0]), layers * 2 * 2 * m * hidden * inter


def _feed(batch: int, seq: int) -> dict[str, np.ndarray]:
    ids = np.random.default_rng(batch * 1000 + seq).integers(5, 30000, (batch, seq)).astype(np.int64)
    mask = np.ones_like(ids)
    mask[-1, seq // 2:] = 0  # the last row half padded (at batch 1 too: every graph then runs its mask path)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def profile(path: str, feed: dict[str, np.ndarray], threads: int, runs: int = 3) -> dict[str, Any]:
    """Share of each op type in the kernels' time, from onnxruntime's profiler, and the kernels' milliseconds per
    call (warm-up call included)."""
    session = _session(path, threads, profile=True)
    session.run(["last_hidden_state"], feed)
    for _ in range(runs):
        session.run(["last_hidden_state"], feed)
    trace = Path(session.end_profiling())
    per_op: collections.Counter[str] = collections.Counter()
    calls = 0
    for event in json.loads(trace.read_text()):
        if event.get("cat") == "Session" and event.get("name") == "model_run":
            calls += 1
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            per_op[event["args"]["op_name"]] += event["dur"]
    trace.unlink()
    total = sum(per_op.values())
    return {"kernel_ms_per_call": total / 1e3 / max(calls, 1), "calls": calls,
            "share": {op: round(us / total, 4) for op, us in per_op.most_common()}}


def _measure(args: dict[str, Any]) -> dict[str, Any]:
    import onnxruntime as ort

    from albert_core import AlbertConfig

    folder = Path(args["folder"])
    config = AlbertConfig.from_json_file(folder / "config.json")
    work = WORK_DIR / "onnx"
    work.mkdir(parents=True, exist_ok=True)
    for stale in work.iterdir():
        stale.unlink()
    threads = os.cpu_count() or 1
    graphs = export_graphs(folder, work)
    weights = (folder / "model.safetensors").stat().st_size
    for g in graphs.values():
        if "bytes" in g:
            g["ratio_to_safetensors"] = round(g["bytes"] / weights, 4)
    ready = {name: g for name, g in graphs.items() if "path" in g}
    sessions = {name: _session(g["path"], threads) for name, g in ready.items()}
    shapes = []
    for batch, seq, reps in args["shapes"]:
        feed = _feed(batch, seq)
        runners = {name: (lambda s=s, feed=feed: s.run(["last_hidden_state"], feed)[0])
                   for name, s in sessions.items()}
        want = runners[OURS]()
        diffs = {name: float(np.abs(run() - want).max()) for name, run in runners.items()}
        runners[GEMM], gemm_flops = _gemm_runner(batch * seq, config.hidden_size, config.intermediate_size,
                                                 config.num_hidden_layers, threads)
        times = alternate(runners, reps, args["warmup"])
        stats = {name: summarize(t) for name, t in times.items()}
        flops = albert_forward_flops(config, batch, seq)
        rates = {name: flops / s["median_s"] / 1e9 for name, s in stats.items() if name != GEMM}
        rates[GEMM] = gemm_flops / stats.pop(GEMM)["median_s"] / 1e9
        others = {name: s["median_s"] for name, s in stats.items() if name != OURS}
        best = min(others, key=others.get) if others else None
        shapes.append({"batch": batch, "seq": seq, "times": stats, "gflops": rates, "max_abs_diff_to_ours": diffs,
                       "best_hf": best,
                       "ratio_to_best_hf": stats[OURS]["median_s"] / others[best] if best else None,
                       "profile": profile(ready[OURS]["path"], feed, threads)})
    return {"threads": threads, "weights_bytes": weights, "graphs": graphs, "shapes": shapes, "target": TARGET,
            "onnxruntime": ort.__version__}


def report_section(onnx: dict[str, Any]) -> tuple[list[str], list[tuple[str, bool]]]:
    """The Markdown of the section (rendered by report.py) and its targets."""
    if "error" in onnx:
        return ["## ONNX Runtime", "", f"failed: {onnx['error'][-300:]}"], []
    names = list(onnx["graphs"])
    lines = ["## ONNX Runtime: our exported graph vs HF's class through torch.onnx.export", "",
             f"onnxruntime {onnx['onnxruntime']}, CPUExecutionProvider, {onnx['threads']} intra-op threads, float32, "
             "the same session options for every graph; median ms of alternated rounds (spread = IQR / median). "
             "Ratio: ours / the best HF graph.", "",
             "| graph | file MB | x model.safetensors | export s | "
             + " | ".join(f"{r['batch']}x{r['seq']} ms" for r in onnx["shapes"]) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(onnx["shapes"])]
    for name in names:
        g = onnx["graphs"][name]
        if "error" in g:
            lines.append(f"| {name} | failed: `{g['error'][-120:]}` |")
            continue
        cells = []
        for r in onnx["shapes"]:
            t = r["times"][name]
            cells.append(f"{t['median_s'] * 1e3:,.0f} ({t['iqr_rel']:.0%})")
        lines.append(f"| {name} | {g['bytes'] / 2**20:.1f} | {g['ratio_to_safetensors']:.3f} | {g['export_s']:.1f} | "
                     + " | ".join(cells) + " |")
    targets = []
    lines += ["", "GFLOP/s: the forward's matmul FLOPs / median time; `ort-matmul`: a graph of onnxruntime MatMuls "
              "only, the model's FFN pairs ([batch x sequence, hidden] x [hidden, intermediate] x [intermediate, "
              "hidden]) once per layer, timed in the same rounds: the rate a GEMM-bound graph cannot exceed.", "",
              "| shape | best HF graph | ours / best | GFLOP/s ours / best HF / ort-matmul | max abs diff to ours "
              "(all graphs) | our kernels: top op types (share of kernel time) |", "|---|---|---:|---|---:|---|"]
    for r in onnx["shapes"]:
        top = ", ".join(f"{op} {share:.1%}" for op, share in list(r["profile"]["share"].items())[:5])
        worst = max(r["max_abs_diff_to_ours"].values())
        rate = r["gflops"]
        lines.append(f"| {r['batch']}x{r['seq']} | {r['best_hf']} | {r['ratio_to_best_hf']:.2f} | "
                     f"{rate[OURS]:.0f} / {rate[r['best_hf']]:.0f} / {rate[GEMM]:.0f} | {worst:.1e} | {top} |")
        targets.append((f"ONNX {r['batch']}x{r['seq']}: ours {r['ratio_to_best_hf']:.2f}x the best HF graph "
                        f"({r['best_hf']}) (target <= {onnx['target']})", r["ratio_to_best_hf"] <= onnx["target"]))
    ours = onnx["graphs"][OURS]
    if "bytes" in ours:
        targets.append((f"ONNX file {ours['ratio_to_safetensors']:.3f}x model.safetensors (target <= 1.05)",
                        ours["ratio_to_safetensors"] <= 1.05))
    return lines, targets


if __name__ == "__main__":
    worker_main(_measure)
