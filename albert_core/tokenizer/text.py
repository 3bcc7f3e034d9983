"""Text preprocessing for the ALBERT tokenizer: the reference rules, a fast path and an offset-aware path.

The reference (Google's ALBERT ``tokenization.py``, mirrored by HF's slow ``AlbertTokenizer``) runs, per chunk of
text between special tokens: lower-case, collapse whitespace, rewrite ````/``''`` to ``"``, NFKD and drop
combining marks, lower-case again; then SentencePiece. ``preprocess_fast`` does exactly that on strings with cheap
ASCII short cuts; ``preprocess_aligned`` produces the same string plus, for every output character, the span of
original characters it came from (for ``return_offsets_mapping``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

SPIECE_UNDERLINE = "\u2581"
_QUOTES = re.compile(r"``|''")
_NON_SPACE_RUN = re.compile(r"\S+")  # \S is the complement of str.isspace(), as str.split() uses


@dataclass(frozen=True)
class TextOptions:
    do_lower_case: bool = True
    remove_space: bool = True
    keep_accents: bool = False


def _strip_accents(text: str) -> str:
    # Canonical reordering only permutes combining marks, and those are all dropped, so NFKD of the whole
    # string and per-character NFKD agree after the drop (preprocess_aligned relies on it).
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join([c for c in decomposed if not unicodedata.combining(c)])


def lower_each_char(text: str) -> str:
    """Lower-case without context, as the reference's first pass does (one character at a time).

    ``str.lower`` is context free except for Σ, which becomes ς at the end of a word; done per character it is σ.
    """
    return text.replace("\u03a3", "\u03c3").lower()


def preprocess_fast(text: str, options: TextOptions) -> str:
    """The reference preprocessing of one chunk (no special tokens inside) as a plain string."""
    ascii_only = text.isascii()
    if options.do_lower_case and not ascii_only:
        text = lower_each_char(text)  # the reference lower-cases before NFKD as well as after
    if options.remove_space:
        text = " ".join(text.split())
    if "``" in text or "''" in text:
        text = text.replace("``", '"').replace("''", '"')
    if not options.keep_accents and not ascii_only:
        text = _strip_accents(text)
    if options.do_lower_case:
        text = text.lower()
    return text


class _Aligned:
    """A string being rewritten, with the original [start, end) span of each of its characters."""

    __slots__ = ("text", "starts", "ends")

    def __init__(self, text: str, base: int) -> None:
        self.text = text
        self.starts = list(range(base, base + len(text)))
        self.ends = list(range(base + 1, base + len(text) + 1))

    def lower(self, each_char: bool) -> None:
        # Both ways give each character the same number of lower-case characters; only Σ's value differs.
        lowered = lower_each_char(self.text) if each_char else self.text.lower()
        if len(lowered) != len(self.text):
            self._expand([len(c.lower()) for c in self.text])
        self.text = lowered

    def _expand(self, counts: list[int]) -> None:
        starts: list[int] = []
        ends: list[int] = []
        for count, start, end in zip(counts, self.starts, self.ends):
            starts.extend([start] * count)
            ends.extend([end] * count)
        self.starts, self.ends = starts, ends

    def collapse_spaces(self) -> None:
        words = [(m.start(), m.end()) for m in _NON_SPACE_RUN.finditer(self.text)]
        pieces: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        for index, (begin, end) in enumerate(words):
            if index:
                gap_begin = words[index - 1][1]
                pieces.append(" ")
                starts.append(self.starts[gap_begin])
                ends.append(self.ends[begin - 1])
            pieces.append(self.text[begin:end])
            starts.extend(self.starts[begin:end])
            ends.extend(self.ends[begin:end])
        self.text, self.starts, self.ends = "".join(pieces), starts, ends

    def rewrite_quotes(self) -> None:
        matches = [m.start() for m in _QUOTES.finditer(self.text)]
        if not matches:
            return
        pieces: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        cursor = 0
        for begin in matches:
            pieces.append(self.text[cursor:begin])
            starts.extend(self.starts[cursor:begin])
            ends.extend(self.ends[cursor:begin])
            pieces.append('"')
            starts.append(self.starts[begin])
            ends.append(self.ends[begin + 1])
            cursor = begin + 2
        pieces.append(self.text[cursor:])
        starts.extend(self.starts[cursor:])
        ends.extend(self.ends[cursor:])
        self.text, self.starts, self.ends = "".join(pieces), starts, ends

    def strip_accents(self) -> None:
        kept = [c if c.isascii() else _strip_accents(c) for c in self.text]
        if any(len(k) != 1 for k in kept):
            self._expand([len(k) for k in kept])
        self.text = "".join(kept)


def preprocess_aligned(text: str, base: int, options: TextOptions) -> tuple[str, list[int], list[int]]:
    """``preprocess_fast(text)`` plus the original span (offset by ``base``) of every output character."""
    aligned = _Aligned(text, base)
    ascii_only = text.isascii()
    if options.do_lower_case and not ascii_only:
        aligned.lower(each_char=True)
    if options.remove_space:
        aligned.collapse_spaces()
    aligned.rewrite_quotes()
    if not options.keep_accents and not ascii_only:
        aligned.strip_accents()
    if options.do_lower_case:
        aligned.lower(each_char=False)
    return aligned.text, aligned.starts, aligned.ends


class SpecialTokenSplitter:
    """Finds special tokens written in text (``[MASK]``, ``[SEP]``...), as the reference does before SentencePiece.

    Tokens in ``lstrip_tokens`` also swallow the whitespace on their left (HF's ``AddedToken(lstrip=True)``, which
    the reference gives ``[MASK]``).
    """

    def __init__(self, token_to_id: dict[str, int], lstrip_tokens: set[str]) -> None:
        self.token_to_id = dict(token_to_id)
        self.lstrip_tokens = set(lstrip_tokens)
        # Longest first so a token that is a prefix of another cannot shadow it.
        ordered = sorted(self.token_to_id, key=len, reverse=True)
        self.pattern = re.compile("|".join(re.escape(t) for t in ordered)) if ordered else None
        self.first_chars = frozenset(t[0] for t in ordered if t)

    def might_contain(self, text: str) -> bool:
        return any(c in text for c in self.first_chars)

    def _lower_outside_tokens(self, text: str) -> tuple[str, list[int] | None]:
        """Lower-case ``text`` except the special tokens in it, like the reference does before splitting.

        Returns the lowered text and, when lowering changed its length (``İ`` -> ``i̇``), the original index of
        each of its positions (plus one past the end); None when positions are unchanged.
        """
        parts: list[str] = []
        sizes: list[tuple[int, int]] = []  # (original length, lowered length) of each part
        cursor = 0
        for match in self.pattern.finditer(text):
            lowered = lower_each_char(text[cursor : match.start()])
            parts += [lowered, match.group()]
            sizes += [(match.start() - cursor, len(lowered)), (len(match.group()),) * 2]
            cursor = match.end()
        parts.append(lower_each_char(text[cursor:]))
        sizes.append((len(text) - cursor, len(parts[-1])))
        work = "".join(parts)
        if len(work) == len(text):
            return work, None
        to_original: list[int] = []
        original_start = 0
        for original_size, lowered_size in sizes:
            if original_size == lowered_size:
                to_original.extend(range(original_start, original_start + original_size))
            else:
                counts = [len(c.lower()) for c in text[original_start : original_start + original_size]]
                for offset, count in enumerate(counts):
                    to_original.extend([original_start + offset] * count)
            original_start += original_size
        to_original.append(len(text))
        return work, to_original

    def split(self, text: str, lower: bool) -> list[tuple[int, int, int | None]]:
        """``(start, end, special_id)`` segments of ``text``; ``special_id`` is None for plain text.

        With ``lower``, tokens are looked for in the lower-cased text (so ``<UNK>`` is ``<unk>``, as in the
        reference); positions are always into the original ``text``.
        """
        if self.pattern is None or not self.might_contain(text):
            return [(0, len(text), None)]
        work, to_original = self._lower_outside_tokens(text) if lower else (text, None)

        def original(position: int) -> int:
            return position if to_original is None else to_original[position]

        segments: list[tuple[int, int, int | None]] = []
        cursor = 0
        for match in self.pattern.finditer(work):
            begin, end = match.span()
            plain_end = begin
            if match.group() in self.lstrip_tokens:
                while plain_end > cursor and work[plain_end - 1].isspace():
                    plain_end -= 1
            if plain_end > cursor:
                segments.append((original(cursor), original(plain_end), None))
            segments.append((original(begin), original(end), self.token_to_id[match.group()]))
            cursor = end
        if cursor < len(work) or not segments:
            segments.append((original(cursor), len(text), None))
        return segments


def needs_digit_comma_split(piece: str) -> bool:
    """The reference splits pieces like ``▁9,`` so that ``9,9`` gives ``▁9 , 9`` as BERT's tokenizer does."""
    return len(piece) > 1 and piece[-1] == "," and piece[-2].isdigit()


def split_digit_comma(piece: str, encode_pieces) -> list[str]:
    """The reference's replacement pieces for a piece where ``needs_digit_comma_split`` holds."""
    parts = list(encode_pieces(piece[:-1].replace(SPIECE_UNDERLINE, "")))
    if piece[0] != SPIECE_UNDERLINE and parts and parts[0][0] == SPIECE_UNDERLINE:
        parts = parts[1:] if len(parts[0]) == 1 else [parts[0][1:], *parts[1:]]
    parts.append(piece[-1])
    return parts
