"""PyTorch backend for albert-core.

Importing this package does not import torch; `albert_torch.plugin` registers the backend lazily and
`albert_core.load(..., backend="torch")` imports `albert_torch.backend` (and torch) on first use.
"""

__version__ = "0.1.0"
