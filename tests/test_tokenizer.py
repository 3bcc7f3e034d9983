"""AlbertTokenizer without transformers: the official vocabulary's fixtures, an independent re-statement of the
reference rules run against many texts, a tiny SentencePiece model trained here, shapes, options and errors."""

from __future__ import annotations

import io
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import sentencepiece as spm
from helpers import varied_texts

from albert_core.errors import TokenizerError, TokenizerTypeError
from albert_core.tokenizer import AlbertTokenizer, spiece

OFFICIAL_MODEL = Path(__file__).resolve().parents[1].parent / "shared/assets/albert-30k/spiece.model"

# The fixtures of shared/assets/albert-30k/README.md: (text, options, expected ids).
README_FIXTURES = [
    ("Hello, my dog is cute", {}, True, [2, 10975, 15, 51, 1952, 25, 10901, 3]),
    ("This is a test", {"keep_accents": True}, False, [48, 25, 21, 1289]),
    (
        "I was born in 92000, and this is falsé.",
        {"keep_accents": True},
        False,
        [31, 23, 386, 19, 561, 3050, 15, 17, 48, 25, 8256, 18, 1, 9],
    ),
    (
        "the quick brown fox jumps over the lazy dog.",
        {},
        True,
        [2, 14, 2231, 886, 2385, 17659, 84, 14, 16792, 1952, 9, 3],
    ),
    ("This is a sample sentence to be tokénized", {}, True, [2, 48, 25, 21, 5717, 5123, 20, 44, 20, 2853, 1333, 3]),
    (
        "Wondering how this will get tokenized 🤔 ?",
        {},
        True,
        [2, 5712, 184, 48, 129, 164, 20, 2853, 1333, 13, 1, 13, 60, 3],
    ),
]

SPECIALS = ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]


def reference_ids(sp: spm.SentencePieceProcessor, text: str, lower=True, remove_space=True, keep_accents=False):
    """The reference rules stated independently and literally (HF slow's behaviour), no special tokens added."""
    if lower:  # lower-case outside special tokens first, as HF's tokenize() does
        out, i = [], 0
        while i < len(text):
            hit = next((s for s in SPECIALS if text.startswith(s, i)), None)
            out.append(hit or text[i].lower())
            i += len(hit) if hit else 1
        text = "".join(out)
    chunks, cursor, i = [], 0, 0
    while i < len(text):
        hit = next((s for s in SPECIALS if text.startswith(s, i)), None)
        if hit:
            left = text[cursor:i]
            chunks += [left.rstrip() if hit == "[MASK]" else left, hit]
            i = cursor = i + len(hit)
        else:
            i += 1
    chunks.append(text[cursor:])
    ids = []
    for chunk in chunks:
        if chunk in SPECIALS:
            ids.append(sp.piece_to_id(chunk))
            continue
        if remove_space:
            chunk = " ".join(chunk.strip().split())
        chunk = chunk.replace("``", '"').replace("''", '"')
        if not keep_accents:
            chunk = "".join(c for c in unicodedata.normalize("NFKD", chunk) if not unicodedata.combining(c))
        if lower:
            chunk = chunk.lower()
        for piece in sp.encode(chunk, out_type=str):
            if len(piece) > 1 and piece[-1] == "," and piece[-2].isdigit():
                parts = sp.encode(piece[:-1].replace("\u2581", ""), out_type=str)
                if piece[0] != "\u2581" and parts[0][0] == "\u2581":
                    parts = parts[1:] if len(parts[0]) == 1 else [parts[0][1:]] + parts[1:]
                ids += [sp.piece_to_id(p) for p in parts + [","]]
            else:
                ids.append(sp.piece_to_id(piece))
    return ids


@pytest.fixture(scope="module")
def official() -> AlbertTokenizer:
    return AlbertTokenizer(OFFICIAL_MODEL)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A unigram model with ALBERT's special tokens, trained here in well under a second."""
    corpus = [
        "The quick brown fox jumps over the lazy dog, 1,000 times in 2019.",
        "She said ``hello'' and left; the café was closed.",
        "Tokenizers split text into pieces: words, sub-words and characters.",
        "Numbers like 9,9 and 12,345 are split before the comma.",
    ] * 20
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus),
        model_writer=model,
        vocab_size=100,
        hard_vocab_limit=False,
        model_type="unigram",
        pad_id=0,
        unk_id=1,
        bos_id=-1,
        eos_id=-1,
        control_symbols=["[CLS]", "[SEP]", "[MASK]"],
        normalization_rule_name="nmt_nfkc",
        character_coverage=1.0,
        minloglevel=2,
    )
    path = tmp_path_factory.mktemp("tiny") / "spiece.model"
    path.write_bytes(model.getvalue())
    return path


