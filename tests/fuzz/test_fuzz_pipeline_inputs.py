"""Property-based tests (hypothesis) of what the pipelines and `albert run` take from users: Python values of
any JSON type for every pipeline task, and JSON-lines files of any bytes (malformed JSON, wrong field types, blank
lines, invalid UTF-8, empty files, 100k-character lines).

The properties:

- a pipeline called on any value returns one result per input, or raises one of the project's exceptions
  (`AlbertError`), whose message names the input; never another exception type;
- `albert run` either exits 0 with one JSON result a non-blank input line, or exits 1 or 2 with one line
  `albert: error: ...` that names the input file and line (never "internal error"); and then the `--output` file
  still holds what it held before: no half-written results.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from fuzzing import example_dir, outcome
from hypothesis import event, given
from hypothesis import strategies as st
from test_pipelines import vocab_file

import albert_core
from albert_core import AlbertError
from albert_core.cli import main

TASKS = ["fill-mask", "text-classification", "token-classification", "question-answering", "feature-extraction",
         "multiple-choice"]
FIELDS = {"text-classification": ["text", "text_pair"], "question-answering": ["question", "context"],
          "multiple-choice": ["context", "choices"], "fill-mask": ["text"], "token-classification": ["text"],
          "feature-extraction": ["text"]}
WORDS = st.sampled_from(["Paris is the capital of France.", "a [MASK] b", "", " ", "[MASK]", "\x00", "é\u0301",
                         "\u202e\u05e9", "x" * 2000])
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30) | WORDS


def values(task: str):
    """Any JSON value, and objects with the task's own fields holding any JSON value."""
    anything = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                            | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)
    fields = st.dictionaries(st.sampled_from(FIELDS[task] + ["extra"]), anything | WORDS | st.lists(WORDS, max_size=3),
                             max_size=3)
    return anything | fields | WORDS


@pytest.fixture(scope="module")
def vocab(tmp_path_factory) -> str:
    return str(vocab_file(tmp_path_factory.mktemp("vocab")))


@pytest.fixture(scope="module")
def pipes(vocab):
    return {task: albert_core.pipeline(task, "random:tiny", tokenizer=vocab, max_length=32) for task in TASKS}


@given(task=st.sampled_from(TASKS), items=st.lists(st.data(), min_size=0, max_size=3), single=st.booleans())
def test_pipelines_take_any_value(pipes, task, items, single):
    drawn = [data.draw(values(task)) for data in items]
    call = drawn[0] if single and drawn else drawn
    try:
        results = pipes[task](call)
    except AlbertError as exc:
        assert str(exc)
        event(outcome(exc))
        return
    event("ran")
    if not (single and drawn) and isinstance(call, list):
        assert isinstance(results, list) and len(results) == len(call)


def line_bytes(task: str):
    json_line = values(task).map(lambda v: json.dumps(v, ensure_ascii=False).encode())
    junk = st.sampled_from([b"{", b'{"text": oops}', b"\xff\xfe", b"\xe2\x82", b"NaN", b"[1,", b"\x00", b"  ",
                            b'"' + b"a" * 100_000 + b'"', b'"ok\\ud800"'])
    return json_line | junk | st.binary(max_size=20)


@given(task=st.sampled_from(TASKS), lines=st.data(), newline=st.sampled_from([b"\n", b"\r\n"]))
def test_albert_run_on_any_file(scratch, vocab, task, lines, newline):
    drawn = lines.draw(st.lists(line_bytes(task), max_size=4))
    with example_dir(scratch) as d:
        source, target = Path(d) / "in.jsonl", Path(d) / "out.jsonl"
        source.write_bytes(newline.join(drawn) + (newline if drawn else b""))
        target.write_text("OLD\n", encoding="utf-8")
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            status = main(["run", "--task", task, "--model", "random:tiny", "--tokenizer", vocab, "--max-length",
                           "32", "--input", str(source), "--output", str(target), "--no-progress"])
        message = stderr.getvalue()
        if status == 0:
            event("ran")
            rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
            assert len(rows) == sum(1 for line in source.read_bytes().splitlines() if line.strip()), rows
            return
        assert status in (1, 2), (status, message)
        assert message.startswith("albert: error: ") and message.count("\n") == 1, message
        assert "internal error" not in message and str(source) in message, message
        assert target.read_text(encoding="utf-8") == "OLD\n"
        event(outcome(AlbertError(message.split(str(source), 1)[-1])))
