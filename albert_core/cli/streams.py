"""The pipeline subcommands of `albert`: reading inputs (arguments, stdin, JSON lines) and printing results."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..errors import InputError
from ..tasks import (
    FEATURE_EXTRACTION,
    FILL_MASK,
    MULTIPLE_CHOICE,
    QUESTION_ANSWERING,
    TEXT_CLASSIFICATION,
    TOKEN_CLASSIFICATION,
)

# subcommand -> (pipeline task, help)
TASK_COMMANDS = {
    "fill-mask": (FILL_MASK, "fill the [MASK] tokens of each text"),
    "classify": (TEXT_CLASSIFICATION, "label each text (or TAB-separated text pair)"),
    "tag": (TOKEN_CLASSIFICATION, "label the words of each text (entities)"),
    "qa": (QUESTION_ANSWERING, "answer each question from --context, or TAB-separated question and context"),
    "embed": (FEATURE_EXTRACTION, "one embedding vector per text (or per token with --pooling none)"),
    "choose": (MULTIPLE_CHOICE, "pick the best choice: TAB-separated context and choices, one example a line"),
}


class UsageError(Exception):
    """A mistake on the command line (exit status 2)."""


def pipeline_options(args: Any) -> dict[str, Any]:
    """`albert_core.pipeline`'s keyword arguments (but the model) from a pipeline subcommand's flags."""
    labels = [x for x in args.labels.split(",") if x] if args.labels else None
    if args.tokenizer is not None and not Path(args.tokenizer).exists():
        raise UsageError(f"--tokenizer {args.tokenizer!r}: no such file or folder; pass a spiece.model")
    return {"backend": args.backend, "device": args.device, "dtype": args.dtype, "tokenizer": args.tokenizer,
            "batch_size": args.batch_size, "max_length": args.max_length, "num_labels": labels,
            "init_missing_heads": True if args.init_missing_heads else None}


def make_pipeline(task: str, args: Any) -> Any:
    from ..pipelines import pipeline

    return pipeline(task, args.model, **pipeline_options(args))


def task_options(command: str, args: Any) -> dict[str, Any]:
    """The pipeline call's keyword options from the subcommand's flags."""
    if command == "fill-mask":
        targets = [t for t in args.targets.split(",") if t] if args.targets else None
        return {"top_k": args.top_k, "targets": targets}
    if command == "classify":
        return {"top_k": None if args.top_k == "all" else int(args.top_k)}
    if command == "tag":
        return {"aggregation_strategy": args.aggregation}
    if command == "qa":
        return {"top_k": args.top_k, "doc_stride": args.doc_stride, "max_answer_len": args.max_answer_len}
    if command == "embed":
        return {"pooling": None if args.pooling == "none" else args.pooling}
    return {}


def line_to_input(command: str, line: str, where: str, context: str | None = None) -> Any:
    """One line of text (argument or stdin) -> one pipeline input."""
    parts = line.split("\t")
    if command == "classify":
        if len(parts) > 2:
            raise InputError(f"{where}: a classify line is a text or 'text<TAB>text_pair', got {len(parts)} fields")
        return line if len(parts) == 1 else {"text": parts[0], "text_pair": parts[1]}
    if command == "qa":
        if context is not None:
            return {"question": line, "context": context}
        if len(parts) != 2:
            raise InputError(f"{where}: without --context a qa line is 'question<TAB>context', got {len(parts)} "
                             "field(s); pass --context TEXT or --context-file FILE")
        return {"question": parts[0], "context": parts[1]}
    if command == "choose":
        if len(parts) < 2:
            raise InputError(f"{where}: a choose line is 'context<TAB>choice 1<TAB>choice 2...', got no TAB")
        return {"context": parts[0], "choices": parts[1:]}
    return line


def read_lines(args_texts: list[str], stream: TextIO) -> Iterator[tuple[str, str]]:
    """(text, where) from the arguments, or from stdin one input a line (blank lines skipped)."""
    if args_texts:
        for index, text in enumerate(args_texts, 1):
            yield text, f"argument {index}"
        return
    for number, line in enumerate(stream, 1):
        line = line.rstrip("\r\n")
        if line.strip():
            yield line, f"stdin line {number}"


def human(command: str, item: Any, result: Any) -> str:
    """A short readable rendering of one result."""
    if command == "fill-mask":
        groups = result if result and isinstance(result[0], list) else [result]
        return "\n".join("  " + "  ".join(f"{r['token_str']!r} {r['score']:.3f}" for r in g) for g in groups)
    if command == "classify":
        ranked = result if isinstance(result, list) else [result]
        return "  " + "  ".join(f"{r['label']} {r['score']:.3f}" for r in ranked)
    if command == "tag":
        if not result:
            return "  (no entities)"
        return "\n".join(f"  {e.get('entity_group', e.get('entity'))}  {e['word']!r} [{e['start']}:{e['end']}] "
                         f"{e['score']:.3f}" for e in result)
    if command == "qa":
        answers = result if isinstance(result, list) else [result]
        return "\n".join(f"  {a['answer']!r} [{a['start']}:{a['end']}] {a['score']:.3f}" for a in answers)
    if command == "embed":
        array = np.asarray(result)
        head = ", ".join(f"{x:.4f}" for x in array.reshape(-1)[:4])
        return f"  shape {tuple(array.shape)}  [{head}, ...]"
    return f"  {result['choice']!r} (choice {result['label']}) " + " ".join(f"{s:.3f}" for s in result["scores"])


def title(command: str, item: Any) -> str:
    if isinstance(item, str):
        return item
    if command == "classify":
        return f"{item['text']} | {item['text_pair']}"
    if command == "qa":
        return item["question"]
    return item["context"]
