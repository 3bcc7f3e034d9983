"""Encoding records per task (`albert_core.training.features`) and MLM masking (`albert_core.training.masking`).
Core only: NumPy, no framework."""

from __future__ import annotations

import argparse
import collections
import json
import re

import numpy as np
import pytest
import training_helpers
from training_helpers import raises, write

from albert_core.errors import ConfigError
from albert_core.training.data import read_records
from albert_core.training.features import (
    encode_masked_lm,
    encode_multiple_choice,
    encode_text_classification,
    encode_token_classification,
)
from albert_core.training.masking import mask_tokens

tok = training_helpers.tok  # the shared fixtures (tests/training_helpers.py), bound for pytest
vocab = training_helpers.vocab

REVIEWS = [
    ("A quietly moving film with two wonderful performances.", "positive"),
    ("The plot collapses long before the tedious final act.", "negative"),
    ("Neither good nor bad; it simply exists for two hours.", "neutral"),
    ("I would happily watch it again tomorrow.", "positive"),
]


# ----------------------------------------------------------------------------------------- text classification
def test_text_classification_rows_are_the_tokenizers(tok):
    records = [{"text": text, "label": label} for text, label in REVIEWS]
    records[1]["text_pair"] = "Critics agreed."
    features = encode_text_classification(records, tok, max_seq_length=64)
    assert features.task == "sequence-classification" and len(features) == 4
    assert features.label_names == ["negative", "neutral", "positive"]  # sorted, as HF's run_glue
    assert features.problem_type == "single_label_classification"
    assert [int(row["labels"]) for row in features.rows] == [2, 0, 1, 2]
    assert features.example_index.tolist() == [0, 1, 2, 3]
    single = tok(REVIEWS[0][0], return_tensors=None)
    pair = tok(REVIEWS[1][0], "Critics agreed.", return_tensors=None)
    for row, expected in ((features.rows[0], single), (features.rows[1], pair)):
        assert row["input_ids"].dtype == np.int64 and row["labels"].dtype == np.int64 and row["labels"].shape == ()
        assert row["input_ids"].tolist() == expected["input_ids"]
        assert row["token_type_ids"].tolist() == expected["token_type_ids"]
        assert row["attention_mask"].tolist() == [1] * len(expected["input_ids"])


def test_pairs_are_truncated_longest_first(tok):
    text, pair = json.__doc__, "A short second sentence about JSON."
    row = encode_text_classification([{"text": text, "text_pair": pair}], tok, max_seq_length=32).rows[0]
    expected = tok(text, pair, truncation="longest_first", max_length=32, return_tensors=None)
    assert len(row["input_ids"]) == 32 and row["input_ids"].tolist() == expected["input_ids"]
    assert "labels" not in row  # no record has a label: a prediction set


def test_label_ids_regression_and_multi_label(tok):
    ids = encode_text_classification([{"text": t, "label": i} for i, (t, _) in enumerate(REVIEWS[:3])], tok,
                                     max_seq_length=16)
    assert ids.label_names == ["0", "1", "2"] and [int(r["labels"]) for r in ids.rows] == [0, 1, 2]
    scores = encode_text_classification([{"text": "a", "label": 3.8}, {"text": "b", "label": 1}], tok,
                                        max_seq_length=16)
    assert scores.problem_type == "regression" and scores.label_names is None
    assert scores.rows[0]["labels"].dtype == np.float32 and float(scores.rows[0]["labels"]) == pytest.approx(3.8)
    forced = encode_text_classification([{"text": "a", "label": 1}], tok, max_seq_length=16, problem_type="regression")
    assert forced.problem_type == "regression" and float(forced.rows[0]["labels"]) == 1.0
    multi = encode_text_classification([{"text": "a", "label": ["sports", "news"]}, {"text": "b", "label": []}], tok,
                                       max_seq_length=16)
    assert multi.problem_type == "multi_label_classification" and multi.label_names == ["news", "sports"]
    assert multi.rows[0]["labels"].dtype == np.float32 and multi.rows[0]["labels"].tolist() == [1.0, 1.0]
    assert multi.rows[1]["labels"].tolist() == [0.0, 0.0]


