"""The conformance tests: `python -m albert_conformance --backend NAME` runs them (see albert_conformance.plugin)."""
