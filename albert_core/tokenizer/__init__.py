"""The ALBERT tokenizer: SentencePiece with the reference preprocessing, batched, NumPy out.

`albert_tokenizer` (the `AlbertTokenizer` class: loading, options, encoding with offsets), `encoding` (its HF-shaped
public API: argument checks, `__call__`, decode), `text` (the reference text preprocessing), `spiece` (loading a
SentencePiece model safely), `packing` (truncation, special tokens and padding into model-ready rows).
"""

from .albert_tokenizer import AlbertTokenizer
from .packing import BatchEncoding

__all__ = ["AlbertTokenizer", "BatchEncoding"]
