"""A minimal albert-core backend, written as the tutorial in docs/writing-a-backend.md."""

BACKEND_NAME = "example"