@pytest.fixture(scope="module")
def tiny(tiny_model) -> AlbertTokenizer:
    return AlbertTokenizer(tiny_model)


# ------------------------------------------------------------------------------------------------ reference ids
@pytest.mark.parametrize(("text", "options", "specials", "expected"), README_FIXTURES)
def test_readme_fixtures(text, options, specials, expected):
    tokenizer = AlbertTokenizer(OFFICIAL_MODEL, **options)
    assert tokenizer.encode(text, add_special_tokens=specials) == expected


def test_special_tokens_come_from_the_model(official):
    assert (
        official.pad_token_id,
        official.unk_token_id,
        official.cls_token_id,
        official.sep_token_id,
        official.mask_token_id,
    ) == (0, 1, 2, 3, 4)
    assert official.vocab_size == len(official) == 30000
    assert official.all_special_tokens == SPECIALS


@pytest.mark.parametrize("options", [{}, {"keep_accents": True}, {"do_lower_case": False}, {"remove_space": False}])
def test_matches_independent_reference_on_varied_texts(options):
    tokenizer = AlbertTokenizer(OFFICIAL_MODEL, **options)
    sp = spm.SentencePieceProcessor(model_file=str(OFFICIAL_MODEL))
    texts = varied_texts(300, seed=len(options)) + ['The "assert" statement', "``quoted''", "a  [MASK]  b"]
    flags = {
        "lower": options.get("do_lower_case", True),
        "remove_space": options.get("remove_space", True),
        "keep_accents": options.get("keep_accents", False),
    }
    batch = tokenizer(texts, add_special_tokens=False, return_tensors=None)["input_ids"]
    for text, ids in zip(texts, batch, strict=True):
        assert ids == reference_ids(sp, text, **flags), text
    with_offsets = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True, return_tensors=None)
    assert with_offsets["input_ids"] == batch  # the offset-tracking path must not change ids


def test_rules(official):
    assert official.tokenize("9,9") == ["\u25819", ",", "9"]
    assert official.tokenize("``hi''") == official.tokenize('"hi"')
    assert official.tokenize("  Café   NAÏVE ") == official.tokenize("cafe naive")
    # The reference (unlike HF's fast tokenizer, which gives "▁assert") keeps '"' inside the word's piece run.
    assert official.tokenize('The "assert" statement') == [
        "\u2581the",
        "\u2581",
        '"',
        "asser",
        "t",
        '"',
        "\u2581statement",
    ]
    assert official.encode("a [MASK] b")[2] == official.mask_token_id
    assert official.encode("a[MASK]b") == official.encode("a [MASK] b")
    assert official.mask_token_id not in official.encode("a [mask] b")
    assert official.encode("") == [2, 3]
    assert official.tokenize("ΟΔΟΣ") == ["\u2581", "οδοσ"]  # the reference lower-cases per character: no final ς
    assert official.convert_tokens_to_ids(["\u2581hello", "no-such-piece"]) == [10975, 1]
    assert official.convert_ids_to_tokens([2, 10975, 3], skip_special_tokens=True) == ["\u2581hello"]
    assert official.convert_ids_to_tokens(4) == "[MASK]"


# ---------------------------------------------------------------------------------------- layout and options
def test_pairs_padding_and_masks(official):
    words = "hello world dog cat is cute new".split()  # each a single piece "▁word"
    enc = official(
        [" ".join(words[:2]), words[2]], [words[3], " ".join(words[4:])], padding=True, return_special_tokens_mask=True
    )
    a, b, c, d, e, f, g = official.convert_tokens_to_ids(["\u2581" + w for w in words])
    assert enc["input_ids"].tolist() == [[2, a, b, 3, d, 3, 0], [2, c, 3, e, f, g, 3]]
    assert enc.token_type_ids.tolist() == [[0, 0, 0, 0, 1, 1, 0], [0, 0, 0, 1, 1, 1, 1]]
    assert enc.attention_mask.tolist() == [[1, 1, 1, 1, 1, 1, 0], [1] * 7]
    assert enc.special_tokens_mask.tolist() == [[1, 0, 0, 1, 0, 1, 1], [1, 0, 1, 0, 0, 0, 1]]
    assert all(v.dtype == np.int64 and v.shape == (2, 7) for v in enc.values())
    assert official(["a"], padding="max_length", max_length=8, pad_to_multiple_of=5)["input_ids"].shape == (1, 10)
    assert official(["a", "b c d"], padding=True, pad_to_multiple_of=4)["input_ids"].shape == (2, 8)
    assert official(["a"], padding="max_length")["input_ids"].shape == (1, 512)
    assert official("hello")["input_ids"].shape == (1, 3)
    single = official("hello", "world", return_tensors=None)
    assert single["input_ids"] == [2, 10975, 3, 126, 3] and single["token_type_ids"] == [0, 0, 0, 1, 1]
    ragged = official(["hello", "hello world dog"], return_tensors=None)["input_ids"]
    assert [len(r) for r in ragged] == [3, 5]


