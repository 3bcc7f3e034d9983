"""ALBERT's n-gram masking (the paper's section 4.1): spans of n whole words, p(n) proportional to 1/n for n <= 3.

The maskable tokens (all but [CLS] and [SEP]) group into whole words; spans never cross a [SEP]. Each span's n is
drawn first (6/11, 3/11, 2/11) and then its place, uniformly among the n-grams that touch no masked token. Spans are
added while fewer than `target - 1` tokens are masked: the last span passes that mark by about a token on average,
so a sequence's masked count centres on `target`; `max_predictions` is a hard limit. Where no n-gram of the drawn
length is free and within that limit (very short sequences, or the limit reached), the longest that is is taken.
Deciding when to stop from the count so far, never from the drawn n, keeps the masked spans' lengths distributed
as drawn; Google's script shortens or skips spans that do not fit, which leaves
measurably fewer 3-grams (0.12 instead of 0.18 on the sample corpus at 128 tokens). Each masked token becomes
[MASK] (80%), a random piece (10%) or stays (10%)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_NGRAM = 3
NGRAM_PROBS = np.array([1.0 / n for n in range(1, MAX_NGRAM + 1)])
NGRAM_PROBS = NGRAM_PROBS / NGRAM_PROBS.sum()  # 6/11, 3/11, 2/11
MASK_RATE, KEEP_RATE = 0.8, 0.1  # the rest become random pieces
MASKED, KEPT, RANDOM = 0, 1, 2


@dataclass(frozen=True)
class Masked:
    tokens: np.ndarray  # int32, the sequence with the chosen tokens replaced
    positions: np.ndarray  # int32, ascending: where predictions are made
    labels: np.ndarray  # int32: the original token at each position
    span_lengths: np.ndarray  # int32: n of every masked span, in words
    kinds: np.ndarray  # int8 per position: MASKED, KEPT or RANDOM


def mask_target(maskable: int, masked_lm_prob: float) -> int:
    """How many tokens one sequence should mask: `masked_lm_prob` of its maskable tokens, at least 1."""
    return max(1, int(round(maskable * masked_lm_prob)))


def words(maskable: np.ndarray, word_start: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, end, run) of every whole word: a maskable token begins one where it starts a word or follows an
    unmaskable token; `run` numbers the stretches between unmaskable tokens, which spans do not cross."""
    begins = maskable & (word_start | ~np.concatenate([[False], maskable[:-1]]))
    starts = np.flatnonzero(begins)
    bounds = np.concatenate([starts[1:], [len(maskable)]])
    unmaskable = np.flatnonzero(~maskable)
    # A word ends at the next word's start or at the first unmaskable token after it, whichever comes first.
    after = np.searchsorted(unmaskable, starts)
    stop = np.where(after < len(unmaskable), unmaskable[np.minimum(after, len(unmaskable) - 1)], len(maskable))
    return starts, np.minimum(bounds, stop), np.cumsum(~maskable)[starts]


def ngram_mask(tokens: np.ndarray, maskable: np.ndarray, word_start: np.ndarray, target: int, max_predictions: int,
               rng: np.random.Generator, mask_id: int, random_ids: np.ndarray) -> Masked:
    """Mask `tokens` (int32 [S]) as described above. `maskable`, `word_start`: bool [S]; `random_ids`: the pieces a
    random replacement is drawn from."""
    starts, ends, runs = words(maskable, word_start)
    covered = np.zeros(len(tokens), bool)
    spans: list[int] = []
    count = 0
    while count < target - 1 or not spans:
        taken = np.concatenate([[0], np.cumsum(covered)])
        n = int(rng.choice(MAX_NGRAM, p=NGRAM_PROBS)) + 1
        while True:
            first, last = starts[:len(starts) - n + 1], ends[n - 1:]  # the n-grams: words [w, w + n)
            free = np.flatnonzero((runs[:len(first)] == runs[n - 1:]) & (taken[last] == taken[first]) &
                                  (last - first <= max_predictions - count))
            if len(free) or n == 1:
                break
            n -= 1  # no room for n words (a short sequence, or the hard limit): the longest n-gram that fits
        if not len(free):
            break
        w = int(rng.choice(free))
        covered[first[w]:last[w]] = True
        count += last[w] - first[w]
        spans.append(n)
    positions = np.flatnonzero(covered).astype(np.int32)
    draw = rng.random(len(positions))
    kinds = np.where(draw < MASK_RATE, MASKED, np.where(draw < MASK_RATE + KEEP_RATE, KEPT, RANDOM)).astype(np.int8)
    out = tokens.copy()
    out[positions[kinds == MASKED]] = mask_id
    out[positions[kinds == RANDOM]] = rng.choice(random_ids, size=int((kinds == RANDOM).sum()))
    return Masked(out, positions, tokens[positions], np.asarray(spans, np.int32), kinds)
