"""What training data needs from the tokenizer, without transformers: words given as lists (`is_split_into_words`,
`word_ids`, `sequence_ids`), long texts cut into overlapping windows (`return_overflowing_tokens` with `stride`),
framework tensors (`return_tensors="pt" | "tf" | "jax"`) and the output flags. HF parity: tests/parity/."""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

import numpy as np
import pytest

from albert_core.errors import TokenizerError, TokenizerTypeError
from albert_core.tokenizer import AlbertTokenizer
from albert_core.tokenizer.packing import windows

OFFICIAL_MODEL = Path(__file__).resolve().parents[1].parent / "shared/assets/albert-30k/spiece.model"
# Real text: a long standard-library docstring (several windows) and short questions about it.
CONTEXT = " ".join(inspect.getdoc(json).split())


@pytest.fixture(scope="module")
def tok() -> AlbertTokenizer:
    return AlbertTokenizer(OFFICIAL_MODEL)


def test_window_boundaries_follow_hf_fast():
    assert windows(5, 8, 2, 0) == [(0, 5)]  # fits: one window, stride unused
    assert windows(8, 3, 1, 0) == [(0, 3), (2, 5), (4, 7), (6, 8)]  # every room - stride tokens; last ends at 8
    assert windows(31, 10, 3, 0) == [(0, 10), (7, 17), (14, 24), (21, 31)]
    with pytest.raises(TokenizerError, match=r"stride=3 must be smaller than the 3 tokens"):
        windows(8, 3, 3, 0)


def test_one_long_text_becomes_overlapping_windows(tok):
    whole = tok(CONTEXT, add_special_tokens=False, return_offsets_mapping=True, return_tensors=None)
    enc = tok(CONTEXT, truncation=True, max_length=64, stride=16, return_overflowing_tokens=True,
              return_offsets_mapping=True, return_special_tokens_mask=True, return_tensors=None)
    rows = enc["input_ids"]
    assert len(rows) > 3 and enc["overflow_to_sample_mapping"] == [0] * len(rows)
    content = [row[1:-1] for row in rows]
    assert all(len(row) == 64 for row in rows[:-1]) and len(rows[-1]) <= 64
    for a, b in zip(content, content[1:]):
        assert a[-16:] == b[:16]  # consecutive windows share `stride` tokens
    start = 0
    for row, offsets in zip(content, enc["offset_mapping"]):  # offsets index the original text
        assert row == whole["input_ids"][start:start + len(row)]
        assert [tuple(o) for o in offsets[1:-1]] == [tuple(o) for o in whole["offset_mapping"][start:start + len(row)]]
        start += len(row) - 16
    assert content[-1][-1] == whole["input_ids"][-1]
    assert all(mask == [1] + [0] * (len(row) - 2) + [1] for mask, row in zip(enc["special_tokens_mask"], rows))


def test_pairs_keep_the_question_whole_in_every_window(tok):
    questions = ["What does the json module encode?", "Which module is this?"]
    contexts = [CONTEXT, "A short context fits in one window."]
    enc = tok(questions, contexts, truncation="only_second", max_length=48, stride=8, padding="max_length",
              return_overflowing_tokens=True, return_offsets_mapping=True, return_length=True)
    mapping = enc["overflow_to_sample_mapping"]
    assert enc["input_ids"].shape == (len(mapping), 48) and mapping[-1] == 1 and np.all(np.diff(mapping) >= 0)
    assert (enc["length"] == 48).all()
    for row, sample in enumerate(mapping):
        question = tok(questions[sample], add_special_tokens=False, return_tensors=None)["input_ids"]
        sequence = enc.sequence_ids(row)
        first = [int(t) for t, s in zip(enc["input_ids"][row], sequence) if s == 0]
        assert first == question
        assert sequence[0] is None and sequence[len(question) + 1] is None and sequence.count(1) >= 1
        context_offsets = [tuple(o) for o, s in zip(enc["offset_mapping"][row], sequence) if s == 1]
        text = contexts[sample]
        assert all(0 <= begin <= end <= len(text) for begin, end in context_offsets)


