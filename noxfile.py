"""The test matrix: `nox` runs it all, `nox -l` lists it, `nox -s NAME` runs one session.

Every session gets its own virtualenv, so no backend can lean on another's framework; every install goes
through `constraints.txt` (the one place framework versions are pinned: `torch==2.13.0` is the CPU wheel
on this project's machines, any other torch request pulls a multi-GB CUDA build). pytest runs without its
cache and a run that collects no test exits 5, which nox counts as a failure like any non-zero status.
"""

from __future__ import annotations

import os
import pathlib

import nox
import nox.command

nox.options.default_venv_backend = "virtualenv"
nox.options.error_on_missing_interpreters = True
nox.options.error_on_external_run = True
nox.options.reuse_existing_virtualenvs = False  # CI runs fresh; use `nox -R` locally to reuse
nox.needs_version = ">=2026.10.20"  # --parallel
# Sessions run side by side, one per core (`nox -j 1` runs them one at a time), longest first so that no long one
# starts last; each session's output is printed whole when it ends.
nox.options.parallel = os.cpu_count() or 1
nox.options.allow_parallel = True
nox.options.sessions = [
    "parity", "conformance-jax", "distributed", "conformance-tensorflow", "tests", "conformance-torch", "ray",
    "onnx", "conformance-numpy", "lint",
]
nox.options.report = ".nox/report.json"  # each session's status and time; .ci/run prints them

CONSTRAINTS = ("-c", "constraints.txt")
PYTEST = ("python", "-m", "pytest", "-p", "no:cacheprovider", "-rfE")
# backend name -> its distribution folder under backends/ (None: the NumPy reference in the core)
BACKENDS = {"numpy": None, "torch": "albert-torch", "jax": "albert-jax", "tensorflow": "albert-tensorflow"}
FRAMEWORKS = ("torch", "jax", "jaxlib", "tensorflow-cpu", "tf-keras", "flax")
ROOT = pathlib.Path(__file__).resolve().parent
COVERAGE_DATA = ROOT / ".coverage-data"
# One compute thread per op: the tests' models are tiny, so a second thread only spins, and the sessions running
# side by side already fill the cores (measured: docs/testing.md). TensorFlow keeps its inter-op pool, which
# MirroredStrategy's collectives need.
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                     "TF_NUM_INTRAOP_THREADS")}


def install_core(session: nox.Session, *more: str) -> None:
    # setuptools: the packages build with it, and the plugin test installs with --no-build-isolation.
    # hypothesis: the property tests in tests/fuzz (profiles in tests/fuzz/conftest.py; pinned in constraints.txt).
    session.install(*CONSTRAINTS, "setuptools>=68", "wheel", "pytest>=8", "hypothesis", "-e", ".", *more)
    session.env.update(ONE_THREAD)
    # XLA's compilations persist for the run: processes (the suite, the backend's tests, the CLI's subprocesses)
    # and models of the same config then compile each program once.
    session.env.update(JAX_COMPILATION_CACHE_DIR=str(ROOT / ".nox" / "jax-cache"),
                       JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="-1")
    if os.environ.get("ALBERT_COVERAGE"):
        measure_coverage(session)