def _iterative_longest_first(first, second, excess):
    for _ in range(excess):
        if len(first) > len(second):
            first = first[:-1]
        else:
            second = second[:-1]
    return first, second


def test_truncation(official):
    long_a, long_b = "one two three four five six seven", "eight nine ten"
    ids_a, ids_b = official.encode(long_a, add_special_tokens=False), official.encode(long_b, add_special_tokens=False)
    for max_length in range(3, 14):
        enc = official(long_a, long_b, truncation=True, max_length=max_length, return_tensors=None)
        first, second = _iterative_longest_first(ids_a, ids_b, max(0, len(ids_a) + len(ids_b) + 3 - max_length))
        assert enc["input_ids"] == [2, *first, 3, *second, 3]
    assert official(long_a, long_b, truncation="only_first", max_length=8, return_tensors=None)["input_ids"] == [
        2,
        *ids_a[:2],
        3,
        *ids_b,
        3,
    ]
    assert official(long_a, long_b, truncation="only_second", max_length=10, return_tensors=None)["input_ids"] == [
        2,
        *ids_a,
        3,
        3,
    ]
    assert len(official(long_a * 100, truncation=True)["input_ids"][0]) == 512
    assert official(long_a, max_length=4, return_tensors=None)["input_ids"] == [2, *ids_a[:2], 3]  # as HF
    enc = official([long_a, "x"], padding="max_length", truncation=True, max_length=6, return_offsets_mapping=True)
    assert enc["input_ids"].shape == (2, 6) and enc["offset_mapping"].shape == (2, 6, 2)


def test_offsets(official):
    text = "Hello  Wörld, 9,9 ``quoted'' [MASK] 🤔 x"
    enc = official(text, return_offsets_mapping=True, return_tensors=None)
    spans = [text[a:b] for a, b in enc["offset_mapping"]]
    # A lone "▁" piece keeps the space it stands for; special tokens added by the tokenizer get (0, 0).
    assert spans == [
        "",
        "Hello",
        "Wörld",
        ",",
        "9",
        ",",
        "9",
        " ",
        "``",
        "quo",
        "ted",
        "''",
        "[MASK]",
        "",
        "🤔",
        "x",
        "",
    ]
    pair = official("ab", "cd", return_offsets_mapping=True)["offset_mapping"][0].tolist()
    assert pair == [[0, 0], [0, 2], [0, 0], [0, 2], [0, 0]]


def test_decode(official):
    ids = official.encode("Hello, [MASK] world 🤔 ?")
    assert official.decode(ids) == "[CLS] hello,[MASK] world <unk> ?[SEP]"  # HF slow's exact output
    assert official.decode(np.asarray(ids), skip_special_tokens=True) == "hello, world  ?"
    assert official.batch_decode(official(["a b", "c"], padding=True)["input_ids"], skip_special_tokens=True) == [
        "a b",
        "c",
    ]


def test_multiple_choice(official):
    enc = official.encode_multiple_choice(["ctx one", "ctx two"], [["a", "b c"], ["d", "e"]])
    longest = max(
        len(official.encode(c, x)) for c, row in zip(["ctx one", "ctx two"], [["a", "b c"], ["d", "e"]]) for x in row
    )
    assert enc["input_ids"].shape == enc["attention_mask"].shape == (2, 2, longest)
    row = official.encode("ctx two", "d")
    assert enc["input_ids"][1, 0].tolist()[: len(row)] == row
    assert official.encode_multiple_choice("c", ["x", "y", "z"], max_length=4, truncation=True, padding="max_length")[
        "token_type_ids"
    ].shape == (1, 3, 4)
    with pytest.raises(TokenizerError, match="choices"):
        official.encode_multiple_choice(["a", "b"], [["x", "y"], ["z"]])


def test_long_text_is_linear(official):
    sentence = "The quick brown fox, 9,9 jumps over the lazy dög [MASK] ``now''. "

    def seconds(repeats: int) -> float:
        start = time.perf_counter()
        official(sentence * repeats, return_tensors=None)
        return time.perf_counter() - start

    small, big = seconds(4_000), seconds(16_000)  # about 0.25 MB and 1 MB
    assert big < 12 * max(small, 0.01)  # 4x the text: linear gives ~4x, quadratic ~16x
    spans = official(sentence * 2_000, return_offsets_mapping=True)["offset_mapping"]
    assert spans.shape[1] > 20_000


