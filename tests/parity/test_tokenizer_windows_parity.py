"""The tokenizer's training-data surface against HF's AlbertTokenizer on the official vocabulary: words given as lists
(`is_split_into_words`, `word_ids`, `sequence_ids`), overflowing windows with `stride`, the output flags and
framework tensors.

Which HF this project follows: ids are the reference's, HF slow's. Windows, `overflow_to_sample_mapping`,
`word_ids`, `sequence_ids`, offsets and `length` are what HF fast returns (slow has no offsets or word ids, and its
`return_overflowing_tokens` gives one row plus the cut-off tokens instead of windows). So those are compared with
fast wherever fast's ids equal slow's; where they differ (quotes, trailing spaces, some Unicode), fast tokenizes
differently and nothing about windows can be compared. Offsets follow the rule of test_tokenizer_parity: fast
includes a piece's leading space in its span, this project does not; a lone "▁" piece has an empty span here.
"""

from __future__ import annotations

import argparse
import collections
import inspect
import json
import re
import textwrap

import numpy as np
import pytest
import torch
import transformers
from helpers import varied_texts

transformers.logging.set_verbosity_error()

# Real text: standard-library docs as long contexts (several windows each; quotes and markup dropped, which HF
# fast tokenizes differently), and questions about them.
CONTEXTS = [" ".join(re.sub(r"[^A-Za-z0-9., ]", " ", inspect.getdoc(module)).split())
            for module in (json, inspect, textwrap, collections, argparse)]
# Real sentences without '.', from the same docs (see test_word_ids_of_plain_text_match_hf_fast_on_prose).
PROSE = [line.strip() for context in CONTEXTS for line in context.split(".") if len(line.split()) > 3]
QUESTIONS = ["What does this module do?", "Which functions does it provide for 12,345 strings?", "Why?"]
WORD_LISTS = [
    ["John", "Smith", "lives", "in", "Paris", "."],
    ["Crème", "brûlée", "and", "naïve", "café"],
    ["It", "costs", "9,000", "or", "1,000,000", "euros", ""],
    ["tokenization", "unbelievably", "antidisestablishmentarianism"],  # words of many pieces
]


def same_ids(hf_fast, hf_slow, *texts) -> bool:
    return all(hf_fast(t, add_special_tokens=False)["input_ids"] == hf_slow(t, add_special_tokens=False)["input_ids"]
               for t in texts)


def assert_offsets_match_fast(ours_offsets, fast_offsets, texts) -> None:
    for (begin, end), mine, text in zip(fast_offsets, ours_offsets, texts, strict=True):
        if mine[0] == mine[1]:  # special and padding tokens, and a lone "▁" piece
            continue
        while begin < end - 1 and text[begin].isspace():
            begin += 1
        assert tuple(mine) == (begin, end)


@pytest.mark.parametrize("max_length, stride", [(64, 16), (40, 0), (128, 100)])
def test_windows_of_pairs_match_hf_fast(ours, hf_slow, hf_fast, max_length, stride):
    pairs = [(q, c) for q in QUESTIONS for c in CONTEXTS if same_ids(hf_fast, hf_slow, q, c)]
    assert len(pairs) >= 9
    questions, contexts = [p[0] for p in pairs], [p[1] for p in pairs]
    args = dict(truncation="only_second", max_length=max_length, stride=stride, return_overflowing_tokens=True,
                return_offsets_mapping=True, return_special_tokens_mask=True, padding=True)
    mine = ours(questions, contexts, return_tensors=None, **args)
    fast = hf_fast(questions, contexts, **args)
    assert len(fast["input_ids"]) > 2 * len(pairs)  # several windows per context
    for key in ("input_ids", "token_type_ids", "attention_mask", "special_tokens_mask", "overflow_to_sample_mapping"):
        assert mine[key] == fast[key], key
    for row, sample in enumerate(fast["overflow_to_sample_mapping"]):
        assert mine.sequence_ids(row) == fast.sequence_ids(row)
        texts = [{0: questions[sample], 1: contexts[sample]}.get(s, "") for s in fast.sequence_ids(row)]
        assert_offsets_match_fast(mine["offset_mapping"][row], fast["offset_mapping"][row], texts)


def test_windows_of_single_texts_match_hf_fast(ours, hf_slow, hf_fast):
    texts = [t for t in CONTEXTS + varied_texts(600, seed=3) if same_ids(hf_fast, hf_slow, t)]
    assert len(texts) > 100
    args = dict(truncation=True, max_length=24, stride=5, return_overflowing_tokens=True, return_length=True)
    mine = ours(texts, return_tensors=None, **args)
    fast = hf_fast(texts, **args)
    for key in ("input_ids", "token_type_ids", "attention_mask", "overflow_to_sample_mapping", "length"):
        assert mine[key] == fast[key], key


