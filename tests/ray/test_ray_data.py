"""Batch inference on Ray Data (`nox -s ray`): on a local cluster (`ray.init(num_cpus=2)`, shared by the tests),
`albert run --engine ray` and `RayPredictor` in `map_batches` give, for every pipeline task, exactly the rows
`albert run` gives without Ray, in the same order; an actor killed mid-run is restarted and the output is still
complete."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray
from test_pipelines import vocab_file

import albert_core
from albert_core.cli import main
from albert_core.distributed import RESULT_COLUMN, RayPredictor

WORDS = "the capital of France is Paris and John Smith lives in New York with a dog".split()


def text(i: int, mask: bool = False) -> str:
    words = [WORDS[(i * 7 + k) % len(WORDS)] for k in range(3 + i % 9)]
    if mask:
        words[len(words) // 2] = "[MASK]"
    return " ".join(words)


INPUTS = {  # task -> the JSON values of the input lines: strings and objects mixed, as albert run takes them
    "fill-mask": [text(i, True) if i % 2 else {"text": text(i, True)} for i in range(23)],
    "text-classification": [text(i) if i % 3 else {"text": text(i), "text_pair": text(i + 1)} for i in range(23)],
    "token-classification": [text(i) for i in range(23)],
    "question-answering": [{"question": text(i)[:20], "context": text(i + 2) * 3} for i in range(17)],
    "feature-extraction": [text(i) for i in range(23)],
    "multiple-choice": [{"context": text(i), "choices": [text(i + 1), text(i + 2), text(i + 3)]} for i in range(17)],
}


def assert_same_rows(got, want, path="row"):
    """Equal rows: strings, ints and structure exactly, floats to 1e-6 (an actor's BLAS runs one thread, this
    process's two: sums in another order)."""
    if isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-6, abs=1e-9), path
    elif isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), path
        for key in want:
            assert_same_rows(got[key], want[key], f"{path}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same_rows(g, w, f"{path}[{i}]")
    else:
        assert got == want, path


@pytest.fixture(scope="session", autouse=True)
def cluster():
    # The workers import this module (DiesOnce) and what it imports from tests/.
    here = Path(__file__).resolve().parent
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([str(here), str(here.parent)])}})
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def vocab(tmp_path_factory) -> str:
    return str(vocab_file(tmp_path_factory.mktemp("vocab")))


def run(task: str, vocab: str, source: Path, target: Path, *extra: str) -> list[dict]:
    options = ["--options", '{"doc_stride": 8}'] if task == "question-answering" else []  # windows of 32 tokens
    assert main(["run", "--task", task, "--model", "random:tiny", "--tokenizer", vocab, "--max-length", "32",
                 "--batch-size", "4", "--input", str(source), "--output", str(target), "--no-progress",
                 *options, *extra]) == 0
    return [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("task", sorted(INPUTS))
def test_every_task_gives_the_rows_of_albert_run(task, vocab, tmp_path):
    source = tmp_path / "in.jsonl"
    lines = [json.dumps(v) for v in INPUTS[task]]
    source.write_text("\n".join(lines[:5] + ["", "   "] + lines[5:]) + "\n", encoding="utf-8")  # blank lines skipped
    local = run(task, vocab, source, tmp_path / "local.jsonl")
    on_ray = run(task, vocab, source, tmp_path / "ray.jsonl", "--engine", "ray", "--num-workers", "1")
    assert len(local) == len(INPUTS[task])
    assert_same_rows(on_ray, local)  # the same rows, in the same order


def test_the_predictor_in_map_batches_and_parquet_columns(vocab, tmp_path):
    rows = INPUTS["question-answering"]
    pipe = albert_core.pipeline("question-answering", "random:tiny", tokenizer=vocab, max_length=32, batch_size=4)
    want = pipe(rows, doc_stride=8)
    ds = ray.data.from_items(rows).map_batches(
        RayPredictor, fn_constructor_kwargs={"task": "question-answering", "model": "random:tiny",
                                             "tokenizer": vocab, "max_length": 32, "batch_size": 4,
                                             "options": {"doc_stride": 8}},
        batch_size=5, compute=ray.data.ActorPoolStrategy(size=1))
    got = [json.loads(r[RESULT_COLUMN]) for r in ds.iter_rows()]
    assert [g["answer"] for g in got] == [w["answer"] for w in want]
    np.testing.assert_allclose([g["score"] for g in got], [w["score"] for w in want], rtol=1e-6)
    table = pa.table({"question": [r["question"] for r in rows], "context": [r["context"] for r in rows]})
    pq.write_table(table, tmp_path / "in.parquet")
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    from_parquet = run("question-answering", vocab, tmp_path / "in.parquet", tmp_path / "p.jsonl", "--engine", "ray")
    assert_same_rows(from_parquet, run("question-answering", vocab, tmp_path / "in.jsonl", tmp_path / "j.jsonl"))


class DiesOnce(RayPredictor):
    """Kills its own process on its first batch (once: `marker` is a file it creates first); Ray restarts it."""

    def __init__(self, marker: str, **kwargs):
        super().__init__(**kwargs)
        self.marker = marker

    def __call__(self, batch):
        if not os.path.exists(self.marker):
            Path(self.marker).touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return super().__call__(batch)


def test_a_killed_actor_is_restarted_and_nothing_is_lost(vocab, tmp_path):
    rows = [text(i) for i in range(40)]
    marker = tmp_path / "died"
    ds = ray.data.from_items([{"text": t} for t in rows]).map_batches(
        DiesOnce, fn_constructor_kwargs={"marker": str(marker), "task": "feature-extraction", "model": "random:tiny",
                                         "tokenizer": vocab, "max_length": 32, "options": {"pooling": "mean"}},
        batch_size=8, compute=ray.data.ActorPoolStrategy(size=1), max_restarts=2, max_task_retries=2)
    got = [json.loads(r[RESULT_COLUMN]) for r in ds.iter_rows()]
    assert marker.exists() and len(got) == len(rows)
    pipe = albert_core.pipeline("feature-extraction", "random:tiny", tokenizer=vocab, max_length=32)
    np.testing.assert_allclose(np.array(got), np.array(pipe(rows, pooling="mean")), rtol=1e-5, atol=1e-6)


def test_errors(vocab, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('"no mask here"\n', encoding="utf-8")
    target = tmp_path / "out.jsonl"
    target.write_text("old\n")
    with pytest.raises(albert_core.InputError, match="has no \\[MASK\\]"):
        main(["--traceback", "run", "--task", "fill-mask", "--model", "random:tiny", "--tokenizer", vocab, "--input",
              str(source), "--output", str(target), "--engine", "ray"])
    assert target.read_text() == "old\n"  # a failed run leaves the old output
    assert main(["run", "--task", "fill-mask", "--model", "random:tiny", "--tokenizer", vocab, "--input", "-",
                 "--output", str(target), "--engine", "ray"]) == 2
