"""Data-parallel training on one 2-core machine (`nox -s distributed`): torchrun with 2 gloo processes, JAX on a
4-device host mesh (in one process, and over 2 processes with `jax.distributed`), TensorFlow's MirroredStrategy on
2 logical CPUs and MultiWorkerMirroredStrategy with 2 workers. Each runs 10 steps (gradient accumulation 2,
clipping, a short last micro-batch) whose per-step losses and final weights must equal a single-process run on the
same global batch; bf16 with gradient checkpointing runs on each engine; checkpoints cross between distributed and
single-process runs and between backends; a killed torchrun worker fails the run without leaving a final model."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from training_helpers import SPIECE, classification_rows, write_jsonl  # noqa: E402

GLOBAL_BATCH = 8  # rows per micro-batch: 22 rows give micro-batches of 8, 8 and 6 (an uneven last one)
FLAGS = ["--task", "text-classification", "--model", "random:tiny", "--tokenizer", str(SPIECE), "--max-steps", "10",
         "--logging-steps", "1", "--save-steps", "5", "--no-plot", "--no-progress", "--dropout", "0",
         "--gradient-accumulation-steps", "2", "--learning-rate", "1e-3", "--max-grad-norm", "0.5"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
TF_DRIVER = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * int(sys.argv[1]))
from albert_core.cli.main import main
raise SystemExit(main(sys.argv[2:]))
"""