def test_words_given_as_lists_match_hf(ours, hf_slow, hf_fast):
    """Ids against slow; word ids, sequence ids and (for ASCII words) offsets within each word against fast where
    its ids agree (fast drops the "▁" before a word of only punctuation: ["Paris", "."] is 3 pieces in slow, 2 in
    fast)."""
    compared = 0
    for words in WORD_LISTS + [t.split() for t in varied_texts(200, seed=7) if t.split()]:
        slow = hf_slow(words, is_split_into_words=True)
        mine = ours(words, is_split_into_words=True, return_offsets_mapping=True, return_tensors=None)
        assert mine["input_ids"] == slow["input_ids"], words
        fast = hf_fast(words, is_split_into_words=True, return_offsets_mapping=True)
        if fast["input_ids"] != slow["input_ids"]:
            continue
        assert mine["token_type_ids"] == fast["token_type_ids"]
        assert mine.word_ids() == fast.word_ids() and mine.sequence_ids() == fast.sequence_ids(), words
        # As test_tokenizer_parity: on non-ASCII text and `` '' (rewritten to ") fast aligns its normalized text its
        # own way (the `` of a word gets the span of its second character there, both characters here).
        if all(word.isascii() and "``" not in word and "''" not in word for word in words):
            texts = [words[w] if w is not None else "" for w in fast.word_ids()]  # offsets are within each word
            assert_offsets_match_fast(mine["offset_mapping"], fast["offset_mapping"], texts)
        compared += 1
    assert compared > 50
    firsts, seconds = WORD_LISTS[1:3], [WORD_LISTS[3], WORD_LISTS[1]]
    fast = hf_fast(firsts, seconds, is_split_into_words=True, padding=True)
    mine = ours(firsts, seconds, is_split_into_words=True, padding=True, return_tensors=None)
    assert mine["input_ids"] == hf_slow(firsts, seconds, is_split_into_words=True, padding=True)["input_ids"]
    assert mine["input_ids"] == fast["input_ids"]
    for row in range(2):
        assert mine.word_ids(row) == fast.word_ids(row) and mine.sequence_ids(row) == fast.sequence_ids(row)


def test_word_ids_of_plain_text_match_hf_fast_on_prose(ours, hf_slow, hf_fast):
    """Here a word is a whitespace-delimited word (a run of pieces from one that starts with "▁"), as HF fast's
    pre-tokenizer splits. Fast's own word ids also start a word at a '.' after a word ("London." is two words,
    "here?" one) and at symbols after a lone "▁" piece ("€", "<unk>"), which follows its normalizer's alignment,
    not the text; this project does not copy that, so prose without '.' is compared."""
    texts = [t for t in PROSE + QUESTIONS if same_ids(hf_fast, hf_slow, t)]
    assert len(texts) > 20
    for text in texts:
        assert ours(text, return_tensors=None).word_ids() == hf_fast(text).word_ids(), text


@pytest.mark.parametrize("padding, pad_to_multiple_of", [("longest", 8), ("max_length", 4), ("do_not_pad", None)])
@pytest.mark.parametrize("truncation", ["longest_first", "only_first", "do_not_truncate"])
def test_flags_padding_and_truncation_match_hf_slow(ours, hf_slow, padding, pad_to_multiple_of, truncation):
    texts = ["A short one.", "The quick brown fox jumps over the lazy dog, twice."]
    args = dict(padding=padding, truncation=truncation, max_length=16, pad_to_multiple_of=pad_to_multiple_of,
                return_attention_mask=False, return_token_type_ids=False)
    expected = hf_slow(texts, **args)
    assert dict(ours(texts, return_tensors=None, **args)) == dict(expected)


def test_torch_tensors_match_hf_fast_and_move(ours, hf_fast):
    texts = ["Hello, my dog is cute", "a much longer sentence about the dog"]
    mine = ours(texts, padding=True, return_tensors="pt").to("cpu")
    fast = hf_fast(texts, padding=True, return_tensors="pt").to("cpu")
    assert set(mine) == set(fast)
    for key in fast:
        assert isinstance(mine[key], torch.Tensor) and torch.equal(mine[key], fast[key]), key
    assert np.array_equal(ours(texts, padding=True)["input_ids"], fast["input_ids"].numpy())


@pytest.mark.parametrize("kind", ["tf", "jax"])
def test_tensorflow_and_jax_tensors_match_hf_fast(ours, hf_fast, kind):
    texts = ["Hello, my dog is cute", "a much longer sentence about the dog"]
    mine = ours(texts, padding=True, return_tensors=kind)
    fast = hf_fast(texts, padding=True, return_tensors=kind)
    assert set(mine) == set(fast)
    for key in fast:
        assert type(mine[key]).__module__.split(".")[0] == type(fast[key]).__module__.split(".")[0], key
        assert np.array_equal(np.asarray(mine[key]), np.asarray(fast[key])), key