def test_csv_labels_are_text_and_the_encoder_decides(tmp_path, tok):
    scores = read_records(write(tmp_path, "sts.csv", "text,text_pair,label\na,b,3.8\nc,d,0\n"))
    assert encode_text_classification(scores, tok, max_seq_length=16).problem_type == "regression"
    stars = read_records(write(tmp_path, "stars.csv", "text,label\na,10\nb,2\nc,1\n"))
    features = encode_text_classification(stars, tok, max_seq_length=16)
    assert features.label_names == ["1", "2", "10"]  # numeric order, as HF sorts integer labels
    assert [int(row["labels"]) for row in features.rows] == [2, 1, 0]
    ids = encode_text_classification(stars, tok, max_seq_length=16,
                                     label_names=[f"LABEL_{i}" for i in range(11)])  # a fine-tuned model's names
    assert [int(row["labels"]) for row in ids.rows] == [10, 2, 1]
    multi = read_records(write(tmp_path, "multi.csv", 'text,label\na,"[""x"", ""y""]"\n'))
    assert encode_text_classification(multi, tok, max_seq_length=16).label_names == ["x", "y"]


def test_given_label_names_are_used_and_checked(tok):
    names = ["negative", "neutral", "positive"]
    features = encode_text_classification([{"text": "Fine.", "label": "neutral"}], tok, max_seq_length=16,
                                          label_names=names)
    assert features.label_names == names and int(features.rows[0]["labels"]) == 1
    with raises(r"records\[1\]: unknown label 'great'; the labels are \['negative', 'neutral', 'positive'\]"):
        encode_text_classification([{"text": "a", "label": "neutral"}, {"text": "b", "label": "great"}], tok,
                                   max_seq_length=16, label_names=names)
    with raises(r"records\[0\]: label id 3 is outside \[0, 3\)"):
        encode_text_classification([{"text": "a", "label": 3}], tok, max_seq_length=16, label_names=names)
    with raises(r"records\[1\]: label id -1 is outside \[0, 2\)"):
        encode_text_classification([{"text": "a", "label": 1}, {"text": "b", "label": -1}], tok, max_seq_length=16)
    with raises(r"label_names must be a non-empty list of distinct str", ConfigError):
        encode_text_classification([{"text": "a"}], tok, max_seq_length=16, label_names=["a", "a"])
    with raises(r"problem_type must be None .* got 'regresion'", ConfigError):
        encode_text_classification([{"text": "a"}], tok, max_seq_length=16, problem_type="regresion")


def test_text_classification_record_errors(tok):
    with raises(r"records\[1\]: field 'text' is missing \(the record has fields \['label', 'sentence'\]\)"):
        encode_text_classification([{"text": "a", "label": 0}, {"sentence": "b", "label": 1}], tok, max_seq_length=16)
    with raises(r"records\[0\]: field 'text_pair' must be a str, got int 7"):
        encode_text_classification([{"text": "a", "text_pair": 7}], tok, max_seq_length=16)
    with raises(r"records\[0\]: text has a character that cannot be encoded as UTF-8"):
        encode_text_classification([{"text": "bad \ud800"}], tok, max_seq_length=16)
    with raises(r"records\[1\]: label 'b' is a text, but records\[0\] has the number 1"):
        encode_text_classification([{"text": "a", "label": 1}, {"text": "b", "label": "b"}], tok, max_seq_length=16)
    with raises(r"records\[1\]: no field 'label' \(the record has fields \['text'\]\), but records\[0\] has one"):
        encode_text_classification([{"text": "a", "label": 1}, {"text": "b"}], tok, max_seq_length=16)
    with raises(r"records\[0\]: field 'label' must be a finite number \(problem_type regression\), got str 'high'"):
        encode_text_classification([{"text": "a", "label": "high"}], tok, max_seq_length=16, problem_type="regression")
    with raises(r"records\[0\]: field 'label' must be a finite number.*got float nan"):
        encode_text_classification([{"text": "a", "label": float("nan")}], tok, max_seq_length=16,
                                   problem_type="regression")
    with raises(r"records\[0\]: field 'label' must be a list of class names or ids \(multi-label\), got str 'x'"):
        encode_text_classification([{"text": "a", "label": "x"}], tok, max_seq_length=16,
                                   problem_type="multi_label_classification")
    with raises(r"records\[0\]: label \['x'\] \(list\) is neither a class name \(str\) nor a class id"):
        encode_text_classification([{"text": "a", "label": ["x"]}], tok, max_seq_length=16,
                                   problem_type="single_label_classification")
    with raises(r"records\[0\]: field 'label' must be a class name .* got bool True"):
        encode_text_classification([{"text": "a", "label": True}], tok, max_seq_length=16)
    with raises(r"every 'label' is \[\]\); pass label_names"):
        encode_text_classification([{"text": "a", "label": []}], tok, max_seq_length=16)


