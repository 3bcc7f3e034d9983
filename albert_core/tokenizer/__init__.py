"""The ALBERT tokenizer: SentencePiece with the reference preprocessing, batched, NumPy out.

`albert_tokenizer` (the `AlbertTokenizer` class: loading, options, HF's id helpers, encoding with offsets),
`encoding` (its HF-shaped public API: `__call__`, words, decode), `arguments` (checks of that API's arguments,
`return_tensors`), `text` (the reference text preprocessing), `spiece` (loading a SentencePiece model safely),
`packing` (truncation, overflowing windows, special tokens and padding into model-ready rows; `BatchEncoding`),
`hf_files` (tokenizer folders as HF writes and reads them).
"""

from .albert_tokenizer import AlbertTokenizer
from .packing import BatchEncoding

__all__ = ["AlbertTokenizer", "BatchEncoding"]
