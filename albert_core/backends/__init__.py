"""Backends that ship inside the core: the NumPy reference."""
