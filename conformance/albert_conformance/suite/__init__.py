"""The conformance tests; collected only with --albert-backend (see albert_conformance.plugin)."""
