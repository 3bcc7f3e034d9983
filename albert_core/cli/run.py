"""`albert run`: a pipeline over a JSON-lines file (or stdin), streaming, in this process or on Ray Data actors
(`--engine ray`); the results written in input order into a file renamed into place when complete."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from ..atomic_files import replace_atomically
from ..errors import AlbertError, InputError
from ..pipelines.records import json_to_input, result_line
from ..progress import Progress
from .streams import UsageError, make_pipeline, pipeline_options


def _open_input(path: str):
    """The input as bytes (each line is decoded alone, so invalid UTF-8 is reported with its line) and its count
    of non-blank lines when it is a file (for the progress bar)."""
    if path == "-":  # a replaced sys.stdin (a StringIO in tests) has no bytes underneath
        stdin = getattr(sys.stdin, "buffer", None)
        return (stdin if stdin is not None else (line.encode() for line in sys.stdin)), None
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise UsageError(f"--input {path!r}: {exc.strerror}") from None
    total = sum(1 for line in handle if line.strip()) if os.path.isfile(path) else None
    handle.seek(0)
    return handle, total


def cmd_run(args: Any) -> int:
    try:
        options = json.loads(args.options)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--options is not valid JSON ({exc.msg}); pass e.g. '{{\"top_k\": 3}}'") from None
    if not isinstance(options, dict):
        raise UsageError("--options must be a JSON object, e.g. '{\"top_k\": 3}'")
    if args.engine == "ray":
        return _run_on_ray(args, options)
    source, total = _open_input(args.input)
    name = "stdin" if args.input == "-" else args.input
    lines: list[int] = []  # the line number of each input, to name the line of an input the pipeline refuses

    def inputs():
        for number, raw in enumerate(source, 1):
            if raw.strip():
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise InputError(f"{name} line {number}: not UTF-8 (byte {raw[exc.start]:#04x} at byte "
                                     f"{exc.start}); write JSON lines in UTF-8") from None
                lines.append(number)
                yield json_to_input(args.task, line, f"{name} line {number}")

    pipe = make_pipeline(args.task, args)
    progress = Progress(total, enabled=False if args.no_progress else None)
    try:
        if args.output == "-":
            _write_results(pipe.stream(inputs(), **options), sys.stdout, progress)
            return 0
        _check_output(args.output)
        # The results go to a new file beside --output, renamed over it only once every line is written: an error
        # on line 900 of 1000 (or a kill) leaves the old file, or none, never 899 lines that look like a result.
        with replace_atomically(args.output) as partial, open(partial, "x", encoding="utf-8") as sink:
            _write_results(pipe.stream(inputs(), **options), sink, progress)
    except AlbertError as exc:
        index = getattr(exc, "input_index", None)
        if index is None:
            raise
        raise type(exc)(f"{name} line {lines[index]}: {exc}") from None
    finally:
        progress.close()
        if args.input != "-":
            source.close()
    return 0


def _run_on_ray(args: Any, options: dict[str, Any]) -> int:
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UsageError("--engine ray needs Ray Data: pip install 'albert-core[ray]'") from None
    from ..distributed import run_dataset

    if not os.path.isfile(args.input):
        raise UsageError(f"--input {args.input!r}: --engine ray reads a file (JSON lines, or .parquet)")
    _check_output(args.output)
    options_of_pipeline = pipeline_options(args)
    batch_size = options_of_pipeline.pop("batch_size")
    run_dataset(args.task, args.model, args.input, args.output, num_workers=args.num_workers,
                cpus_per_worker=args.cpus_per_worker, batch_size=batch_size, options=options,
                **options_of_pipeline)
    return 0


def _check_output(path: str) -> None:
    if os.path.isdir(path) or not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise UsageError(f"--output {path!r} must be a file in an existing folder")


def _write_results(results: Any, sink: Any, progress: Progress) -> None:
    for result in results:
        sink.write(result_line(result) + "\n")
        progress.update()