def measure_coverage(session: nox.Session) -> None:
    """`ALBERT_COVERAGE=1 nox ...`: every Python process of the session (pytest, the CLI's and torchrun's
    subprocesses, Ray's workers) records line coverage of the core and the backends into .coverage-data/, through
    a .pth that starts coverage when COVERAGE_PROCESS_START is set; `nox -s coverage` combines the matrix."""
    session.install(*CONSTRAINTS, "coverage")
    site = session.run("python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", silent=True)
    pathlib.Path(site.strip(), "albert_coverage.pth").write_text("import coverage; coverage.process_startup()\n")
    COVERAGE_DATA.mkdir(exist_ok=True)
    session.env["COVERAGE_PROCESS_START"] = str(ROOT / "pyproject.toml")
    session.env["COVERAGE_FILE"] = str(COVERAGE_DATA / ".coverage")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the whole repository (configuration in the root pyproject.toml)."""
    session.install(*CONSTRAINTS, "ruff")
    session.run("ruff", "check", ".")


# The core's own tests: everything under tests/ that needs no framework (and the references of the metrics'
# tests, scipy and scikit-learn, and matplotlib for the fine-tuning run's PNG).
CORE_TESTS = ("tests", "--ignore=tests/parity", "--ignore=tests/ray", "--ignore=tests/distributed")
CORE_TEST_EXTRAS = ("matplotlib", "scipy", "scikit-learn")


@nox.session
def tests(session: nox.Session) -> None:
    """The core's own tests with only the core installed (NumPy backend; no framework, no HF), plus its `plot` extra
    (matplotlib), so the fine-tuning run's PNG is drawn for real, and scipy and scikit-learn, the references of the
    metrics tests."""
    install_core(session, *CORE_TEST_EXTRAS)
    session.run(*PYTEST, *CORE_TESTS, *session.posargs)


@nox.session(default=False)
def quick(session: nox.Session) -> None:
    """The contributor's inner loop, under 3 minutes: lint, the core's tests on every core (pytest-xdist), and the
    whole conformance suite on the NumPy reference. The full matrix (`nox`) is what CI runs."""
    install_core(session, "-e", "conformance", "ruff", "pytest-xdist", *CORE_TEST_EXTRAS)
    session.run("ruff", "check", ".")
    session.run(*PYTEST, *CORE_TESTS, "-n", "auto", *session.posargs)
    session.run("python", "-m", "albert_conformance", "--backend", "numpy", "-q")


def _run(session: nox.Session, command: tuple[str, ...]) -> bool:
    try:
        session.run(*command)
    except nox.command.CommandFailed:
        return False
    return True


def _conformance(backend: str, distribution: str | None) -> None:
    @nox.session(name=f"conformance-{backend}", tags=["conformance"])
    def session_fn(session: nox.Session) -> None:
        extra = ["-e", "conformance"]
        if distribution is not None:  # the backend and, through its dependencies, only its own framework
            extra += ["-e", f"backends/{distribution}[test]"]
        install_core(session, *extra)
        own_tests = "conformance/tests" if distribution is None else f"backends/{distribution}/tests"
        runs = [("conformance suite", ("python", "-m", "albert_conformance", "--backend", backend, "-rfE",
                                       *session.posargs)),
                (own_tests, (*PYTEST, own_tests))]
        if distribution is not None:  # the docs' ```python backend=NAME blocks need this framework
            runs.append((f"docs blocks for {backend}", (*PYTEST, "tests/test_docs.py", f"--doc-backends={backend}")))
        # Every run always happens, so one CI run reports all of a backend's failures.
        failed = [what for what, command in runs if not _run(session, command)]
        if failed:
            session.error(f"failed: {', '.join(failed)}")

    session_fn.__doc__ = (f"Conformance suite against the {backend!r} backend"
                          + (" plus the conformance package's own tests." if distribution is None
                             else f", then backends/{distribution}/tests, with only {distribution} installed."))


for _name, _dist in BACKENDS.items():
    _conformance(_name, _dist)


@nox.session
def parity(session: nox.Session) -> None:
    """Every backend against HF transformers' PyTorch, TF and Flax ALBERT on random weights HF saved."""
    backends = [f"backends/{d}" for d in BACKENDS.values() if d]
    install_core(session, *(arg for b in backends for arg in ("-e", b)), "transformers<5", *FRAMEWORKS)
    session.run(*PYTEST, "tests/parity", *session.posargs)


@nox.session
def ray(session: nox.Session) -> None:
    """Batch inference on Ray Data (albert-core[ray]) on a local 2-CPU cluster: every pipeline task through
    `map_batches` and `albert run --engine ray` against `albert run`, Parquet input, a killed actor restarted."""
    install_core(session, "ray[data]")  # what the albert-core[ray] extra installs, pinned by constraints.txt
    session.run(*PYTEST, "tests/ray", *session.posargs)


