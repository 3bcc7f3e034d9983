"""`train_vocab`: a SentencePiece unigram vocabulary with the conventions of ALBERT's released models.

The pieces 0-4 are `<pad>` `<unk>` `[CLS]` `[SEP]` `[MASK]` (the last three control symbols), with the released
models' user-defined symbols and NFKC normalisation. The training text goes through the tokenizer's own
preprocessing (lower-casing, accent stripping, quote rewriting) first, so the pieces are learnt from the text
they will be matched against."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import sentencepiece as spm

from ..errors import ConfigError, DataError
from ..tokenizer import AlbertTokenizer
from ..tokenizer.text import TextOptions, preprocess_fast
from .corpus import corpus_paths, read_lines

SPECIAL_PIECES = ("<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]")
CONTROL_SYMBOLS = ("[CLS]", "[SEP]", "[MASK]")
# The released ALBERT models' user-defined pieces (always whole pieces, never merged).
USER_SYMBOLS = ("(", ")", '"', "-", ".", "\u2013", "\u00a3", "\u20ac")
MIN_VOCAB_SIZE = len(SPECIAL_PIECES) + len(USER_SYMBOLS) + 1


def _training_text(paths: list[Path], options: TextOptions, counted: list[int]) -> Iterator[str]:
    for line in read_lines(paths):
        counted[0] += 1
        yield preprocess_fast(line, options)


def train_vocab(corpus: str | os.PathLike | Sequence[str | os.PathLike], *, vocab_size: int,
                output_dir: str | os.PathLike, do_lower_case: bool = True, keep_accents: bool = False,
                character_coverage: float = 0.99995, input_sentence_size: int = 10_000_000, seed: int = 12345,
                num_threads: int | None = None) -> Path:
    """Train on the corpus' lines and write `spiece.model` with the tokenizer's HF files into `output_dir`
    (created; existing files of those names are replaced atomically). Returns the `spiece.model` path.

    `input_sentence_size` caps the lines SentencePiece samples (a random subset of a larger corpus)."""
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < MIN_VOCAB_SIZE:
        raise ConfigError(f"--vocab-size {vocab_size!r} is too small: ALBERT's vocabulary needs the "
                          f"{len(SPECIAL_PIECES)} special pieces {', '.join(SPECIAL_PIECES)} and "
                          f"{len(USER_SYMBOLS)} fixed symbols, so at least {MIN_VOCAB_SIZE}; pass e.g. "
                          "--vocab-size 30000 (the released models')")
    if not 0.9 <= character_coverage <= 1.0:
        raise ConfigError(f"--character-coverage {character_coverage!r} must be in [0.9, 1]; pass e.g. 0.99995 "
                          "(1.0 for languages with small alphabets)")
    if input_sentence_size < 1:
        raise ConfigError(f"--input-sentence-size {input_sentence_size!r} must be at least 1")
    paths = corpus_paths(corpus)
    options = TextOptions(do_lower_case=do_lower_case, keep_accents=keep_accents)
    counted = [0]
    model = io.BytesIO()
    spm.set_random_generator_seed(seed)
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=_training_text(paths, options, counted), model_writer=model, minloglevel=2,
            model_type="unigram", vocab_size=vocab_size, pad_id=0, unk_id=1, bos_id=-1, eos_id=-1,
            control_symbols=",".join(CONTROL_SYMBOLS), user_defined_symbols=list(USER_SYMBOLS),
            normalization_rule_name="nmt_nfkc", character_coverage=character_coverage,
            input_sentence_size=input_sentence_size, shuffle_input_sentence=True,
            num_threads=num_threads or os.cpu_count() or 1, max_sentence_length=1 << 16)
    except RuntimeError as e:
        if not counted[0]:
            raise DataError(f"the corpus {', '.join(map(str, paths))} has no text (every line is blank); pass "
                            "files with one sentence or paragraph a line") from None
        reason = str(e).split("\n")[0]
        if "Vocabulary size" in reason:
            raise DataError(f"--vocab-size {vocab_size} is too large for this corpus ({counted[0]} lines): "
                            f"SentencePiece says {reason!r}; pass a smaller --vocab-size or more text") from None
        raise DataError(f"SentencePiece could not train on the corpus ({counted[0]} lines): {reason}") from None
    output = Path(output_dir)
    if output.exists() and not output.is_dir():
        raise ConfigError(f"--output {str(output)!r} is a file; pass a folder for the vocabulary")
    output.mkdir(parents=True, exist_ok=True)
    staged = output / ".spiece.model.trained"
    staged.write_bytes(model.getvalue())
    try:
        tokenizer = AlbertTokenizer(staged, do_lower_case=do_lower_case, keep_accents=keep_accents)
        tokenizer.save_pretrained(output)
    finally:
        staged.unlink(missing_ok=True)
    return output / "spiece.model"
