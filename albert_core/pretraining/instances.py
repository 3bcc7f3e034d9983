"""Segment pairs for sentence-order prediction, as ALBERT's `create_pretraining_data.py` builds them.

A document's lines (already token ids) are gathered until they reach the target length (the whole budget, or with
probability `short_seq_prob` a random shorter one, drawn again for every pair so that this fraction holds per
pair); a random cut splits them into segment A and segment B, which are swapped with probability 0.5 (the label).
Where the gathered text is a single line, the cut falls inside it, so both segments always come from one document
(Google's script then took segment B from another document: that is next-sentence prediction, not SOP). The pair is
trimmed to its target one token at a time from the longer segment, at its front or back at random (Google's trims
to the full budget, so a long line made a pair drawn short as long as any other)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SegmentPair:
    a: np.ndarray  # int32 token ids, in the order they are shown to the model
    b: np.ndarray
    swapped: bool  # the sentence-order label: B came before A in the document
    short: bool  # the pair's target length was drawn short


def _trim(a: list[int], b: list[int], budget: int, rng: np.random.Generator) -> None:
    while len(a) + len(b) > budget:
        longer = a if len(a) > len(b) else b
        if rng.random() < 0.5:
            del longer[0]
        else:
            longer.pop()


def _cut_point(chunk: Sequence[np.ndarray], rng: np.random.Generator) -> tuple[list[int], list[int]]:
    if len(chunk) >= 2:
        cut = int(rng.integers(1, len(chunk)))  # segment A is lines [0, cut)
        return ([t for line in chunk[:cut] for t in line.tolist()],
                [t for line in chunk[cut:] for t in line.tolist()])
    tokens = chunk[0].tolist()
    cut = int(rng.integers(1, len(tokens)))
    return tokens[:cut], tokens[cut:]


def segment_pairs(lines: Sequence[np.ndarray], max_num_tokens: int, short_seq_prob: float,
                  rng: np.random.Generator) -> Iterator[SegmentPair]:
    """The pairs of one document. `lines`: its non-empty lines as token ids; `max_num_tokens`: the pair's budget
    (the sequence length less [CLS] and two [SEP])."""

    def target() -> tuple[int, bool]:
        if rng.random() < short_seq_prob:
            return int(rng.integers(2, max_num_tokens + 1)), True
        return max_num_tokens, False

    goal, short = target()
    chunk: list[np.ndarray] = []
    length = 0
    for i, line in enumerate(lines):
        chunk.append(line)
        length += len(line)
        if i < len(lines) - 1 and length < goal:
            continue
        if length >= 2:  # anything shorter cannot be cut into two segments
            a, b = _cut_point(chunk, rng)
            _trim(a, b, goal, rng)
            swapped = bool(rng.random() < 0.5)
            if swapped:
                a, b = b, a
            yield SegmentPair(np.asarray(a, np.int32), np.asarray(b, np.int32), swapped, short)
            goal, short = target()
        chunk, length = [], 0
