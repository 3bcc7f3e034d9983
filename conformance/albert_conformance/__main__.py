"""`python -m albert_conformance --backend NAME [pytest options]`: run the conformance suite against NAME.

Exits with pytest's status: 0 only when every test ran and passed (known gaps failing as declared); an
unknown or uninstalled backend is 4, no test collected is 5.
"""

from __future__ import annotations

import argparse
import sys

import pytest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m albert_conformance", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", required=True, help="registered backend name, e.g. numpy, torch, jax")
    args, pytest_args = parser.parse_known_args(argv)
    return int(pytest.main(["--pyargs", "albert_conformance.suite", "--albert-backend", args.backend,
                            "-p", "albert_conformance.plugin", "-p", "no:cacheprovider", *pytest_args]))


if __name__ == "__main__":
    sys.exit(main())