@pytest.mark.parametrize("bad", [7, 513, True, "128", 64.0])
def test_bad_max_seq_length_is_a_config_error(tok, bad):
    for encode in (encode_text_classification, encode_token_classification, encode_multiple_choice, encode_masked_lm):
        with raises(rf"max_seq_length must be an int in \[8, 512\].*got {re.escape(repr(bad))}", ConfigError):
            encode([{"text": "a"}], tok, max_seq_length=bad)


# ---------------------------------------------------------------------------------------- token classification
NER = [
    {"tokens": ["Guido", "van", "Rossum", "created", "Python", "in", "Amsterdam", "."],
     "tags": ["B-PER", "I-PER", "I-PER", "O", "B-MISC", "O", "B-LOC", "O"]},
    {"tokens": ["Tokenisation", "splits", "uncommonly", "long", "words"], "tags": ["O"] * 5},
]


def test_first_sub_token_of_each_word_carries_its_tag(tok):
    features = encode_token_classification(NER, tok, max_seq_length=64)
    assert features.label_names == ["B-LOC", "B-MISC", "B-PER", "I-PER", "O"]
    for index, (record, row) in enumerate(zip(NER, features.rows)):
        encoding = tok(record["tokens"], is_split_into_words=True, return_tensors=None)
        assert row["input_ids"].tolist() == encoding["input_ids"]
        word_ids = encoding.word_ids()
        assert features.meta["word_ids"][index].tolist() == [-1 if w is None else w for w in word_ids]
        assert len(word_ids) > len(record["tokens"]) + 2  # some word has several sub-tokens
        for position, word in enumerate(word_ids):
            first = word is not None and (position == 0 or word_ids[position - 1] != word)
            expected = features.label_names.index(record["tags"][word]) if first else -100
            assert row["labels"][position] == expected
        assert row["labels"].dtype == np.int64 and sorted(set(w for w in word_ids if w is not None)) == \
            list(range(len(record["tokens"])))


def test_token_classification_truncates_and_takes_given_names(tok):
    names = ["O", "B-PER", "I-PER", "B-LOC", "B-MISC"]
    features = encode_token_classification(NER[:1], tok, max_seq_length=8, label_names=names)
    row = features.rows[0]
    assert len(row["input_ids"]) == 8 and row["input_ids"][-1] == tok.sep_token_id
    assert features.label_names == names and row["labels"][1] == names.index("B-PER")
    unlabelled = encode_token_classification([{"tokens": NER[0]["tokens"]}], tok, max_seq_length=16)
    assert "labels" not in unlabelled.rows[0]
    ids = encode_token_classification([{"tokens": ["a", "b"], "tags": [0, 2]}], tok, max_seq_length=16)
    assert ids.label_names == ["0", "1", "2"] and ids.rows[0]["labels"].tolist() == [-100, 0, 2, -100]


def test_token_classification_errors(tok):
    good = NER[1]
    with raises(r"records\[1\]: field 'tokens' is missing \(the record has fields \['tags', 'words'\]\)"):
        encode_token_classification([good, {"words": ["a"], "tags": ["O"]}], tok, max_seq_length=16)
    with raises(r"records\[1\]: no field 'tags' \(the record has fields \['tokens'\]\), but records\[0\] has one"):
        encode_token_classification([good, {"tokens": ["a"]}], tok, max_seq_length=16)
    with raises(r"records\[0\]: field 'tokens' must be a non-empty list of str, got str 'EU rejects'"):
        encode_token_classification([{"tokens": "EU rejects", "tags": ["O"]}], tok, max_seq_length=16)
    with raises(r"records\[0\]: field 'tokens' must be a non-empty list of str, got list \[\]"):
        encode_token_classification([{"tokens": [], "tags": []}], tok, max_seq_length=16)
    with raises(r"records\[0\]: field 'tokens' must be a non-empty list of str, got list \['a', 3\]"):
        encode_token_classification([{"tokens": ["a", 3], "tags": ["O", "O"]}], tok, max_seq_length=16)
    with raises(r"records\[0\]: field 'tags' must be a list of 2 tags \(one per word of 'tokens'\), got list \['O'\]"):
        encode_token_classification([{"tokens": ["a", "b"], "tags": ["O"]}], tok, max_seq_length=16)
    with raises(r"records\[0\]: field 'tags' must be a list of 1 tags .* got str 'O'"):
        encode_token_classification([{"tokens": ["a"], "tags": "O"}], tok, max_seq_length=16)
    with raises(r"records\[1\]: unknown tag 'B-ORG'; the labels are \['O'\]"):
        encode_token_classification([good, {"tokens": ["EU"], "tags": ["B-ORG"]}], tok, max_seq_length=16,
                                    label_names=["O"])
    with raises(r"records\[0\]: tag 1 is a class id, but records\[0\] has 'O', a class name"):
        encode_token_classification([{"tokens": ["a", "b"], "tags": ["O", 1]}], tok, max_seq_length=16)


