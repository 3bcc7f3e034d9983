"""The `albert` command (also `python -m albert_core`); see docs/cli.md.

Exit status: 0 on success, 2 for a usage error (bad flag, missing file, unknown backend), 1 when the work
itself failed (a checkpoint that does not load, a backend that errors). Errors are one line, never a
traceback, unless `--traceback` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import AlbertError
from ..pipelines.records import to_jsonable
from ..tasks import BASE, TASKS
from . import export, finetune, pretrain
from .run import cmd_run
from .streams import (
    TASK_COMMANDS,
    UsageError,
    human,
    line_to_input,
    make_pipeline,
    read_lines,
    task_options,
    title,
)

DEFAULT_COMPARE_MODEL = "random:albert-base-v2"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def _model_flags(parser: argparse.ArgumentParser, default_model: str | None) -> None:
    parser.add_argument("--model", default=default_model, required=default_model is None,
                        help="model folder, preset name (albert-base-v2), random:<preset> or random:tiny")
    parser.add_argument("--backend", default="numpy", help="backend name (see 'albert backends'); default numpy")
    parser.add_argument("--device", default=None, help="device for the backend (cpu, cuda:0, ...)")
    parser.add_argument("--dtype", default="float32", help="float32 (default), bfloat16, float16, float64")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="albert", description="ALBERT on PyTorch, JAX, TensorFlow or NumPy from one checkpoint.")
    parser.add_argument("--traceback", action="store_true", help="show the Python traceback of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    backends = sub.add_parser("backends", help="list installed backends and plugins that failed to load")
    backends.add_argument("--json", action="store_true", help="machine-readable output")

    compare = sub.add_parser("compare", help="run the same inputs on every backend: differences and timings")
    compare.add_argument("--model", default=DEFAULT_COMPARE_MODEL,
                         help=f"model folder, preset, random:<preset> or random:tiny (default {DEFAULT_COMPARE_MODEL})")
    compare.add_argument("--backends", default=None, help="comma-separated backends (default: all installed)")
    compare.add_argument("--task", default=BASE, help=f"model task ({', '.join(TASKS)}); default {BASE}")
    compare.add_argument("--batch", type=_positive_int, default=2, help="batch size (default 2)")
    compare.add_argument("--seq", type=_positive_int, default=32, help="tokens per row (default 32)")
    compare.add_argument("--reps", type=_positive_int, default=2, help="steady-state repetitions (default 2)")
    compare.add_argument("--dtype", default="float32", help="dtype of the compared backends (default float32)")
    compare.add_argument("--seed", type=int, default=0, help="seed of the inputs and random weights")
    compare.add_argument("--init-missing-heads", action="store_true", help="initialise heads a folder lacks")
    compare.add_argument("--json", action="store_true", help="machine-readable output")

    formats = sub.add_parser("formats", help="list the checkpoint formats the installed plugins read")
    formats.add_argument("--json", action="store_true", help="machine-readable output")

    convert = sub.add_parser("convert", help="convert a checkpoint (e.g. Google TF1) into an HF model folder")
    convert.add_argument("src", help="checkpoint folder or prefix")
    convert.add_argument("dst", help="HF model folder to write")
    convert.add_argument("--format", default=None, help="source format (default: detected; see 'albert formats')")
    convert.add_argument("--task", default=None, help="head to write (default: inferred from the checkpoint)")
    convert.add_argument("--overwrite", action="store_true", help="replace an existing dst folder")

    for command, (task, text) in TASK_COMMANDS.items():
        p = sub.add_parser(command, help=f"{text} ({task})", description=f"{text}. Inputs come from the arguments, "
                           "or from stdin, one a line.")
        p.add_argument("texts", nargs="*", help="inputs (default: read stdin, one a line)")
        _task_flags(p, command)

    run = sub.add_parser("run", help="a pipeline over a JSON-lines file, streaming, with a progress bar")
    run.add_argument("--task", required=True, choices=sorted({t for t, _ in TASK_COMMANDS.values()}))
    run.add_argument("--input", required=True, help="JSON lines in ('-' for stdin)")
    run.add_argument("--output", required=True, help="JSON lines out ('-' for stdout)")
    run.add_argument("--options", default="{}", help='task options as JSON, e.g. \'{"top_k": 3}\'')
    run.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    run.add_argument("--engine", default="local", choices=["local", "ray"],
                     help="local (default): this process; ray: Ray Data actors (albert-core[ray], docs/scaling.md)")
    run.add_argument("--num-workers", type=_positive_int, default=1, help="--engine ray: actors (default 1)")
    run.add_argument("--cpus-per-worker", type=float, default=1.0, help="--engine ray: CPUs an actor takes (1)")
    _common_pipeline_flags(run)
    finetune.add_parser(sub, _Parser)
    pretrain.add_parsers(sub)
    export.add_parser(sub)
    return parser


def _common_pipeline_flags(p: argparse.ArgumentParser) -> None:
    _model_flags(p, None)
    p.add_argument("--tokenizer", default=None, help="spiece.model file or folder (default: the model folder's)")
    p.add_argument("--batch-size", type=_positive_int, default=8, help="inputs per model call (default 8)")
    p.add_argument("--max-length", type=_positive_int, default=None, help="tokens per row (default: the model's)")
    p.add_argument("--labels", default=None, help="comma-separated label names for a head without them")
    p.add_argument("--init-missing-heads", action="store_true", help="initialise heads the folder lacks")


def _task_flags(p: argparse.ArgumentParser, command: str) -> None:
    _common_pipeline_flags(p)
    p.add_argument("--json", action="store_true", help="one JSON result a line")
    if command == "fill-mask":
        p.add_argument("--top-k", type=_positive_int, default=5)
        p.add_argument("--targets", default=None, help="comma-separated candidate words")
    elif command == "classify":
        p.add_argument("--top-k", default="1", help="labels to show per text, or 'all' (default 1)")
    elif command == "tag":
        p.add_argument("--aggregation", default="first", choices=["none", "simple", "first", "average", "max"])
    elif command == "qa":
        group = p.add_mutually_exclusive_group()
        group.add_argument("--context", default=None, help="the text to search, for every question")
        group.add_argument("--context-file", default=None, help="file whose text is the context")
        p.add_argument("--top-k", type=_positive_int, default=1)
        p.add_argument("--doc-stride", type=_positive_int, default=128, help="tokens shared by neighbouring windows")
        p.add_argument("--max-answer-len", type=_positive_int, default=15)
    elif command == "embed":
        p.add_argument("--pooling", default="mean", choices=["none", "cls", "mean", "pooler"])


def _check_model_and_backend(args: Any) -> None:
    from ..config import PRESETS
    from ..plugins import available_backends

    model = args.model
    if not model.startswith("random:") and not Path(model).exists() and model not in PRESETS and \
            ("/" not in model or model.startswith((".", "/"))):
        raise UsageError(f"--model {model!r}: no such folder; pass a model folder, a preset name "
                         f"(e.g. albert-base-v2) or random:<preset> / random:tiny")
    names = args.backends.split(",") if getattr(args, "backends", None) else [getattr(args, "backend", "numpy")]
    installed = available_backends()
    for name in names:
        if name not in installed:
            flag = "--backends" if getattr(args, "backends", None) else "--backend"
            raise UsageError(f"{flag}: unknown backend {name!r}; installed: {', '.join(installed)} "
                             "(see 'albert backends')")


def cmd_backends(args: Any) -> int:
    from .compare import backend_rows, format_table

    rows, failures = backend_rows()
    if args.json:
        print(json.dumps({"backends": rows, "failed_plugins": failures}, indent=2))
        return 0
    table = [[r["backend"], f"{r['distribution']} {r['version'] or ''}".strip(), r["framework"], r["status"]]
             for r in rows]
    print(format_table(["backend", "distribution", "framework", "status"], table))
    for plugin, reason in failures.items():
        print(f"plugin {plugin!r} failed to load: {reason}")
    return 0


def cmd_formats(args: Any) -> int:
    from ..plugins import manager
    from .compare import format_table

    rows = []
    for name in manager.formats.names():
        reg = manager.formats.registration(name)
        rows.append({"format": name, "distribution": reg.distribution, "needs": reg.framework,
                     "status": "ok" if reg.framework_installed() else f"{reg.framework} is not installed"})
    if args.json:
        print(json.dumps({"formats": rows, "failed_plugins": dict(manager.failures)}, indent=2))
    else:
        print(format_table(["format", "distribution", "needs", "status"],
                           [[r["format"], r["distribution"] or "", r["needs"] or "-", r["status"]] for r in rows]))
    return 0


def cmd_convert(args: Any) -> int:
    from ..checkpoints import convert

    if not Path(args.src).exists() and not Path(args.src + ".index").exists():
        raise UsageError(f"src {args.src!r}: no such file, folder or checkpoint prefix")
    if args.task is not None and args.task not in TASKS:
        raise UsageError(f"--task {args.task!r}: use one of {', '.join(TASKS)}")
    report = convert(args.src, args.dst, format=args.format, task=args.task, overwrite=args.overwrite)
    print(report.summary())
    return 0


def cmd_compare(args: Any) -> int:
    from ..pipelines import resolve_model
    from ..plugins import available_backends, manager
    from .compare import compare_table, run_compare

    if args.task not in TASKS:
        raise UsageError(f"--task {args.task!r}: use one of {', '.join(TASKS)}")
    if args.backends:
        names = [n for n in args.backends.split(",") if n]
    else:  # every installed backend whose framework is importable; the others are listed, not run
        names = [n for n in available_backends() if manager.backends.registration(n).framework_installed()]
    checkpoint = resolve_model(args.model, args.seed)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the backends' worker processes inherit it
    init = args.init_missing_heads or args.model.startswith("random:")
    reference, rows = run_compare(checkpoint, args.task, names, dtype=args.dtype, batch=args.batch, seq=args.seq,
                                  reps=args.reps, seed=args.seed, init_missing_heads=init)
    if args.json:
        print(json.dumps({"model": args.model, "task": args.task, "batch": args.batch, "seq": args.seq,
                          "reps": args.reps, "reference": "numpy float64",
                          "rows": [vars(r) for r in rows]}, indent=2))
    else:
        print(f"model {args.model}, task {args.task}, batch {args.batch} x {args.seq} tokens, {args.reps} steady "
              f"reps; differences against the NumPy backend in float64")
        print(compare_table(reference, rows))
        skipped = sorted(set(available_backends()) - set(names))
        if skipped and not args.backends:
            print(f"not run (framework not installed): {', '.join(skipped)}; see 'albert backends'")
    return 1 if any(r.status != "ok" for r in rows) else 0


def _context(args: Any) -> str | None:
    if args.context_file is None:
        return args.context
    try:
        return Path(args.context_file).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--context-file {args.context_file!r}: {exc.strerror}") from None


def cmd_task(args: Any) -> int:
    task = TASK_COMMANDS[args.command][0]
    if args.command == "classify" and args.top_k != "all" and not (args.top_k.isdigit() and int(args.top_k) >= 1):
        raise UsageError(f"--top-k: expected a whole number >= 1 or 'all', got {args.top_k!r}")
    context = _context(args) if args.command == "qa" else None
    items = [(line_to_input(args.command, text, where, context), text) for text, where in
             read_lines(args.texts, sys.stdin)]
    if not items:
        raise UsageError("no input: pass texts as arguments or pipe them on stdin, one a line")
    pipe = make_pipeline(task, args)
    inputs = [item for item, _ in items]
    results = pipe(inputs, **task_options(args.command, args))
    for item, result in zip(inputs, results):
        if args.json:
            print(json.dumps({"input": item, "result": to_jsonable(result)}, ensure_ascii=False))
        else:
            print(title(args.command, item))
            print(human(args.command, item, result))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter is not for CLI users
    show_traceback = "--traceback" in argv
    try:
        args = build_parser().parse_args(argv)
        if args.command in ("compare", "run", *TASK_COMMANDS):
            _check_model_and_backend(args)
        handler = {"backends": cmd_backends, "compare": cmd_compare, "run": cmd_run, "formats": cmd_formats,
                   "convert": cmd_convert, "finetune": finetune.cmd_finetune,
                   **pretrain.HANDLERS, **export.HANDLERS}.get(args.command, cmd_task)
        return handler(args)
    except UsageError as exc:
        if show_traceback:
            raise
        print(f"albert: error: {exc}", file=sys.stderr)
        return 2
    except (AlbertError, OSError) as exc:  # the library's messages already say what to do
        if show_traceback:
            raise
        print(f"albert: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `albert ... | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("albert: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not a user mistake: still one line unless asked for the traceback
        if show_traceback:
            raise
        print(f"albert: internal error: {type(exc).__name__}: {exc} (rerun as 'albert --traceback ...' and "
              "report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
