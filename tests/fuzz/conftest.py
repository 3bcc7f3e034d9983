"""The `hypothesis` settings profiles of the property tests, chosen by HYPOTHESIS_PROFILE:

- "ci" (the default): the same examples on every run (derandomized, so no example database), a bounded number
  of them, no per-example deadline (shared, noisy machines).
- "fuzz" (`nox -s fuzz`): random, HYPOTHESIS_MAX_EXAMPLES examples a test (default 5000); what fails is saved to
  tests/fuzz/examples and replayed first by every later fuzz run. A finding, once fixed, is also pinned as a plain
  test (the "escaped before" tests), so the default run keeps it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

FOUND = DirectoryBasedExampleDatabase(Path(__file__).parent / "examples")
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile("ci", derandomize=True, max_examples=150, deadline=None, database=None,
                          print_blob=True, suppress_health_check=_QUIET)
settings.register_profile("fuzz", max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "5000")), deadline=None,
                          database=FOUND, print_blob=True, suppress_health_check=_QUIET)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")