# --------------------------------------------------------------------------------------------- multiple choice
CHOICES = [
    {"context": "She put the kettle on because", "choices": ["she wanted tea.", "it was raining outside today."],
     "label": 0},
    {"context": "The library was closed, so", "choices": ["he read at home.", "books."], "label": "1"},
]


def test_multiple_choice_rows_pad_choices_within_the_row(tok):
    features = encode_multiple_choice(CHOICES, tok, max_seq_length=32)
    assert features.task == "multiple-choice" and [int(r["labels"]) for r in features.rows] == [0, 1]
    for record, row in zip(CHOICES, features.rows):
        encodings = [tok(record["context"], choice, return_tensors=None) for choice in record["choices"]]
        width = max(len(e["input_ids"]) for e in encodings)
        assert row["input_ids"].shape == row["token_type_ids"].shape == row["attention_mask"].shape == (2, width)
        for choice, encoding in enumerate(encodings):
            size = len(encoding["input_ids"])
            assert row["input_ids"][choice, :size].tolist() == encoding["input_ids"]
            assert row["token_type_ids"][choice, :size].tolist() == encoding["token_type_ids"]
            assert row["attention_mask"][choice].tolist() == [1] * size + [0] * (width - size)
            assert row["input_ids"][choice, size:].tolist() == [tok.pad_token_id] * (width - size)
    short = encode_multiple_choice(CHOICES, tok, max_seq_length=8)
    assert short.rows[0]["input_ids"].shape[1] == 8


def test_multiple_choice_errors(tok):
    three = {"context": "c", "choices": ["a", "b", "c"], "label": 0}
    with raises(r"records\[1\]: field 'choices' has 3 choices, but records\[0\] has 2"):
        encode_multiple_choice([CHOICES[0], three], tok, max_seq_length=16)
    with raises(r"records\[0\]: field 'label' is 2, outside \[0, 2\) \(the record has 2 choices\)"):
        encode_multiple_choice([{**CHOICES[0], "label": 2}], tok, max_seq_length=16)
    with raises(r"records\[0\]: field 'label' must be an int, the index of the right choice in \[0, 2\), got str 'a'"):
        encode_multiple_choice([{**CHOICES[0], "label": "a"}], tok, max_seq_length=16)
    with raises(r"records\[0\]: field 'label' must be an int.*got float 1\.5"):
        encode_multiple_choice([{**CHOICES[0], "label": 1.5}], tok, max_seq_length=16)
    with raises(r"records\[0\]: field 'context' is missing \(the record has fields \['choices', 'label', 'question'\]"):
        encode_multiple_choice([{"question": "q", "choices": ["a"], "label": 0}], tok, max_seq_length=16)


# --------------------------------------------------------------------------------------------------- masked LM
def test_masked_lm_windows_lose_nothing(tok):
    texts = [json.__doc__, "", collections.__doc__, "Short."]
    features = encode_masked_lm([{"text": t} for t in texts], tok, max_seq_length=64)
    assert features.task == "masked-lm" and "labels" not in features.rows[0]
    assert set(features.example_index.tolist()) == {0, 2, 3}  # the empty text gives no row
    for index, text in enumerate(texts):
        windows = [row for row, owner in zip(features.rows, features.example_index) if owner == index]
        body = [i for row in windows for i in row["input_ids"][1:-1].tolist()]
        assert body == tok(text, add_special_tokens=False, return_tensors=None)["input_ids"]
        for row in windows:
            size = len(row["input_ids"])
            assert size <= 64 and row["input_ids"][0] == tok.cls_token_id and row["input_ids"][-1] == tok.sep_token_id
            assert row["special_tokens_mask"].dtype == bool
            assert row["special_tokens_mask"].tolist() == [True] + [False] * (size - 2) + [True]
            assert row["token_type_ids"].tolist() == [0] * size and row["attention_mask"].tolist() == [1] * size
        assert all(len(row["input_ids"]) == 64 for row in windows[:-1])
    with raises(r"none of the 2 texts \(records\[0\] to records\[1\]\) has a token"):
        encode_masked_lm([{"text": ""}, {"text": "   "}], tok, max_seq_length=16)
    with raises(r"records\[0\]: field 'text' is null \(the record has fields \['text'\]\)"):
        encode_masked_lm([{"text": None}], tok, max_seq_length=16)


