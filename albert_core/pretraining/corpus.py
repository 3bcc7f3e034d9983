"""Corpus files as Google's pretraining scripts read them: UTF-8 text, one sentence or paragraph a line, documents
separated by blank lines. Streamed: a document at a time, never the whole corpus."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError


@dataclass(frozen=True)
class Document:
    """One document: its number in the corpus (from 0), where it starts (`file:line`) and its non-blank lines."""

    index: int
    source: str
    lines: tuple[str, ...]


def corpus_paths(corpus: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """The corpus files, checked: each exists and is a file (a folder gives its `*.txt` files, sorted)."""
    given = [corpus] if isinstance(corpus, (str, os.PathLike)) else list(corpus)
    if not given:
        raise DataError("no corpus given; pass one or more text files (one sentence a line, blank lines between "
                        "documents)")
    paths: list[Path] = []
    for item in given:
        path = Path(item)
        if path.is_dir():
            found = sorted(path.glob("*.txt"))
            if not found:
                raise DataError(f"corpus folder {str(path)!r} has no *.txt files; pass the text files themselves")
            paths.extend(found)
        elif path.is_file():
            paths.append(path)
        else:
            raise DataError(f"corpus file {str(path)!r} does not exist; pass existing text files")
    return paths


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number from 1, text without the line end), decoded as strict UTF-8 (a BOM at the start is dropped)."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(f"{path}:{number}: not UTF-8 (byte {raw[e.start]:#04x} at column {e.start + 1}); "
                                "convert the corpus to UTF-8 first (e.g. iconv -f latin1 -t utf-8)") from None
            if number == 1 and text.startswith("\ufeff"):
                text = text[1:]
            yield number, text.rstrip("\r\n")


def read_documents(paths: Iterable[Path]) -> Iterator[Document]:
    """Every document of the corpus in order; a file's end also ends a document."""
    index = 0
    for path in paths:
        lines: list[str] = []
        start = 0
        for number, text in _lines(path):
            if text.strip():
                if not lines:
                    start = number
                lines.append(text.strip())
            elif lines:
                yield Document(index, f"{path}:{start}", tuple(lines))
                index, lines = index + 1, []
        if lines:
            yield Document(index, f"{path}:{start}", tuple(lines))
            index += 1


def read_lines(paths: Iterable[Path]) -> Iterator[str]:
    """Every non-blank line of the corpus, stripped."""
    for path in paths:
        for _, text in _lines(path):
            if text.strip():
                yield text.strip()