def test_overflow_that_would_cut_both_texts_is_refused(tok):
    long = "word " * 60
    with pytest.raises(TokenizerError, match="only_second"):
        tok(long, long, truncation=True, max_length=32, return_overflowing_tokens=True)
    with pytest.raises(TokenizerError, match="stride=40"):
        tok("question", long, truncation="only_second", max_length=32, stride=40, return_overflowing_tokens=True)
    with pytest.raises(TokenizerError, match="stride must be an int >= 0"):
        tok("a", stride=-1)


def test_words_given_as_lists(tok):
    words = ["Hello", "wonderful", "world,", "naïve", "9,000", ""]
    enc = tok(words, is_split_into_words=True, return_offsets_mapping=True, return_tensors=None)
    per_word = [tok(w, add_special_tokens=False, return_tensors=None)["input_ids"] for w in words]
    assert enc["input_ids"] == [tok.cls_token_id, *sum(per_word, []), tok.sep_token_id]
    assert enc.word_ids() == [None, *[n for n, ids in enumerate(per_word) for _ in ids], None]
    assert enc.sequence_ids() == [None, *[0] * (len(enc["input_ids"]) - 2), None]
    for (begin, end), word_id in zip(enc["offset_mapping"][1:-1], enc.word_ids()[1:-1]):  # offsets within the word
        assert 0 <= begin <= end <= len(words[word_id])
    batch = tok([["Hi", "there"], ["x"]], [["a", "b c"], ["y", "z"]], is_split_into_words=True, padding=True)
    assert batch.word_ids(0) == [None, 0, 1, None, 0, 1, 1, None]  # each text counts its words from 0
    assert batch.sequence_ids(1) == [None, 0, None, 1, 1, 1, None, None]  # padding is None
    with pytest.raises(TokenizerTypeError, match="is_split_into_words=True"):
        tok("not a list", is_split_into_words=True)
    with pytest.raises(TokenizerError, match=r"batch_index must be an int in \[0, 2\)"):
        batch.word_ids(2)


def test_word_ids_of_plain_text_start_at_each_word(tok):
    enc = tok("Hello, wonderful world", return_tensors=None)
    pieces = tok.convert_ids_to_tokens(enc["input_ids"])
    assert pieces[1:-1] == ["▁hello", ",", "▁wonderful", "▁world"]
    assert enc.word_ids() == [None, 0, 0, 1, 2, None]
    masked = tok("a [MASK] b", return_tensors=None)
    assert masked.word_ids() == [None, 0, 1, 2, None]  # a special token written in the text is a word of its own


def test_output_flags(tok):
    enc = tok(["a b", "c"], padding=True, return_length=True, return_attention_mask=False,
              return_token_type_ids=False)
    assert sorted(enc) == ["input_ids", "length"] and enc["length"].tolist() == [4, 4]
    lists = tok(["a b", "c"], return_length=True, return_tensors=None)
    assert lists["length"] == [4, 3]
    padded = tok(["a b", "c"], padding="longest", pad_to_multiple_of=8)
    assert padded["input_ids"].shape == (2, 8)


@pytest.mark.parametrize("kind, module", [("pt", "torch"), ("tf", "tensorflow"), ("jax", "jax.numpy")])
def test_missing_framework_says_what_to_install(tok, monkeypatch, kind, module):
    real = importlib.import_module

    def without(name, *args):
        if name == module:
            raise ImportError(f"No module named {name!r}")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", without)
    with pytest.raises(TokenizerError, match=rf"return_tensors='{kind}' needs .*pip install"):
        tok("a", return_tensors=kind)


def test_to_moves_only_torch_tensors(tok):
    with pytest.raises(TokenizerError, match="return_tensors='pt'"):
        tok("a").to("cpu")
