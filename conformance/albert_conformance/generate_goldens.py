"""Regenerate the golden files from the NumPy reference in float64: `python -m albert_conformance.generate_goldens`.

Run only through `nox -s golden`, and only when a change to the model cases (or, deliberately, to the
model's numbers) is intended; commit the new files with the change that needed them. Stale files are
removed so that every golden belongs to a case in `albert_conformance.cases`.
"""

from __future__ import annotations

import sys

from .cases import MODEL_CASES
from .golden import GOLDEN_DIR, write_golden


def main() -> int:
    names = set()
    for case in MODEL_CASES:
        path = write_golden(case)
        names.add(path.name)
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    for stale in GOLDEN_DIR.glob("*.npz"):
        if stale.name not in names:
            stale.unlink()
            print(f"removed stale {stale}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
