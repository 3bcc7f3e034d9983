"""Every `albert` subcommand run as a subprocess (`python -m albert_core`), with its bad-input errors."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_pipelines import vocab_file

import albert_core
from albert_core.pipelines import resolve_model
from albert_core.progress import Progress

TINY = ["--model", "random:tiny"]


def albert(*args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "albert_core", *args], input=stdin, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def one_line_error(proc: subprocess.CompletedProcess, status: int, *needles: str) -> str:
    assert proc.returncode == status, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("albert: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def vocab(tmp_path_factory) -> str:
    return str(vocab_file(tmp_path_factory.mktemp("vocab")))


@pytest.fixture(scope="module")
def folder(tmp_path_factory, vocab) -> str:
    """A tiny masked-LM model folder with its spiece.model, as `albert_core.save` writes it."""
    model = albert_core.load(resolve_model("random:tiny"), task="masked-lm")
    return str(albert_core.save(model, tmp_path_factory.mktemp("model") / "tiny-mlm", tokenizer_file=vocab))


# -------------------------------------------------------------------------------------------------- backends
def test_backends_lists_numpy_and_a_broken_plugin(tmp_path):
    dist = tmp_path / "broken_albert_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-albert-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[albert_core]\nbroken = broken_albert_plugin\n")
    (tmp_path / "broken_albert_plugin.py").write_text("raise ImportError('needs libfoo')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    proc = albert("backends", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    numpy_row = next(r for r in data["backends"] if r["backend"] == "numpy")
    assert numpy_row["distribution"] == "albert-core" and numpy_row["version"] == albert_core.__version__
    assert numpy_row["framework"].startswith("numpy ") and numpy_row["status"] == "ok"
    assert "needs libfoo" in data["failed_plugins"]["broken"]
    table = albert("backends", env=env)
    assert table.returncode == 0 and "numpy" in table.stdout and "plugin 'broken' failed to load" in table.stdout
    one_line_error(albert("backends", "--bogus"), 2, "unrecognized arguments: --bogus")


# --------------------------------------------------------------------------------------------------- compare
def test_compare_numpy_against_itself():
    proc = albert("compare", *TINY, "--backends", "numpy", "--seq", "8", "--reps", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    (row,) = data["rows"]
    assert row["backend"] == "numpy" and row["status"] == "ok"
    assert set(row["diffs"]) == {"last_hidden_state", "pooler_output"}
    assert max(row["diffs"].values()) < 1e-4 and row["first_call_ms"] > 0 and row["steady_ms"] > 0
    table = albert("compare", *TINY, "--backends", "numpy", "--seq", "8", "--reps", "1", "--task", "masked-lm")
    assert table.returncode == 0 and "max|diff| logits" in table.stdout and "steady/batch" in table.stdout


def test_compare_errors():
    one_line_error(albert("compare", "--backends", "numpy,nope"), 2, "unknown backend 'nope'")
    one_line_error(albert("compare", "--task", "summarize"), 2, "--task 'summarize'")
    one_line_error(albert("compare", "--batch", "0"), 2, "--batch")
    one_line_error(albert("compare", "--model", "./no/such/folder"), 2, "no such folder")
    one_line_error(albert("compare", "--model", "random:albert-huge"), 1, "unknown preset")
    bad_dtype = albert("compare", *TINY, "--backends", "numpy", "--dtype", "int8", "--seq", "4", "--reps", "1")
    assert bad_dtype.returncode == 1 and "dtype 'int8' is not supported" in bad_dtype.stdout


# ---------------------------------------------------------------------------------------------- task commands
def test_fill_mask_from_arguments_stdin_and_json(folder):
    args = ["fill-mask", "--model", folder, "--top-k", "2"]
    human = albert(*args, "the capital is [MASK] .")
    assert human.returncode == 0, human.stderr
    assert human.stdout.splitlines()[0] == "the capital is [MASK] ."
    piped = albert(*args, "--json", stdin="first [MASK]\n\nsecond [MASK] text\n")
    assert piped.returncode == 0, piped.stderr
    rows = [json.loads(line) for line in piped.stdout.splitlines()]
    assert [r["input"] for r in rows] == ["first [MASK]", "second [MASK] text"]
    assert all(len(r["result"]) == 2 for r in rows)
    targets = albert(*args, "--json", "--targets", "paris,london", "x [MASK]")
    assert {r["token_str"] for r in json.loads(targets.stdout)["result"]} <= {"paris", "london"}
    one_line_error(albert(*args, "no mask here"), 1, "[MASK]")
    one_line_error(albert(*args, stdin=""), 2, "no input")
    one_line_error(albert("fill-mask", *TINY, "x [MASK]"), 1, "--tokenizer")
    one_line_error(albert("fill-mask", *TINY, "--tokenizer", "/no/such.model", "x"), 2, "--tokenizer")
    one_line_error(albert("fill-mask", "--model", folder, "--backend", "nope", "x"), 2, "unknown backend")
    one_line_error(albert("fill-mask", "x [MASK]"), 2, "--model")


def test_classify_pairs_and_all_labels(vocab):
    args = ["classify", *TINY, "--tokenizer", vocab, "--labels", "neg,pos", "--json"]
    proc = albert(*args, "--top-k", "all", stdin="good film\nsentence one\tsentence two\n")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert rows[1]["input"] == {"text": "sentence one", "text_pair": "sentence two"}
    assert [sorted(r["label"] for r in row["result"]) for row in rows] == [["neg", "pos"]] * 2
    one_line_error(albert(*args, "--top-k", "some", "x"), 2, "--top-k")
    one_line_error(albert(*args, stdin="a\tb\tc\n"), 1, "stdin line 1")


def test_tag_qa_embed_choose(vocab, tmp_path):
    common = [*TINY, "--tokenizer", vocab, "--json"]
    tag = albert("tag", *common, "--labels", "B-PER,I-PER", "John Smith lives here")
    entities = json.loads(tag.stdout)["result"]
    assert tag.returncode == 0 and all("John Smith lives here"[e["start"]:e["end"]] == e["word"] for e in entities)
    context = tmp_path / "context.txt"
    context.write_text("John Smith lives in Paris and works in London.")
    qa = albert("qa", *common, "--context-file", str(context), "where does he live?", "who?")
    answers = [json.loads(line)["result"] for line in qa.stdout.splitlines()]
    assert qa.returncode == 0 and len(answers) == 2 and all(a["answer"] in context.read_text() for a in answers)
    pairs = albert("qa", *common, stdin="who?\tJohn lives here.\n")
    assert pairs.returncode == 0 and json.loads(pairs.stdout)["input"]["context"] == "John lives here."
    one_line_error(albert("qa", *common, "who?"), 1, "--context")
    one_line_error(albert("qa", *common, "--context-file", str(tmp_path / "nope.txt"), "q"), 2, "--context-file")
    embed = albert("embed", *common, "hello world")
    assert embed.returncode == 0 and len(json.loads(embed.stdout)["result"]) == 32
    one_line_error(albert("embed", *common, "--pooling", "sum", "x"), 2, "--pooling")
    choose = albert("choose", *common, stdin="the sky is\tblue\tgreen\n")
    result = json.loads(choose.stdout)["result"]
    assert choose.returncode == 0 and result["choice"] in ("blue", "green") and len(result["scores"]) == 2
    one_line_error(albert("choose", *common, "no choices"), 1, "TAB")


# -------------------------------------------------------------------------------------------------------- run
def test_run_streams_json_lines_in_order(folder, tmp_path):
    source = tmp_path / "in.jsonl"
    texts = [f"text number {i} with a [MASK]" + " word" * (i % 4) for i in range(11)]
    source.write_text("\n".join(json.dumps(t if i % 2 else {"text": t}) for i, t in enumerate(texts)) + "\n")
    target = tmp_path / "out.jsonl"
    proc = albert("run", "--task", "fill-mask", "--model", folder, "--input", str(source), "--output", str(target),
                  "--batch-size", "3", "--options", '{"top_k": 1}')
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr  # piped: no progress bar
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(rows) == len(texts) and all(len(r) == 1 for r in rows)
    assert [r[0]["sequence"].startswith(f"text number {i} ") for i, r in enumerate(rows)] == [True] * len(texts)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('"fine [MASK]"\n{"text": oops}\n')
    one_line_error(albert("run", "--task", "fill-mask", "--model", folder, "--input", str(bad), "--output", "-"), 1,
                   f"{bad} line 2", "not valid JSON")
    one_line_error(albert("run", "--task", "fill-mask", "--model", folder, "--input", str(tmp_path / "none.jsonl"),
                          "--output", "-"), 2, "--input")
    one_line_error(albert("run", "--task", "fill-mask", "--model", folder, "--input", str(source), "--output", "-",
                          "--options", "[1]"), 2, "--options")
    one_line_error(albert("run", "--task", "translate", "--model", folder, "--input", str(source), "--output", "-"),
                   2, "--task")


def test_run_names_the_line_and_keeps_the_old_output(folder, tmp_path):
    """An input the pipeline refuses, or a line that is not UTF-8, is an error naming the file's line; the --output
    file is replaced only once every result is written, so a failed run leaves it as it was."""
    target = tmp_path / "out.jsonl"
    target.write_text("previous results\n")
    source = tmp_path / "in.jsonl"
    lines = [json.dumps(f"fine [MASK] {i}") for i in range(30)]
    source.write_text("\n".join(lines[:20] + ["", '"no mask here"'] + lines[20:]) + "\n")
    one_line_error(albert("run", "--task", "fill-mask", "--model", folder, "--input", str(source), "--output",
                          str(target), "--batch-size", "4"), 1, f"{source} line 22: fill-mask input has no [MASK]")
    source.write_bytes(b'"fine [MASK]"\n"caf\xe9 [MASK]"\n')
    one_line_error(albert("run", "--task", "fill-mask", "--model", folder, "--input", str(source), "--output",
                          str(target)), 1, f"{source} line 2: not UTF-8 (byte 0xe9")
    assert target.read_text() == "previous results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]  # no partial file left


def test_progress_bar_only_on_a_terminal():
    shown = io.StringIO()
    bar = Progress(4, stream=shown, enabled=True)
    for _ in range(4):
        bar.update()
    bar.close()
    assert "[" + "#" * 30 + "] 4/4" in shown.getvalue()
    hidden = io.StringIO()  # StringIO is not a terminal: nothing is written
    quiet = Progress(4, stream=hidden)
    quiet.update()
    quiet.close()
    assert hidden.getvalue() == ""


def test_module_and_console_script_are_the_same_program():
    help_text = albert("--help").stdout
    assert all(command in help_text for command in
               ("backends", "compare", "fill-mask", "classify", "tag", "qa", "embed", "choose", "run"))
    script = Path(sys.executable).with_name("albert")
    if script.exists():  # installed environments: the console script runs the same main
        assert subprocess.run([str(script), "--help"], capture_output=True, text=True).stdout == help_text
    code = textwrap.dedent("""
        from albert_core.cli import main
        raise SystemExit(main(["backends", "--json"]))
    """)
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


# ---------------------------------------------------------------------------------------------- formats, convert
def test_formats_and_convert(folder, tmp_path):
    listed = albert("formats", "--json")
    assert listed.returncode == 0 and "hf-safetensors" in [f["format"] for f in json.loads(listed.stdout)["formats"]]
    target = tmp_path / "converted"
    proc = albert("convert", folder, str(target), "--task", "masked-lm")
    assert proc.returncode == 0, proc.stderr
    assert (target / "model.safetensors").is_file() and (target / "spiece.model").is_file()
    one_line_error(albert("convert", folder, str(target)), 1, "exists")
    one_line_error(albert("convert", str(tmp_path / "missing"), str(tmp_path / "out")), 2, "no such file")
    one_line_error(albert("convert", folder, str(tmp_path / "out2"), "--task", "nope"), 2, "--task")