def free_port() -> int:
    """A TCP port nothing listens on now (the OS picks it), so that runs beside other sessions' servers, Ray's
    among them, do not collide."""
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def albert(*args: str, replicas: int = 1, backend: str = "torch", check: bool = True) -> subprocess.CompletedProcess:
    """`albert finetune ARGS` on `backend` over `replicas` data-parallel replicas (1: a plain process)."""
    command = ["finetune", "--backend", backend, *FLAGS, *args,
               "--per-device-train-batch-size", str(GLOBAL_BATCH // replicas)]
    env = dict(ENV)
    if backend == "torch" and replicas > 1:
        launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(replicas),
                  "--master_port", str(free_port()), "-m", "albert_core"]
    elif backend == "tensorflow":
        launch = [sys.executable, "-c", TF_DRIVER, str(replicas)]
    else:
        launch = [sys.executable, "-m", "albert_core"]
        if backend == "jax" and replicas > 1:
            env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={replicas}"
    if replicas > 1:
        command += ["--distributed", "on"]
    done = subprocess.run([*launch, *command], env=env, capture_output=True, text=True, timeout=600)
    if check and done.returncode:
        raise AssertionError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return done


def processes(count: int, env_of, *args: str, runner: list[str] | None = None) -> None:
    """`albert finetune ARGS` in `count` processes at once (the i-th with `env_of(i)` added), like a cluster's
    launcher would start them on `count` machines."""
    launch = runner or [sys.executable, "-m", "albert_core"]
    command = [*launch, "finetune", *FLAGS, *args, "--distributed", "on"]
    running = [subprocess.Popen(command, env={**ENV, **env_of(i)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for i in range(count)]
    for i, process in enumerate(running):
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, f"process {i} of {' '.join(command)} failed:\n{stderr[-4000:]}"


def losses(folder: Path) -> list[float]:
    return [r["loss"] for r in map(json.loads, (folder / "log.jsonl").read_text().splitlines()) if "loss" in r]


def assert_same_run(got: Path, want: Path, rtol: float = 1e-5) -> None:
    """Per-step losses and every final weight within `rtol` (relative, per tensor; attention's key bias, whose
    gradient is only rounding noise, against the whole model's scale)."""
    np.testing.assert_allclose(losses(got), losses(want), rtol=rtol)
    a, b = load_file(str(want / "model.safetensors")), load_file(str(got / "model.safetensors"))
    assert a.keys() == b.keys()
    scale = max(float(np.abs(v).max()) for v in a.values())
    for name in a:
        error = float(np.linalg.norm(b[name] - a[name]))
        floor = float(np.linalg.norm(a[name])) if "key.bias" not in name else scale
        assert error <= rtol * floor, (name, error, floor)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dp")
    write_jsonl(root / "train.jsonl", classification_rows(6))  # 22 rows of real docstrings, 4 labels
    return root


@pytest.fixture(scope="module")
def runs(work) -> dict[tuple[str, int], Path]:
    """One single-process and one data-parallel run per backend, on the same global batch."""
    out = {}
    for backend, replicas in (("torch", 1), ("torch", 2), ("jax", 1), ("jax", 4), ("tensorflow", 1),
                              ("tensorflow", 2)):
        folder = work / f"{backend}-{replicas}"
        albert("--train", str(work / "train.jsonl"), "--output", str(folder), backend=backend, replicas=replicas)
        out[backend, replicas] = folder
    return out


@pytest.mark.parametrize("backend, replicas", [("torch", 2), ("jax", 4), ("tensorflow", 2)])
def test_data_parallel_equals_single_process(runs, backend, replicas):
    assert_same_run(runs[backend, replicas], runs[backend, 1])
    state = json.loads((runs[backend, replicas] / "checkpoint-10/trainer_state.json").read_text())
    assert state["replicas"] == replicas and state["train_batch_size"] == GLOBAL_BATCH


def test_jax_over_two_processes_equals_single_process(work, runs):
    """`jax.distributed.initialize` (gloo on CPU): 2 processes of 2 host devices each, one 4-device mesh."""
    folder, port = work / "jax-processes", free_port()
    processes(2, lambda i: {"JAX_COORDINATOR_ADDRESS": f"localhost:{port}", "JAX_NUM_PROCESSES": "2",
                            "JAX_PROCESS_ID": str(i), "XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
              "--backend", "jax", "--train", str(work / "train.jsonl"), "--output", str(folder),
              "--per-device-train-batch-size", str(GLOBAL_BATCH // 4))
    assert_same_run(folder, runs["jax", 1])


def test_tf_multi_worker_equals_single_process(work, runs):
    """`MultiWorkerMirroredStrategy` from `TF_CONFIG`: two workers on this machine, one CPU each."""
    folder = work / "tf-workers"
    cluster = {"worker": [f"localhost:{free_port()}", f"localhost:{free_port()}"]}
    processes(2, lambda i: {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})},
              "--backend", "tensorflow", "--train", str(work / "train.jsonl"), "--output", str(folder),
              "--per-device-train-batch-size", str(GLOBAL_BATCH // 2))
    assert_same_run(folder, runs["tensorflow", 1])


@pytest.mark.parametrize("backend, replicas", [("torch", 2), ("jax", 4), ("tensorflow", 2)])
def test_bf16_and_gradient_checkpointing_keep_working(work, backend, replicas):
    """bfloat16 compute with recomputed layers: 3 steps whose losses follow the single-process run's to bfloat16's
    precision (the pieces' matmuls round differently), with finite weights."""
    got, want = (work / f"bf16-{backend}-{n}" for n in (replicas, 1))
    for folder, n in ((want, 1), (got, replicas)):
        albert("--train", str(work / "train.jsonl"), "--output", str(folder), "--bf16", "--gradient-checkpointing",
               "--max-steps", "3", backend=backend, replicas=n)
    np.testing.assert_allclose(losses(got), losses(want), rtol=2e-2)
    assert all(np.isfinite(v).all() for v in load_file(str(got / "model.safetensors")).values())


def test_pretraining_under_torchrun_weights_pieces_like_micro_batches(work):
    """Pretraining's loss is two means, so its pieces are weighted by rows like its micro-batches: 2 processes x 4
    rows with accumulation 2 is a single process with 4 rows and accumulation 4 (the same rows, the same weights),
    over full steps (an epoch's short last step weights its short micro-batch's pieces by their rows instead)."""
    from albert_core.pretraining.builder import DataOptions, build_pretraining_data
    from albert_core.pretraining.sample_corpus import write_sample_corpus

    data = work / "pretraining-data"
    build_pretraining_data(write_sample_corpus(work / "corpus.txt", max_documents=60), tokenizer=SPIECE,
                           output_dir=data, workers=1, options=DataOptions(max_seq_length=64, dupe_factor=1))
    assert json.loads((data / "data.json").read_text())["instances"] >= 5 * 16  # five full steps of 16 rows
    flags = ["pretrain", "--data", str(data), "--config", "tiny", "--max-steps", "5", "--logging-steps", "1",
             "--save-steps", "0", "--no-plot", "--no-progress", "--dropout", "0", "--per-device-train-batch-size", "4"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                str(free_port()), "-m", "albert_core"]
    for launch, out, extra in (([sys.executable, "-m", "albert_core"], "pretrain-1", ["4"]),
                               (torchrun, "pretrain-2", ["2", "--distributed", "on"])):
        command = [*launch, *flags, "--output", str(work / out), "--gradient-accumulation-steps", *extra]
        done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-4000:]
    assert_same_run(work / "pretrain-2", work / "pretrain-1")
    logs = [[json.loads(line) for line in (work / out / "log.jsonl").read_text().splitlines()]
            for out in ("pretrain-1", "pretrain-2")]
    for name in ("mlm_loss", "sop_loss", "mlm_accuracy", "sop_accuracy"):
        np.testing.assert_allclose([r[name] for r in logs[1]], [r[name] for r in logs[0]], rtol=1e-5, atol=1e-7)


def resumed(work: Path, source: Path, name: str, backend: str, replicas: int) -> Path:
    """`source`'s run continued from its checkpoint-5, in a copy of its folder."""
    folder = work / name
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(source, folder)
    albert("--train", str(work / "train.jsonl"), "--output", str(folder), "--resume", str(folder / "checkpoint-5"),
           backend=backend, replicas=replicas)
    return folder


def test_a_torchrun_checkpoint_resumes_in_one_process(work, runs):
    assert_same_run(resumed(work, runs["torch", 2], "torchrun-then-single", "torch", 1), runs["torch", 1])


def test_a_single_process_checkpoint_resumes_under_torchrun(work, runs):
    assert_same_run(resumed(work, runs["torch", 1], "single-then-torchrun", "torch", 2), runs["torch", 1])


def test_a_torchrun_checkpoint_resumes_on_a_jax_mesh(work, runs):
    """Another backend: the five steps after the checkpoint run on JAX, so they agree with the torch run to the
    frameworks' float32 differences, not to rounding."""
    folder = resumed(work, runs["torch", 2], "torchrun-then-jax-mesh", "jax", 4)
    assert_same_run(folder, runs["torch", 1], rtol=1e-4)


def test_a_killed_torchrun_worker_fails_the_run_and_leaves_no_final_model(work):
    folder = work / "killed"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
               str(free_port()), "-m", "albert_core", "finetune", "--backend", "torch", *FLAGS,
               "--train", str(work / "train.jsonl"), "--output", str(folder), "--per-device-train-batch-size", "4",
               "--distributed", "on", "--max-steps", "100000", "--save-steps", "3"]
    launcher = subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not (folder / "checkpoint-6").is_dir():
            assert launcher.poll() is None and time.monotonic() < deadline, "the run stopped before its checkpoints"
            time.sleep(0.2)
        os.kill(_worker(launcher.pid, rank=1), signal.SIGKILL)
        _, stderr = launcher.communicate(timeout=300)
    finally:
        launcher.kill()
    assert launcher.returncode != 0
    assert "albert_core" in stderr and "FAILED" in stderr.upper()
    assert not (folder / "model.safetensors").exists()  # no final model: nothing looks finished
    import albert_core

    for checkpoint in sorted(folder.glob("checkpoint-*")):  # every checkpoint that is there is whole
        assert json.loads((checkpoint / "trainer_state.json").read_text())["step"] == int(checkpoint.name[11:])
        albert_core.load(checkpoint, backend="numpy", task="sequence-classification")


def _worker(launcher: int, rank: int) -> int:
    """The pid of torchrun's worker process of `rank` (found through /proc: its environment names its rank)."""
    for child in Path(f"/proc/{launcher}/task/{launcher}/children").read_text().split():
        environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        if f"RANK={rank}".encode() in environ:
            return int(child)
    raise AssertionError(f"torchrun {launcher} has no worker of rank {rank}")
