"""Pretraining data from raw text: the vocabulary trainer, segment pairs, n-gram masking, the shard folder, and
their errors. The corpus is real English (the standard library's docstrings, `sample_corpus`); the statistics
are checked against the recipe's targets on it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from albert_core.cli import main
from albert_core.errors import ConfigError, DataError
from albert_core.pretraining.builder import DataOptions, build_pretraining_data
from albert_core.pretraining.corpus import corpus_paths, read_documents
from albert_core.pretraining.instances import segment_pairs
from albert_core.pretraining.ngram_masking import NGRAM_PROBS, mask_target, ngram_mask, words
from albert_core.pretraining.sample_corpus import write_sample_corpus
from albert_core.pretraining.shards import MANIFEST_NAME, iter_shards, read_manifest, read_shard
from albert_core.pretraining.vocab import SPECIAL_PIECES, train_vocab
from albert_core.tokenizer import AlbertTokenizer

SPIECE = Path(__file__).resolve().parents[1].parent / "shared/assets/albert-30k/spiece.model"
RECIPE = DataOptions(max_seq_length=128, max_predictions_per_seq=20, dupe_factor=3, shard_size=2000)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_sample_corpus(tmp_path_factory.mktemp("corpus") / "stdlib.txt")


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    return write_sample_corpus(tmp_path_factory.mktemp("corpus") / "small.txt", max_documents=120)


@pytest.fixture(scope="module")
def data(corpus, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("data") / "stdlib-128"
    return out, build_pretraining_data(corpus, tokenizer=SPIECE, output_dir=out, options=RECIPE, workers=2)


# ----------------------------------------------------------------------------------------------- statistics
def test_statistics_meet_the_recipe_on_real_text(data):
    _, stats = data
    assert stats["instances"] > 3000 and stats["documents"] > 1000
    assert abs(stats["masked_fraction"] - 0.15) <= 0.01
    for n, p in enumerate(NGRAM_PROBS, 1):
        assert abs(stats["ngram_histogram"][str(n)] - p) <= 0.02, stats["ngram_histogram"]
    assert abs(stats["sop_swapped_fraction"] - 0.5) <= 0.02
    assert abs(stats["short_fraction"] - 0.1) <= 0.02
    kinds = stats["mask_kinds"]
    assert abs(kinds["mask"] - 0.8) <= 0.02 and abs(kinds["kept"] - 0.1) <= 0.02 and abs(kinds["random"] - 0.1) <= 0.02


def test_the_folder_holds_what_the_statistics_count(data):
    folder, stats = data
    manifest = read_manifest(folder)
    assert json.loads((folder / "stats.json").read_text()) == stats
    assert AlbertTokenizer.from_pretrained(folder / "tokenizer").vocab_size == 30000
    tok = AlbertTokenizer(SPIECE)
    instances = masked = 0
    for shard in iter_shards(folder, manifest):
        for i in range(len(shard["segment_b"])):
            ids = shard["input_ids"][shard["offsets"][i]:shard["offsets"][i + 1]]
            b = shard["segment_b"][i]
            positions = shard["masked_positions"][shard["masked_offsets"][i]:shard["masked_offsets"][i + 1]]
            assert len(ids) <= 128 and ids[0] == tok.cls_token_id and ids[b - 1] == ids[-1] == tok.sep_token_id
            assert tok.sep_token_id not in ids[1:b - 1] and tok.sep_token_id not in ids[b:-1]
            assert 1 <= len(positions) <= 20 and np.all(np.diff(positions) > 0)
            assert not np.isin(positions, [0, b - 1, len(ids) - 1]).any()
            instances, masked = instances + 1, masked + len(positions)
    assert (instances, masked) == (stats["instances"], stats["masked_tokens"]) == (manifest["instances"], masked)


def test_the_same_seed_gives_the_same_files_on_any_core_count(small_corpus, tmp_path):
    options = DataOptions(max_seq_length=64, dupe_factor=2, shard_size=150)
    one = tmp_path / "one"
    build_pretraining_data(small_corpus, tokenizer=SPIECE, output_dir=one, options=options, workers=1)
    two = tmp_path / "two"
    build_pretraining_data(small_corpus, tokenizer=SPIECE, output_dir=two, options=options, workers=2)
    names = sorted(p.name for p in one.iterdir() if p.is_file())
    assert len([n for n in names if n.endswith(".npz")]) > 2
    assert names == sorted(p.name for p in two.iterdir() if p.is_file())
    for name in names:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    other = tmp_path / "other-seed"
    build_pretraining_data(small_corpus, tokenizer=SPIECE, output_dir=other,
                           options=DataOptions(max_seq_length=64, dupe_factor=2, shard_size=150, seed=7), workers=1)
    assert (other / "shard-00000.npz").read_bytes() != (one / "shard-00000.npz").read_bytes()


# ------------------------------------------------------------------------------------------- the algorithms
def test_pairs_keep_document_order_unless_swapped():
    rng = np.random.default_rng(0)
    lines = [np.arange(i * 10, i * 10 + 10, dtype=np.int32) for i in range(30)]  # ids rise through the document
    pairs = list(segment_pairs(lines, 61, 0.1, rng))
    assert len(pairs) >= 5 and {p.swapped for p in pairs} == {True, False}
    for p in pairs:
        assert len(p.a) and len(p.b) and len(p.a) + len(p.b) <= 61
        first, second = (p.b, p.a) if p.swapped else (p.a, p.b)
        assert first.max() < second.min()  # consecutive text of one document, in its order once unswapped
    one_line = list(segment_pairs([np.arange(50, dtype=np.int32)], 40, 0.0, rng))
    assert len(one_line) == 1 and len(one_line[0].a) + len(one_line[0].b) == 40  # cut inside the line, trimmed
    assert list(segment_pairs([np.array([7], np.int32)], 40, 0.0, rng)) == []  # one token cannot make a pair


def test_masked_spans_are_whole_words_within_one_segment():
    tok = AlbertTokenizer(SPIECE)
    pieces = [tok._sp.id_to_piece(i) for i in range(tok.vocab_size)]
    word_start = np.array([p.startswith(("\u2581", "<")) for p in pieces])
    text_a = "Return the lowest index in the string where substring sub is found within the slice."
    text_b = "Raise ValueError when the substring is not found, and otherwise behave like str.find()."
    a = tok(text_a, add_special_tokens=False, return_tensors=None)["input_ids"]
    b = tok(text_b, add_special_tokens=False, return_tensors=None)["input_ids"]
    tokens = np.array([tok.cls_token_id, *a, tok.sep_token_id, *b, tok.sep_token_id], np.int32)
    maskable = np.ones(len(tokens), bool)
    maskable[[0, len(a) + 1, len(tokens) - 1]] = False
    starts, ends, runs = words(maskable, word_start[tokens])
    assert set(runs) == {1, 2} and np.all(ends > starts) and not maskable[ends - 1].__invert__().any()
    for seed in range(40):
        m = ngram_mask(tokens, maskable, word_start[tokens], 6, 8, np.random.default_rng(seed), tok.mask_token_id,
                       np.arange(5, tok.vocab_size, dtype=np.int32))
        assert 1 <= len(m.positions) <= 8 and maskable[m.positions].all()
        assert np.array_equal(m.labels, tokens[m.positions])
        hit = np.zeros(len(tokens), bool)
        hit[m.positions] = True
        for s, e in zip(starts, ends):
            assert hit[s:e].all() or not hit[s:e].any()  # a word is masked whole or not at all
        unchanged = np.setdiff1d(np.arange(len(tokens)), m.positions)
        assert np.array_equal(m.tokens[unchanged], tokens[unchanged])
    assert mask_target(125, 0.15) == 19 and mask_target(3, 0.15) == 1


# ----------------------------------------------------------------------------------------------- vocabulary
def test_the_vocabulary_has_albert_conventions_and_the_tokenizer_preprocessing(corpus, tmp_path):
    path = train_vocab(corpus, vocab_size=1500, output_dir=tmp_path / "vocab")
    tok = AlbertTokenizer.from_pretrained(tmp_path / "vocab")
    assert path == tmp_path / "vocab/spiece.model" and tok.vocab_size == 1500
    assert [tok._sp.id_to_piece(i) for i in range(5)] == list(SPECIAL_PIECES)
    assert (tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id) == \
        (0, 1, 2, 3, 4)
    pieces = [tok._sp.id_to_piece(i) for i in range(5, 1500)]
    assert not any(c.isupper() for p in pieces for c in p)  # learnt from lower-cased text, as it will be encoded
    ids = tok("The Parser returns [MASK].", return_tensors=None)["input_ids"]
    assert ids[0] == 2 and ids[-1] == 3 and 4 in ids and 1 not in ids
    cased = train_vocab(corpus, vocab_size=1500, output_dir=tmp_path / "cased", do_lower_case=False)
    assert AlbertTokenizer.from_pretrained(cased.parent).text_options.do_lower_case is False


# ------------------------------------------------------------------------------------------------ bad input
def test_vocabulary_errors(corpus, tmp_path):
    with pytest.raises(ConfigError, match=r"--vocab-size 10 is too small.*at least 14"):
        train_vocab(corpus, vocab_size=10, output_dir=tmp_path / "v")
    with pytest.raises(DataError, match=r"--vocab-size 900000 is too large for this corpus"):
        train_vocab(corpus, vocab_size=900_000, output_dir=tmp_path / "v")
    blank = tmp_path / "blank.txt"
    blank.write_text("\n\n  \n")
    with pytest.raises(DataError, match="has no text"):
        train_vocab(blank, vocab_size=100, output_dir=tmp_path / "v")
    assert not (tmp_path / "v").exists()  # nothing was written


def test_corpus_errors_name_the_file_and_line(tmp_path):
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("first line\n\ncaf\u00e9 au lait\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1.txt:3: not UTF-8 \(byte 0xe9 at column 4\).*iconv"):
        list(read_documents(corpus_paths(latin)))
    with pytest.raises(DataError, match="does not exist"):
        corpus_paths([tmp_path / "missing.txt"])
    with pytest.raises(DataError, match="no corpus given"):
        corpus_paths([])
    (tmp_path / "empty-folder").mkdir()
    with pytest.raises(DataError, match=r"has no \*.txt files"):
        corpus_paths(tmp_path / "empty-folder")
    docs = tmp_path / "docs.txt"
    docs.write_text("\ufeffone\ntwo\n\n\nthree\n")
    assert [(d.index, d.source.rsplit("/", 1)[1], d.lines) for d in read_documents([docs])] == \
        [(0, "docs.txt:1", ("one", "two")), (1, "docs.txt:5", ("three",))]


def test_data_errors_come_before_any_work(small_corpus, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("the\n\nof\n")  # one token per document: no pair can be cut
    with pytest.raises(DataError, match="gave no instance: every document is shorter than two tokens"):
        build_pretraining_data(short, tokenizer=SPIECE, output_dir=tmp_path / "d", workers=1)
    assert not (tmp_path / "d").exists() and not list(tmp_path.glob(".d.partial-*"))
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="exists and is not a pretraining data folder"):
        build_pretraining_data(small_corpus, tokenizer=SPIECE, output_dir=taken, workers=1)
    assert (taken / "notes.txt").read_text() == "mine"
    for options, message in ((DataOptions(max_seq_length=4), "--max-seq-length 4"),
                             (DataOptions(masked_lm_prob=0.0), "--masked-lm-prob 0.0"),
                             (DataOptions(short_seq_prob=1.5), "--short-seq-prob 1.5"),
                             (DataOptions(dupe_factor=0), "--dupe-factor 0"),
                             (DataOptions(max_seq_length=64, max_predictions_per_seq=62),
                              r"--max-predictions-per-seq 62 .*\[1, 61\]")):
        with pytest.raises(ConfigError, match=message):
            build_pretraining_data(small_corpus, tokenizer=SPIECE, output_dir=tmp_path / "d", options=options)


def test_a_new_build_replaces_an_old_folder_only_once_complete(small_corpus, tmp_path):
    out = tmp_path / "data"
    options = DataOptions(max_seq_length=64, dupe_factor=1)
    first = build_pretraining_data(small_corpus, tokenizer=SPIECE, output_dir=out, options=options, workers=1)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    short = tmp_path / "short.txt"
    short.write_text("the\n")
    with pytest.raises(DataError):
        build_pretraining_data(short, tokenizer=SPIECE, output_dir=out, options=options, workers=1)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    again = build_pretraining_data(small_corpus, tokenizer=SPIECE, output_dir=out,
                                   options=DataOptions(max_seq_length=64, dupe_factor=2), workers=1)
    assert again["instances"] > first["instances"] and read_manifest(out)["instances"] == again["instances"]


def test_damaged_folders_are_refused(small_corpus, tmp_path):
    out = tmp_path / "data"
    build_pretraining_data(small_corpus, tokenizer=SPIECE, output_dir=out,
                           options=DataOptions(max_seq_length=64, dupe_factor=1), workers=1)
    shard = out / "shard-00000.npz"
    shard.write_bytes(shard.read_bytes()[:1000])
    with pytest.raises(DataError, match="shard-00000.npz: not a readable pretraining shard"):
        read_shard(shard)
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    (out / MANIFEST_NAME).write_text(json.dumps({**manifest, "version": 99}))
    with pytest.raises(DataError, match="version 99"):
        read_manifest(out)
    with pytest.raises(DataError, match="has no data.json"):
        read_manifest(tmp_path)


def test_cli_commands(small_corpus, tmp_path, capsys):
    assert main(["vocab", str(small_corpus), "--vocab-size", "600", "--output", str(tmp_path / "vocab")]) == 0
    assert "600 pieces" in capsys.readouterr().out
    assert main(["pretrain-data", str(small_corpus), "--tokenizer", str(tmp_path / "vocab"), "--output",
                 str(tmp_path / "data"), "--max-seq-length", "64", "--dupe-factor", "1", "--workers", "1",
                 "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["instances"] == read_manifest(tmp_path / "data")["instances"] > 50
    assert read_manifest(tmp_path / "data")["tokenizer"]["vocab_size"] == 600
    assert main(["vocab", str(small_corpus), "--vocab-size", "3", "--output", str(tmp_path / "v")]) == 1
    assert "--vocab-size 3 is too small" in capsys.readouterr().err
