"""Tests of the conformance package itself (run by `nox -s conformance-numpy`)."""