@nox.session
def distributed(session: nox.Session) -> None:
    """Data-parallel training on one machine: torchrun (2 gloo processes), a 4-device JAX host mesh and TF's
    MirroredStrategy on 2 logical CPUs, each against single-process training on the same global batch; resumes
    across distributed and single-process runs and backends; a killed torchrun worker."""
    backends = [f"backends/{BACKENDS[name]}" for name in ("torch", "jax", "tensorflow")]
    install_core(session, *(arg for b in backends for arg in ("-e", b)), "torch", "jax", "jaxlib", "tensorflow-cpu")
    session.run(*PYTEST, "tests/distributed", *session.posargs)


@nox.session
def onnx(session: nox.Session) -> None:
    """The ONNX exporter and the onnxruntime backend (backends/albert-onnx): the conformance suite against it by
    name, then its own tests (every head from one file against the NumPy reference, the file's size, the command)."""
    install_core(session, "-e", "conformance", "-e", "backends/albert-onnx[test]")
    session.run("python", "-m", "albert_conformance", "--backend", "onnxruntime", "-rfE")
    session.run(*PYTEST, "backends/albert-onnx/tests", *session.posargs)


@nox.session(default=False)
def coverage(session: nox.Session) -> None:
    """Combine the line coverage that `ALBERT_COVERAGE=1 nox` recorded over the matrix and report it for
    albert_core/ and backends/ (`nox -s coverage -- --skip-covered` and other `coverage report` options pass on)."""
    session.install(*CONSTRAINTS, "coverage")
    # The combined file lies outside .coverage-data: `report` (parallel = true) would otherwise combine, and
    # delete, the per-process files beside it.
    env = {"COVERAGE_FILE": str(ROOT / ".coverage")}
    session.run("coverage", "combine", "--keep", "--quiet", str(COVERAGE_DATA), env=env)
    session.run("coverage", "report", "--rcfile=pyproject.toml", *session.posargs, env=env)


@nox.session(default=False)
def golden(session: nox.Session) -> None:
    """Regenerate the conformance goldens from the NumPy reference in float64 (commit the result)."""
    install_core(session, "-e", "conformance")
    session.run("python", "-m", "albert_conformance.generate_goldens")


@nox.session(default=False)
def fuzz(session: nox.Session) -> None:
    """Long fuzzing (about 12 minutes on 2 cores; not in the default run): the property tests with random examples
    (HYPOTHESIS_PROFILE=fuzz, failures kept in tests/fuzz/examples and replayed), the conformance suite's model
    inputs on the NumPy reference, 60 kills per writer, then coverage-guided fuzzing (atheris) of the safetensors
    header parser and the config reader, seeded from real files. `nox -s fuzz -- SECONDS` sets each atheris
    target's time (default 150)."""
    install_core(session, "-e", "conformance", "atheris")
    seconds = session.posargs[0] if session.posargs else "150"
    env = {"HYPOTHESIS_PROFILE": "fuzz", "HYPOTHESIS_MAX_EXAMPLES": "2000"}
    session.run(*PYTEST, "tests/fuzz", "--hypothesis-show-statistics", env=env)
    session.run("python", "-m", "albert_conformance", "--backend", "numpy", "-k", "fuzz_inputs", "-rfE", env=env)
    session.run(*PYTEST, "tests/test_crash_safety.py", env={"ALBERT_KILLS": "60"})
    for target in ("safetensors", "config"):
        session.run("python", "tests/fuzz/coverage_guided.py", target, "--seconds", seconds, "--work", ".fuzz")


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks against HF in each framework and in onnxruntime (`python -m benchmarks`); writes under
    benchmarks/results."""
    backends = [f"backends/{d}" for d in BACKENDS.values() if d]
    # albert-onnx and onnxscript: the onnx section (HF's class through torch.onnx.export's dynamo exporter too)
    install_core(session, *(arg for b in backends for arg in ("-e", b)), "-e", "backends/albert-onnx",
                 "transformers<5", "matplotlib", "onnxscript", *FRAMEWORKS)
    session.run("python", "-m", "benchmarks", *session.posargs)