# ------------------------------------------------------------------------------------------------ tiny model
def test_tiny_model_matches_sentencepiece(tiny, tiny_model):
    sp = spm.SentencePieceProcessor(model_file=str(tiny_model))
    assert (tiny.pad_token_id, tiny.unk_token_id) == (0, 1)
    texts = varied_texts(200, seed=7) + ["", "9,9 and 12,345", "a [MASK] b"]
    for text, ids in zip(texts, tiny(texts, add_special_tokens=False, return_tensors=None)["input_ids"], strict=True):
        assert ids == reference_ids(sp, text), text
    assert tiny.encode("the fox") == [tiny.cls_token_id, *sp.encode("the fox"), tiny.sep_token_id]


def test_save_and_from_pretrained(tiny_model, tmp_path):
    tokenizer = AlbertTokenizer.from_pretrained(tiny_model, keep_accents=True, model_max_length=64)
    tokenizer.save_pretrained(tmp_path / "saved")
    assert (tmp_path / "saved/spiece.model").read_bytes() == tiny_model.read_bytes()
    reloaded = AlbertTokenizer.from_pretrained(tmp_path / "saved")
    assert (reloaded.keep_accents, reloaded.model_max_length) == (True, 64)
    assert reloaded.encode("Café 9,9") == tokenizer.encode("Café 9,9")
    assert AlbertTokenizer.from_pretrained(tmp_path / "saved", keep_accents=False).keep_accents is False


# ------------------------------------------------------------------------------------------------ bad input
def test_bad_model_files(tmp_path, tiny_model, monkeypatch):
    with pytest.raises(TokenizerError, match="does not exist"):
        AlbertTokenizer(tmp_path / "missing.model")
    with pytest.raises(TokenizerError, match="folder without spiece.model"):
        AlbertTokenizer(tmp_path)
    (tmp_path / "corrupt.model").write_bytes(b"\x00not a sentencepiece model" * 10)
    with pytest.raises(TokenizerError, match="not a valid SentencePiece model"):
        AlbertTokenizer(tmp_path / "corrupt.model")
    (tmp_path / "empty.model").write_bytes(b"")
    with pytest.raises(TokenizerError, match="0 bytes"):
        AlbertTokenizer(tmp_path / "empty.model")
    monkeypatch.setattr(spiece, "MAX_MODEL_BYTES", 1000)
    with pytest.raises(TokenizerError, match="bytes"):
        AlbertTokenizer(tiny_model)
    monkeypatch.undo()
    with pytest.raises(TokenizerError, match="mask_token"):
        AlbertTokenizer(tiny_model, mask_token="<mask>")
    with pytest.raises(TokenizerTypeError, match="vocab_file"):
        AlbertTokenizer(42)


def test_bad_arguments(tiny):
    with pytest.raises(TokenizerTypeError, match="text must be"):
        tiny(42)
    with pytest.raises(TokenizerTypeError, match=r"text\[1\]"):
        tiny(["ok", None])
    with pytest.raises(TokenizerTypeError, match=r"text_pair\[0\]"):
        tiny(["ok"], [b"bytes"])
    with pytest.raises(TokenizerError, match="text_pair"):
        tiny(["a", "b"], ["c"])
    with pytest.raises(TokenizerError, match="text_pair"):
        tiny("a", ["c"])
    with pytest.raises(TokenizerError, match="max_length=2"):
        tiny("a", "b", truncation=True, max_length=2)
    with pytest.raises(TokenizerError, match="max_length"):
        tiny("a", max_length=0)
    with pytest.raises(TokenizerError, match="padding"):
        tiny("a", padding="left")
    with pytest.raises(TokenizerError, match="truncation"):
        tiny("a", truncation="longest")
    with pytest.raises(TokenizerError, match="only_second"):
        tiny("a", truncation="only_second", max_length=5)
    with pytest.raises(TokenizerError, match="pad_to_multiple_of"):
        tiny("a", padding=True, pad_to_multiple_of=-8)
    with pytest.raises(TokenizerError, match="return_tensors"):
        tiny("a", return_tensors="mx")
    with pytest.raises(TokenizerError, match="padding=True"):
        tiny(["a", "the quick brown fox"])
    with pytest.raises(TokenizerError, match="only_first"):
        tiny("a", "the quick brown fox jumps", truncation="only_first", max_length=5)
    with pytest.raises(TokenizerError, match="outside the vocabulary"):
        tiny.decode([0, 10**6])
    with pytest.raises(TokenizerTypeError, match="token_ids"):
        tiny.decode("text")
