"""A small real-English corpus that every machine with Python has: the standard library's own docstrings, one
document per module, class or function, one sentence a line. For trying the pretraining commands, for the tests
and the benchmarks; it changes with the Python version, so numbers measured on it say which Python made it.

    python -m albert_core.pretraining.sample_corpus corpus.txt
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

from ..atomic_files import write_atomically

# Pure-Python modules with long prose docstrings, in a fixed order.
MODULES = ("argparse", "ast", "asyncio", "calendar", "cmd", "code", "codecs", "collections", "concurrent.futures",
           "configparser", "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "doctest",
           "email", "email.message", "enum", "fractions", "ftplib", "functools", "gettext", "heapq", "http.client",
           "http.cookiejar", "http.server", "imaplib", "inspect", "ipaddress", "json", "locale", "logging",
           "logging.handlers", "mailbox", "multiprocessing", "optparse", "pathlib", "pdb", "pickletools",
           "platform", "poplib", "pprint", "pydoc", "queue", "random", "reprlib", "sched", "selectors", "shlex",
           "shutil", "smtplib", "socketserver", "statistics", "string", "subprocess", "tarfile", "tempfile",
           "textwrap", "threading", "tkinter", "tokenize", "trace", "turtle", "typing", "unittest", "urllib.parse",
           "urllib.request", "uuid", "warnings", "webbrowser", "xml.dom.minidom", "zipfile")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def _sentences(doc: str) -> list[str]:
    out = []
    for paragraph in doc.split("\n\n"):
        text = " ".join(paragraph.split())
        prose = sum(c.isalpha() for c in text) >= len(text) // 2
        if not text or not prose or paragraph.startswith((" ", "\t")) or text.startswith((">>>", "...")):
            continue  # code, doctests and tables are not prose
        out.extend(s for s in _SENTENCE_END.split(text) if len(s.split()) >= 3)
    return out


def documents() -> Iterator[list[str]]:
    """Each document as its sentences (two or more), in a fixed order."""
    seen: set[str] = set()
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:  # e.g. tkinter on a Python built without Tk
            continue
        # Only public objects the module itself defines, and their own docstrings (not inherited ones): what
        # other imported packages patch into the standard library does not change the corpus.
        objects = [module] + [obj for key, obj in sorted(vars(module).items())
                              if not key.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
                              and getattr(obj, "__module__", "") == name]
        for obj in objects:
            members = [obj] + ([m for key, m in sorted(vars(obj).items()) if not key.startswith("_")
                                and inspect.isfunction(m) and m.__module__ == name] if inspect.isclass(obj) else [])
            for member in members:
                with warnings.catch_warnings():  # deprecated aliases (typing.io) warn when read
                    warnings.simplefilter("ignore", DeprecationWarning)
                    doc = inspect.cleandoc(member.__doc__) if isinstance(member.__doc__, str) else ""
                if doc in seen:
                    continue
                seen.add(doc)
                sentences = _sentences(doc)
                if len(sentences) >= 2:
                    yield sentences


def write_sample_corpus(path: str | Path, max_documents: int | None = None) -> Path:
    """Write the corpus (documents separated by blank lines) to `path`, atomically; returns the path."""
    docs = []
    for i, sentences in enumerate(documents()):
        if max_documents is not None and i >= max_documents:
            break
        docs.append("\n".join(sentences))
    write_atomically(path, ("\n\n".join(docs) + "\n").encode("utf-8"))
    return Path(path)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m albert_core.pretraining.sample_corpus OUT.txt")
    out = write_sample_corpus(sys.argv[1])
    print(f"wrote {out} ({out.stat().st_size} bytes)")
