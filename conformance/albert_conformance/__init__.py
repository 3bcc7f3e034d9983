"""albert-conformance: the shared test suite every albert-core backend must pass.

Run it with `python -m albert_conformance --backend NAME` or
`pytest --pyargs albert_conformance.suite --albert-backend NAME`. See docs/conformance.md.
"""

__version__ = "0.1.0"
