"""Render the results: a Markdown report (tables, machine, targets met or not) and a PNG of time per batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .flops import albert_forward_flops
from .frameworks import HF_LABEL
from .onnx_inference import report_section as onnx_section

MB = 1024 * 1024
LABEL = {"torch": "albert-torch", "jax": "albert-jax", "tensorflow": "albert-tensorflow"}


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.0f}" if seconds >= 0.1 else f"{seconds * 1e3:,.1f}"


def _ok(flag: bool) -> str:
    return "yes" if flag else "**no**"


def machine_rate(results: dict[str, Any]) -> float | None:
    """The machine's large-GEMM float32 rate (GFLOP/s): the best library's best run."""
    rates = [r["gflops_best"] for r in results.get("gemm", {}).values() if "gflops_best" in r]
    return max(rates) if rates else None


def _machine_section(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    v = m["versions"]
    bf16 = m["bf16"]
    names = ("albert-core", "torch", "jax", "jaxlib", "flax", "tensorflow", "tensorflow-cpu", "tf-keras",
             "transformers", "numpy")
    lines = [
        f"Run {results['started']}{' (--quick: small shapes, not for comparison)' if results['quick'] else ''}, "
        f"{results.get('total_s', 0) / 60:.1f} min.",
        "",
        f"- CPU: {m['cpu_model']}, {m['logical_cpus']} logical CPUs; avx512f {bf16['avx512f']}, "
        f"avx512_bf16 {bf16['avx512_bf16']}, amx_bf16 {bf16['amx_bf16']}",
        f"- Load average (1/5/15 min) at start {m['load_average_1_5_15']}, at end {m.get('load_average_at_end')} "
        "(the machine is shared; ratios alternate within a process so drift cancels)",
        f"- Python {m['python']}; " + ", ".join(f"{n} {v[n]}" for n in names if n in v),
    ]
    return lines


def _forward_section(results: dict[str, Any]) -> tuple[list[str], list[tuple[str, bool]]]:
    lines = ["## Forward time per batch, float32 (ours vs HF in the same framework)", "",
             "Median of alternating repetitions after warm-up; spread = interquartile range / median. "
             "Ratio < 1: ours is faster. The target is judged on the ratio of the medians; the paired ratio (median "
             "of each round's ours/HF) is shown beside it.", "",
             "| backend | HF baseline | shape | ours ms (spread) | HF ms (spread) | ratio ours/HF | paired ratio | "
             "max abs diff |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    targets = []
    for framework, fw in results["forward"].items():
        for row in fw["shapes"]:
            o, h = row["ours"], row["hf"]
            lines.append(f"| {LABEL[framework]} | {HF_LABEL[framework]} | {row['batch']}x{row['seq']} | "
                         f"{_ms(o['median_s'])} ({o['iqr_rel']:.0%}) | {_ms(h['median_s'])} ({h['iqr_rel']:.0%}) | "
                         f"{row['ratio_median']:.2f} | {row['ratio_pairwise_median']:.2f} | "
                         f"{row['max_abs_diff']:.1e} |")
            targets.append((f"{LABEL[framework]} {row['batch']}x{row['seq']}: {row['ratio_median']:.2f}x HF "
                            "(target <= 1.0)", row["ratio_median"] <= 1.0))
        for error in fw.get("errors", []):
            lines.append(f"\n{LABEL[framework]}: worker failed: `{error.splitlines()[-1][:200]}`")
    return lines, targets


def _flops_section(results: dict[str, Any]) -> tuple[list[str], list[tuple[str, bool]]]:
    from albert_core.config import AlbertConfig

    gemm = results.get("gemm", {})
    lines = ["## Achieved FLOP rate vs the machine's large-matmul rate", ""]
    lines.append("Standalone float32 GEMM rate at the start of the run (best run): " + ", ".join(
        f"{lib} {r['size']}x{r['size']}: {r['gflops_best']:.1f} GFLOP/s" for lib, r in gemm.items()
        if "gflops_best" in r) + ". Because the machine is shared, each forward worker also times a large GEMM in its "
        "framework and in NumPy's BLAS in the same alternating rounds as the forwards; the fraction below is best "
        "forward rate / the faster GEMM's best rate in that worker (same process, same load). Forward FLOPs are "
        "counted analytically (2mnk per matmul, attention scores and context included; elementwise work not "
        "counted).")
    if "forward" not in results:
        return lines, []
    config = AlbertConfig.from_preset(results["plan"]["forward_preset"])
    worker_rates = [row["gemm"]["gflops_best"] for fw in results["forward"].values() for row in fw["shapes"]
                    if row.get("gemm", {}).get("gflops_best")]
    limit = max(worker_rates + ([machine_rate(results)] if machine_rate(results) else []), default=None)
    if not limit:
        return lines, []
    lines += ["", f"The limit used for the target is the best GEMM rate seen anywhere in the run: {limit:.1f} GFLOP/s "
              "(a worker whose GEMMs never got both cores shows a low same-worker rate, and its same-worker "
              "fraction flatters it).", "",
              "| backend | shape | GFLOP per forward | GEMM GFLOP/s (same worker) | ours GFLOP/s (best run) | "
              "ours % of same-worker GEMM | HF % of same-worker GEMM | ours % of run's best GEMM |",
              "|---|---|---:|---:|---:|---:|---:|---:|"]
    best: dict[str, tuple[float, str]] = {}
    for framework, fw in results["forward"].items():
        for row in fw["shapes"]:
            rate = row.get("gemm", {}).get("gflops_best") or limit
            flops = albert_forward_flops(config, row["batch"], row["seq"])
            ours = flops / row["ours"]["min_s"] / 1e9
            hf = flops / row["hf"]["min_s"] / 1e9
            shape = f"{row['batch']}x{row['seq']}"
            lines.append(f"| {LABEL[framework]} | {shape} | {flops / 1e9:.1f} | {rate:.1f} | {ours:.1f} | "
                         f"{ours / rate:.0%} | {hf / rate:.0%} | {ours / limit:.0%} |")
            if ours > best.get(shape, (0.0, ""))[0]:
                best[shape] = (ours, LABEL[framework])
    targets = []
    if "8x128" in best:
        value, who = best["8x128"]
        targets.append((f"best backend at 8x128 ({who}): {value:.1f} GFLOP/s = {value / limit:.0%} of the run's best "
                        "GEMM rate (target >= 85%)", value / limit >= 0.85))
    return lines, targets


def _bf16_section(results: dict[str, Any]) -> tuple[list[str], list[tuple[str, bool]]]:
    native = results["machine"]["bf16"]["avx512_bf16"] or results["machine"]["bf16"]["amx_bf16"]
    lines = ["## bfloat16 vs float32 (ours)", "",
             f"CPU has native bf16 dot products (avx512_bf16 or AMX): {native}.", "",
             "| backend | shape | float32 ms | bfloat16 ms | ratio bf16/f32 | max rel diff |",
             "|---|---|---:|---:|---:|---:|"]
    targets = []
    for framework, fw in results["forward"].items():
        for row in fw["bf16"]:
            lines.append(f"| {LABEL[framework]} | {row['batch']}x{row['seq']} | {_ms(row['float32']['median_s'])} | "
                         f"{_ms(row['bfloat16']['median_s'])} | {row['ratio_median']:.2f} | "
                         f"{row['max_rel_diff_vs_float32']:.1e} |")
            if native:
                targets.append((f"{LABEL[framework]} bf16 {row['ratio_median']:.2f}x float32 (target < 1.0)",
                                row["ratio_median"] < 1.0))
    return lines, targets


def _train_section(results: dict[str, Any]) -> tuple[list[str], list[tuple[str, bool]]]:
    train = results["train"]
    lines = [f"## Fine-tuning step (sequence classification, {results['plan']['forward_preset']})", "",
             "One optimizer step: forward, backward, clipping, AdamW. HF: its class with its users' optimizer "
             "(torch.optim.AdamW; optax under one jax.jit; Keras AdamW under tf.function); the two alternate.", "",
             "| backend | shape | ours ms | HF ms | ratio ours/HF (median of pairs) |", "|---|---|---:|---:|---:|"]
    targets = []
    for framework, row in train["time"].items():
        if "error" in row:
            lines.append(f"| {LABEL[framework]} | - | failed: {row['error'][-120:]} | | |")
            continue
        shape = "x".join(map(str, row["shape"]))
        ratio = row["ratio_pairwise_median"]
        lines.append(f"| {LABEL[framework]} | {shape} | {_ms(row['ours']['median_s'])} | "
                     f"{_ms(row['hf']['median_s'])} | {ratio:.2f} |")
        targets.append((f"{LABEL[framework]} train step {shape} {ratio:.2f}x HF (target <= 1.0)", ratio <= 1.0))
    lines += ["", "Peak memory of a steady-state step over the loaded model's (AdamW moments, gradients, "
              "activations):", "",
              "| backend | shape | without checkpointing MiB | with MiB | ratio |", "|---|---|---:|---:|---:|"]
    for framework, pair in train["memory"].items():
        if any("error" in r for r in pair.values()):
            lines.append(f"| {LABEL[framework]} | - | failed | | |")
            continue
        off, on = pair["off"]["step_peak_over_before_bytes"], pair["on"]["step_peak_over_before_bytes"]
        shape = "x".join(map(str, pair["off"]["shape"]))
        lines.append(f"| {LABEL[framework]} | {shape} | {off / 2**20:.0f} | {on / 2**20:.0f} | {on / off:.2f} |")
        targets.append((f"{LABEL[framework]} gradient checkpointing {on / off:.2f}x the step memory without "
                        "(target <= 0.6)", on / off <= 0.6))
    return lines, targets


def _pretrain_section(results: dict[str, Any]) -> tuple[list[str], list[tuple[str, bool]]]:
    pre = results["pretrain"]
    lines = [f"## Pretraining step (MLM + SOP, LAMB, {results['plan']['forward_preset']})", "",
             "One optimizer step on the pretraining head with LAMB: ours vs HF's *AlbertForPreTraining with the "
             "same optimizer in the same framework (albert-torch's Lamb; optax.lamb under one jax.jit; "
             "albert-tensorflow's LAMB under tf.function); the two alternate.", "",
             "| backend | shape | ours tokens/s | HF tokens/s | ratio ours/HF step time (median of pairs) |",
             "|---|---|---:|---:|---:|"]
    targets = []
    for framework, row in pre["time"].items():
        if "error" in row:
            lines.append(f"| {LABEL[framework]} | - | failed: {row['error'][-120:]} | | |")
            continue
        shape = "x".join(map(str, row["shape"]))
        ratio = row["ratio_pairwise_median"]
        lines.append(f"| {LABEL[framework]} | {shape} | {row['ours_tokens_per_s']:,.0f} | "
                     f"{row['hf_tokens_per_s']:,.0f} | {ratio:.2f} |")
        targets.append((f"{LABEL[framework]} pretraining step {shape} {ratio:.2f}x HF (target <= 1.0)", ratio <= 1.0))
    data = pre.get("data", {})
    if "error" in data:
        lines += ["", f"Data builder: failed: {data['error'][-200:]}"]
    elif data:
        lines += ["", f"Data builder on the sample corpus ({data['instances']:,} instances): "
                  f"{data['one_process_per_s']:,.0f} instances/s in one process, {data['all_cores_per_s']:,.0f} with "
                  f"{data['cores']} worker processes ({data['speedup']:.2f}x)."]
    return lines, targets


def _ray_section(results: dict[str, Any]) -> list[str]:
    ray = results["ray"]
    if "error" in ray:
        return ["## Batch inference on Ray Data", "", f"failed: {ray['error'][-300:]}"]
    lines = ["## Batch inference on Ray Data", "",
             f"`albert run` (feature-extraction, random albert-base-v2 on {ray['backend']}) over {ray['rows']} "
             "docstring sentences, in this process and with `--engine ray` on a local 2-CPU cluster; median of "
             "alternated rounds after a warm-up. On one machine the engine can only add overhead.", "",
             "| run | rows/s | vs albert run |", "|---|---:|---:|"]
    for name in ("albert_run", "ray_1_actor", "ray_2_actors"):
        lines.append(f"| {name.replace('_', ' ')} | {ray[name]['rows_per_s']:,.1f} | "
                     f"{ray['ratio_to_albert_run'][name]:.2f}x |")
    return lines


def _load_section(results: dict[str, Any]) -> tuple[list[str], list[tuple[str, bool]]]:
    load = results["load"]
    weights = load["weights_bytes"]
    lines = ["## Load: model folder to first output", "",
             f"{load['preset']}-shaped random float32 checkpoint, model.safetensors = {weights / MB:,.0f} MiB. "
             "Peak = ru_maxrss of a fresh process; baseline = resident size after importing the framework "
             "(library = after also importing our backend or transformers). Time excludes imports. The file is read "
             "into the page cache before every run (so whoever runs first gains nothing); ours and HF alternate over "
             f"{load.get('rounds', 1)} round(s), and each row is the run with the median folder-to-output time "
             "(all runs' times in the last column).", "",
             "| backend | impl | import library s | load s | first call s | folder to output s | "
             "peak above framework MiB (x weights) | peak above library MiB (x weights) | "
             "all runs, folder to output s |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    by_key = {(c["framework"], c["impl"]): c for c in load["cases"]}
    targets = []
    for (framework, impl), c in by_key.items():
        if "error" in c:
            lines.append(f"| {LABEL[framework]} | {impl} | failed: `{c['error'].splitlines()[-1][:120]}` ||||||||")
            continue
        lines.append(f"| {LABEL[framework]} | {'ours' if impl == 'ours' else 'HF'} | {c['import_library_s']:.1f} | "
                     f"{c['load_s']:.1f} | {c['first_call_s']:.1f} | {c['folder_to_output_s']:.1f} | "
                     f"{c['peak_above_framework'] / MB:,.0f} ({c['peak_above_framework_per_weights']:.2f}) | "
                     f"{c['peak_above_library'] / MB:,.0f} ({c['peak_above_library_per_weights']:.2f}) | "
                     f"{', '.join(f'{t:.1f}' for t in c.get('folder_to_output_s_runs', []))} |")
    for framework in LABEL:
        ours, hf = by_key.get((framework, "ours")), by_key.get((framework, "hf"))
        if not ours or "error" in ours:
            continue
        targets.append((f"{LABEL[framework]} load peak {ours['peak_above_framework_per_weights']:.2f}x weights above "
                        "the framework baseline (target <= 1.3)", ours["peak_above_framework_per_weights"] <= 1.3))
        if hf and "error" not in hf:
            targets.append((f"{LABEL[framework]} load peak {ours['peak_above_framework'] / MB:,.0f} MiB vs HF "
                            f"{hf['peak_above_framework'] / MB:,.0f} MiB (target <= HF)",
                            ours["peak_above_framework"] <= hf["peak_above_framework"]))
            targets.append((f"{LABEL[framework]} folder to first output {ours['folder_to_output_s']:.1f} s vs HF "
                            f"{hf['folder_to_output_s']:.1f} s (target <= HF)",
                            ours["folder_to_output_s"] <= hf["folder_to_output_s"]))
    return lines, targets


def _compile_section(results: dict[str, Any]) -> list[str]:
    lines = ["## First call (trace + compile) and recompilations", "",
             "| backend | shape | ours first call s | ours next call s | HF first call s | HF next call s | "
             "stream: batches (distinct lengths) | ours compilations | HF compilations | ours stream s | HF stream s |",
             "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|"]
    for framework, r in results["compile"].items():
        if "error" in r:
            lines.append(f"| {LABEL[framework]} | failed: `{r['error'].splitlines()[-1][:120]}` ||||||||||")
            continue
        s = r["stream"]
        o, h = r["ours"], r["hf"]
        lines.append(f"| {LABEL[framework]} | {r['batch']}x{r['seq']} | {o['first_call_s']:.2f} | "
                     f"{o['second_call_s']:.2f} | {h['first_call_s']:.2f} | {h['second_call_s']:.2f} | "
                     f"{s['batches']} x {s['batch']} ({s['distinct_lengths']} lengths in "
                     f"{s['min_len']}..{s['max_len']}) | "
                     f"{s['ours']['compilations']} | {s['hf']['compilations']} | {s['ours']['total_s']:.1f} | "
                     f"{s['hf']['total_s']:.1f} |")
    if results["compile"]:
        lines += ["", "Ours pads the sequence axis to a multiple of the bucket (32), so a stream compiles once per "
                  "bucket; HF's jitted/tf.function model compiles once per distinct length."]
    return lines


def _tokenizer_section(results: dict[str, Any]) -> list[str]:
    from .bench_tokenizer import markdown_table

    tok = results["tokenizer"]
    if "error" in tok:
        return ["## Tokenizer", "", f"failed: `{tok['error'].splitlines()[-1][:200]}`"]
    return ["## Tokenizer throughput", "", markdown_table(tok)]


def write_plot(results: dict[str, Any], path: Path) -> bool:
    """Grouped bars: median time per batch for each shape, ours and HF per framework (log scale)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    series: dict[str, tuple[str, bool, dict[str, float]]] = {}  # label -> (framework, is ours, shape -> s)
    shapes: list[str] = []
    for framework, fw in results.get("forward", {}).items():
        for row in fw["shapes"]:
            shape = f"{row['batch']}x{row['seq']}"
            if shape not in shapes:
                shapes.append(shape)
            series.setdefault(LABEL[framework], (framework, True, {}))[2][shape] = row["ours"]["median_s"]
            series.setdefault(HF_LABEL[framework], (framework, False, {}))[2][shape] = row["hf"]["median_s"]
    if not series:
        return False
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=80)
    width = 0.8 / len(series)
    colors = {"torch": "#d62728", "jax": "#1f77b4", "tensorflow": "#ff7f0e"}
    for i, (name, (framework, is_ours, values)) in enumerate(series.items()):
        xs = [j + (i - (len(series) - 1) / 2) * width for j, s in enumerate(shapes) if s in values]
        ys = [values[s] * 1e3 for s in shapes if s in values]
        ax.bar(xs, ys, width, label=name, color=colors[framework], alpha=1.0 if is_ours else 0.45,
               hatch="" if is_ours else "//")
    ax.set_xticks(range(len(shapes)), [f"batch x seq {s}" for s in shapes])
    ax.set_yscale("log")
    ax.set_ylabel("ms per batch (median, float32)")
    ax.set_title(f"ALBERT {results['plan']['forward_preset']} forward, {results['machine']['cpu_model']}, "
                 f"{results['machine']['logical_cpus']} CPUs", fontsize=9)
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def write_reports(results: dict[str, Any], out_dir: Path) -> str:
    """Write results.md and forward.png into `out_dir`; returns the Markdown."""
    lines = ["# albert-core benchmark results", ""] + _machine_section(results)
    targets: list[tuple[str, bool]] = []
    if "forward" in results:
        section, t = _forward_section(results)
        lines += [""] + section
        targets += t
    if "gemm" in results or "forward" in results:
        section, t = _flops_section(results)
        lines += [""] + section
        targets += t
    if "forward" in results and any(fw["bf16"] for fw in results["forward"].values()):
        section, t = _bf16_section(results)
        lines += [""] + section
        targets += t
    if "train" in results:
        section, t = _train_section(results)
        lines += [""] + section
        targets += t
    if "pretrain" in results:
        section, t = _pretrain_section(results)
        lines += [""] + section
        targets += t
    if "load" in results:
        section, t = _load_section(results)
        lines += [""] + section
        targets += t
    if "compile" in results:
        lines += [""] + _compile_section(results)
    if "tokenizer" in results:
        lines += [""] + _tokenizer_section(results)
    if "ray" in results:
        lines += [""] + _ray_section(results)
    if "onnx" in results:
        section, t = onnx_section(results["onnx"])
        lines += [""] + section
        targets += t
    if write_plot(results, out_dir / "forward.png"):
        lines += ["", "![time per batch](forward.png)"]
    if targets:
        lines += ["", "## Targets", ""] + [f"- {_ok(met)}: {text}" for text, met in targets]
    markdown = "\n".join(lines) + "\n"
    (out_dir / "results.md").write_text(markdown, encoding="utf-8")
    return markdown
