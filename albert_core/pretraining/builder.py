"""`build_pretraining_data`: corpus text in, a folder of MLM + SOP shards out (`albert pretrain-data`).

Streaming: documents are read a chunk at a time and turned into instances by a pool of worker processes, and the
shards are written as the instances come back, in corpus order. Every (copy, document) draws from its own random
stream, seeded by (seed, copy, document number), so the folder is the same for any number of workers. The copies
(`dupe_factor`) are passes over the corpus, each with new pairs and masks, written one after another (the trainer
shuffles what it reads)."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic_files import replace_folder
from ..errors import ConfigError, DataError
from ..progress import Progress
from ..tokenizer import AlbertTokenizer
from .corpus import Document, corpus_paths, read_documents
from .instances import segment_pairs
from .ngram_masking import KEPT, MASKED, MAX_NGRAM, RANDOM, mask_target, ngram_mask
from .shards import (
    DATA_FORMAT,
    DATA_VERSION,
    MANIFEST_NAME,
    STATS_NAME,
    TOKENIZER_DIR,
    ShardWriter,
    concatenate,
    write_json,
)

# ALBERT's `is_start_piece`: a piece starting a word, or standing alone, begins a whole word.
_ALONE = frozenset('!"#$%&\'()*+,-./:;?@[\\]^_`{|}~')
_CHUNK_DOCUMENTS = 64


@dataclass(frozen=True)
class DataOptions:
    """The recipe (Google's `create_pretraining_data.py` flags and defaults; see docs/pretraining.md)."""

    max_seq_length: int = 512
    short_seq_prob: float = 0.1
    masked_lm_prob: float = 0.15
    max_predictions_per_seq: int | None = None  # None: round(max_seq_length * masked_lm_prob) + 1
    dupe_factor: int = 40
    seed: int = 12345
    shard_size: int = 10_000  # instances per shard

    @property
    def max_predictions(self) -> int:
        given = self.max_predictions_per_seq
        return given if given is not None else int(round(self.max_seq_length * self.masked_lm_prob)) + 1

    def check(self) -> None:
        def bad(flag: str, value: Any, valid: str) -> ConfigError:
            return ConfigError(f"--{flag} {value!r} is out of range; pass {valid}")

        for flag, value, low in (("max-seq-length", self.max_seq_length, 5), ("dupe-factor", self.dupe_factor, 1),
                                 ("shard-size", self.shard_size, 1), ("seed", self.seed, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise bad(flag, value, f"an integer >= {low}")
        if not (isinstance(self.short_seq_prob, (int, float)) and 0.0 <= self.short_seq_prob <= 1.0):
            raise bad("short-seq-prob", self.short_seq_prob, "a probability in [0, 1], e.g. 0.1")
        if not (isinstance(self.masked_lm_prob, (int, float)) and 0.0 < self.masked_lm_prob < 1.0):
            raise bad("masked-lm-prob", self.masked_lm_prob, "a probability in (0, 1), e.g. 0.15")
        given = self.max_predictions_per_seq
        if given is not None and (isinstance(given, bool) or not isinstance(given, int) or
                                  not 1 <= given <= self.max_seq_length - 3):
            raise bad("max-predictions-per-seq", given, f"an integer in [1, {self.max_seq_length - 3}] (the "
                      "sequence less [CLS] and two [SEP]), or leave it out")


def tokenizer_digest(tokenizer: AlbertTokenizer) -> str:
    """What decides the ids: the SentencePiece model's bytes and the text options."""
    digest = hashlib.sha256(tokenizer.model_path.read_bytes())
    digest.update(repr(sorted(asdict(tokenizer.text_options).items())).encode())
    return digest.hexdigest()


class InstanceMaker:
    """Turns documents into packed instances; one per worker process."""

    def __init__(self, tokenizer_path: str, options: DataOptions) -> None:
        self.tok = AlbertTokenizer.from_pretrained(tokenizer_path, num_threads=1)
        self.options = options
        pieces = self.tok.convert_ids_to_tokens(list(range(self.tok.vocab_size)))
        self.word_start = np.array([p.startswith(("\u2581", "<")) or p in _ALONE for p in pieces])
        special = set(self.tok.all_special_ids)  # a random replacement is an ordinary piece
        self.random_ids = np.array([i for i in range(len(pieces)) if i not in special], np.int32)

    def make(self, copy: int, documents: Sequence[Document]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        o, tok = self.options, self.tok
        parts, counts = [], _Counts()
        for doc in documents:
            rng = np.random.default_rng([o.seed, copy, doc.index])
            ids = tok(list(doc.lines), add_special_tokens=False, return_tensors=None)["input_ids"]
            lines = [np.asarray(x, np.int32) for x in ids if len(x)]
            made = 0
            for pair in segment_pairs(lines, o.max_seq_length - 3, o.short_seq_prob, rng):
                tokens = np.concatenate([[tok.cls_token_id], pair.a, [tok.sep_token_id], pair.b,
                                         [tok.sep_token_id]]).astype(np.int32)
                maskable = np.ones(len(tokens), bool)
                maskable[[0, len(pair.a) + 1, len(tokens) - 1]] = False
                m = ngram_mask(tokens, maskable, self.word_start[tokens], mask_target(int(maskable.sum()),
                               o.masked_lm_prob), o.max_predictions, rng, tok.mask_token_id, self.random_ids)
                parts.append({"input_ids": m.tokens, "offsets": np.array([0, len(tokens)]),
                              "segment_b": np.array([len(pair.a) + 2]),
                              "sentence_order_label": np.array([pair.swapped]),
                              "masked_positions": m.positions, "masked_ids": m.labels,
                              "masked_offsets": np.array([0, len(m.positions)])})
                counts.add(len(tokens), int(maskable.sum()), m, pair.swapped, pair.short)
                made += 1
            if copy == 0:
                counts.documents += 1
                counts.skipped += made == 0
        return (concatenate(parts) if parts else {}), counts.__dict__


class _Counts:
    def __init__(self) -> None:
        self.instances = self.tokens = self.maskable = self.masked = self.swapped = self.short = self.skipped = 0
        self.documents = 0
        self.spans = [0] * MAX_NGRAM
        self.kinds = [0, 0, 0]

    def add(self, tokens: int, maskable: int, m: Any, swapped: bool, short: bool) -> None:
        self.instances += 1
        self.tokens, self.maskable, self.masked = self.tokens + tokens, self.maskable + maskable, \
            self.masked + len(m.positions)
        self.swapped, self.short = self.swapped + swapped, self.short + short
        for n, c in enumerate(np.bincount(m.span_lengths, minlength=MAX_NGRAM + 1)[1:]):
            self.spans[n] += int(c)
        for k, c in enumerate(np.bincount(m.kinds, minlength=3)):
            self.kinds[k] += int(c)

    def merge(self, other: dict[str, Any]) -> None:
        for key, value in other.items():
            if isinstance(value, list):
                setattr(self, key, [a + b for a, b in zip(getattr(self, key), value)])
            else:
                setattr(self, key, getattr(self, key) + value)


_MAKER: InstanceMaker | None = None


def _start_worker(tokenizer_path: str, options: DataOptions) -> None:
    global _MAKER
    _MAKER = InstanceMaker(tokenizer_path, options)


def _work(job: tuple[int, list[Document]]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    assert _MAKER is not None
    return _MAKER.make(*job)


def _chunks(paths: list[Path], copies: int) -> Iterator[tuple[int, list[Document]]]:
    for copy in range(copies):
        chunk: list[Document] = []
        for doc in read_documents(paths):
            chunk.append(doc)
            if len(chunk) == _CHUNK_DOCUMENTS:
                yield copy, chunk
                chunk = []
        if chunk:
            yield copy, chunk


def build_pretraining_data(corpus: str | os.PathLike | Sequence[str | os.PathLike], *, tokenizer: str | os.PathLike,
                           output_dir: str | os.PathLike, options: DataOptions | None = None,
                           workers: int | None = None, progress: bool | None = None) -> dict[str, Any]:
    """Write the data folder (replacing an earlier data folder at `output_dir` only once the new one is complete);
    returns its statistics (also in `stats.json`). `workers`: processes (default: every core; 1: this one);
    `progress`: a progress line on stderr (None: when it is a terminal)."""
    options = options or DataOptions()
    options.check()
    paths = corpus_paths(corpus)
    tok = AlbertTokenizer.from_pretrained(tokenizer)
    workers = workers or os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"--workers {workers!r} must be a positive integer (processes)")
    out = Path(output_dir)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MANIFEST_NAME).exists())):
        raise ConfigError(f"--output {str(out)!r} exists and is not a pretraining data folder; pass a new or empty "
                          "folder (nothing was overwritten)")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        counts = _write(staging, paths, tok, options, workers, Progress(None, enabled=progress))
        if not counts.instances:
            raise DataError(f"the corpus {', '.join(map(str, paths))} gave no instance: every document is shorter "
                            "than two tokens (a segment pair needs one token on each side); pass more text")
        tok.save_pretrained(staging / TOKENIZER_DIR)
        stats = _stats(counts)
        write_json(staging / STATS_NAME, stats)
        manifest = {"format": DATA_FORMAT, "version": DATA_VERSION, "options": asdict(options),
                    "max_predictions_per_seq": options.max_predictions,
                    "tokenizer": {"sha256": tokenizer_digest(tok), "vocab_size": tok.vocab_size,
                                  "mask_token_id": tok.mask_token_id},
                    "instances": counts.instances, "shards": counts.shards,
                    "corpus": [str(p) for p in paths]}
        write_json(staging / MANIFEST_NAME, manifest)
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)  # mkdtemp made it private; the data folder is an ordinary one
        replace_folder(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return stats


def _write(folder: Path, paths: list[Path], tok: AlbertTokenizer, options: DataOptions, workers: int,
           progress: Progress) -> _Counts:
    writer, counts = ShardWriter(folder, options.shard_size), _Counts()
    source = tok.model_path.parent if (tok.model_path.parent / "tokenizer_config.json").exists() else tok.model_path
    jobs = _chunks(paths, options.dupe_factor)
    if workers == 1:
        _start_worker(str(source), options)
        results = map(_work, jobs)
        pool = None
    else:
        # fork where there is one: the workers need only NumPy and SentencePiece, and spawn would re-run a calling
        # script that has no `if __name__ == "__main__":` guard.
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        pool = multiprocessing.get_context(method).Pool(workers, _start_worker, (str(source), options))
        results = pool.imap(_work, jobs, chunksize=1)
    try:
        for packed, chunk_counts in results:
            counts.merge(chunk_counts)
            if packed:
                writer.add(packed)
            progress.update(chunk_counts["instances"], "instances")
    finally:
        progress.close()
        if pool is not None:
            pool.terminate()
    counts.shards = writer.close()
    return counts


def _stats(c: _Counts) -> dict[str, Any]:
    spans = sum(c.spans)
    return {"instances": c.instances, "tokens": c.tokens, "maskable_tokens": c.maskable, "masked_tokens": c.masked,
            "masked_fraction": c.masked / max(1, c.maskable),
            "ngram_histogram": {str(n + 1): c.spans[n] / max(1, spans) for n in range(MAX_NGRAM)},
            "mask_kinds": {name: c.kinds[k] / max(1, c.masked)
                           for name, k in (("mask", MASKED), ("kept", KEPT), ("random", RANDOM))},
            "sop_swapped_fraction": c.swapped / max(1, c.instances), "short_fraction": c.short / max(1, c.instances),
            "documents_without_pair": c.skipped,
            "documents": c.documents, "mean_tokens": c.tokens / max(1, c.instances), "shards": len(c.shards)}
