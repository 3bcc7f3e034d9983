"""The "write a new backend" path, end to end, with the tutorial's own code (conformance/example_backend).

The example distribution is copied under fresh names, pip-installed into this environment, found through
the `albert_core` entry-point group by a fresh interpreter, and run through the conformance suite; a copy
with one wrong primitive must fail, naming the op and the difference. Variants with bad `known_gaps` check
the suite's expected-failure rules.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "example_backend"
PACKAGE, DISTRIBUTION = "albert_example_backend", "albert-example-backend"


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args, "--quiet", "--disable-pip-version-check"], check=True,
                   timeout=300)


class Installed:
    """A renamed copy of the example backend, installed for the duration of a test module."""

    def __init__(self, root: Path, label: str, edit: dict[str, tuple[str, str]] | None = None) -> None:
        tag = f"{label}{uuid.uuid4().hex[:6]}"
        self.name, self.package, self.distribution = f"conf{tag}", f"albert_conf_{tag}", f"albert-conf-{tag}"
        self.folder = root / self.distribution
        shutil.copytree(EXAMPLE, self.folder, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__", "build"))
        (self.folder / PACKAGE).rename(self.folder / self.package)
        for path in [self.folder / "pyproject.toml", *(self.folder / self.package).glob("*.py")]:
            text = path.read_text().replace(PACKAGE, self.package).replace(DISTRIBUTION, self.distribution)
            text = text.replace('BACKEND_NAME = "example"', f'BACKEND_NAME = "{self.name}"')
            for file_name, (old, new) in (edit or {}).items():
                if path.name == file_name:
                    assert old in text, f"{old!r} not in {path}"
                    text = text.replace(old, new)
            path.write_text(text)
        _pip("install", "--no-deps", "--no-build-isolation", str(self.folder))

    def conformance(self, *pytest_args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "albert_conformance", "--backend", self.name, "-q",
                               "-p", "no:randomly", *pytest_args], capture_output=True, text=True, timeout=600)

    def uninstall(self) -> None:
        _pip("uninstall", "--yes", self.distribution)


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    made: list[Installed] = []

    def make(label: str, edit: dict[str, tuple[str, str]] | None = None) -> Installed:
        made.append(Installed(tmp_path_factory.mktemp(label), label, edit))
        return made[-1]

    yield make
    for installed in made:
        installed.uninstall()


def test_the_tutorial_backend_conforms(install):
    backend = install("good")
    result = backend.conformance()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"\d+ passed", result.stdout) and "failed" not in result.stdout


def test_one_wrong_primitive_fails_naming_the_op_and_the_difference(install):
    broken = install("broken", {"backend.py": ("return np.exp(x)", "return np.exp(x) * 1.0001")})
    result = broken.conformance("-k", "test_op or test_golden")
    assert result.returncode == 1, result.stdout[-4000:]
    assert re.search(r"op 'exp' \[wide-range\] in float32: \d+ of 61 element\(s\) differ .* rel diff 0\.0001",
                     result.stdout), result.stdout[-4000:]
    assert "FAILED" in result.stdout and "test_golden_outputs" in result.stdout, "the model must fail too"


def test_a_known_gap_that_passes_fails_the_run(install):
    gapped = install("xpass", {"backend.py": ("known_gaps: dict[str, str] = {}",
                                              'known_gaps: dict[str, str] = {"exp": "pretend exp is wrong"}')})
    result = gapped.conformance("-k", "exp")
    assert result.returncode == 1 and "XPASS(strict)" in result.stdout, result.stdout[-3000:]


def test_known_gaps_need_a_reason_and_a_matching_test(install):
    no_reason = install("noreason", {"backend.py": ("known_gaps: dict[str, str] = {}",
                                                    'known_gaps: dict[str, str] = {"exp": " "}')})
    result = no_reason.conformance()
    assert result.returncode == 4 and "has no reason" in result.stderr, result.stderr[-2000:]
    stale = install("stale", {"backend.py": ("known_gaps: dict[str, str] = {}",
                                             'known_gaps: dict[str, str] = {"test_nothing*": "old"}')})
    result = stale.conformance()
    assert result.returncode == 4 and "match no conformance test" in result.stderr, result.stderr[-2000:]


def test_an_unknown_backend_is_an_error_not_a_skip():
    result = subprocess.run([sys.executable, "-m", "albert_conformance", "--backend", "no-such-backend"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 4 and "unknown backend 'no-such-backend'" in result.stderr, result.stderr[-2000:]


def test_collecting_nothing_fails():
    result = subprocess.run([sys.executable, "-m", "albert_conformance", "--backend", "numpy", "-k", "no_such_test"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 5, result.stdout[-2000:]