# ----------------------------------------------------------------------------------------------------- masking
@pytest.fixture(scope="module")
def batch(tok) -> tuple[np.ndarray, np.ndarray]:
    """About 50k tokens of stdlib documentation as [B, 128] rows: [CLS] ... [SEP], then padding."""
    docs = [m.__doc__ for m in (json, re, collections, argparse, pytest)] + [np.__doc__]
    rows = encode_masked_lm([{"text": d} for d in docs], tok, max_seq_length=128).rows
    rows = (rows * (400 // len(rows) + 1))[:400]
    ids = np.full((400, 128), tok.pad_token_id, dtype=np.int64)
    special = np.ones((400, 128), dtype=bool)
    for i, row in enumerate(rows):
        ids[i, :len(row["input_ids"])] = row["input_ids"]
        special[i, :len(row["input_ids"])] = row["special_tokens_mask"]
    return ids, special


def test_masking_statistics(tok, batch):
    ids, special = batch
    masked, labels = mask_tokens(ids, special, np.random.default_rng(0), vocab_size=tok.vocab_size,
                                 mask_token_id=tok.mask_token_id)
    candidates = int((~special).sum())
    assert candidates > 45_000
    selected = labels != -100
    assert not (selected & special).any() and (masked[special] == ids[special]).all()
    assert (labels[selected] == ids[selected]).all() and (masked[~selected] == ids[~selected]).all()
    assert selected.sum() / candidates == pytest.approx(0.15, abs=0.01)
    chosen = int(selected.sum())
    as_mask = (masked[selected] == tok.mask_token_id).sum() / chosen
    changed = ((masked[selected] != tok.mask_token_id) & (masked[selected] != ids[selected])).sum() / chosen
    kept = (masked[selected] == ids[selected]).sum() / chosen
    assert as_mask == pytest.approx(0.8, abs=0.02)
    assert changed == pytest.approx(0.1, abs=0.02) and kept == pytest.approx(0.1, abs=0.02)
    randoms = masked[selected & (masked != tok.mask_token_id) & (masked != ids)]
    assert randoms.min() >= 0 and randoms.max() < tok.vocab_size and len(set(randoms.tolist())) > 0.9 * len(randoms)
    assert masked.dtype == labels.dtype == np.int64 and ids.tolist() == batch[0].tolist()  # input untouched


def test_masking_is_reproducible_from_the_seed(tok, batch):
    ids, special = batch
    runs = [mask_tokens(ids, special, np.random.default_rng(seed), vocab_size=tok.vocab_size,
                        mask_token_id=tok.mask_token_id) for seed in (7, 7, 8)]
    assert all((a == b).all() for a, b in zip(runs[0], runs[1]))
    assert not (runs[0][1] == runs[2][1]).all()
    nothing = mask_tokens(ids, special, np.random.default_rng(0), vocab_size=30000, mask_token_id=4, probability=0)
    assert (nothing[0] == ids).all() and (nothing[1] == -100).all()


def test_masking_argument_errors(batch):
    ids, special = batch
    rng = np.random.default_rng(0)
    with raises(r"special_tokens_mask must be a bool array of the shape of input_ids", Exception):
        mask_tokens(ids, special.astype(np.int64), rng, vocab_size=30000, mask_token_id=4)
    with raises(r"probability must be a number in \[0, 1\].*got 1\.5", ConfigError):
        mask_tokens(ids, special, rng, vocab_size=30000, mask_token_id=4, probability=1.5)
    with raises(r"mask_token_id 30000 is outside the vocabulary \[0, 30000\)", ConfigError):
        mask_tokens(ids, special, rng, vocab_size=30000, mask_token_id=30000)
