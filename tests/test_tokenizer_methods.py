"""AlbertTokenizer's HF helper methods, saving and loading HF tokenizer folders, and text SentencePiece cannot take
(lone surrogates), without transformers. HF parity of the same: tests/parity/test_tokenizer_methods_parity.py."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import time

import numpy as np
import pytest
import sentencepiece as spm
from helpers import varied_texts
from test_tokenizer import OFFICIAL_MODEL, reference_ids

from albert_core.errors import TokenizerError, TokenizerTypeError
from albert_core.tokenizer import AlbertTokenizer
from albert_core.tokenizer import albert_tokenizer as module

_DOC_MODULES = ("json", "textwrap", "argparse", "collections", "functools", "pathlib", "inspect", "os")


def real_sentences(count: int = 200) -> list[str]:
    """English prose: sentences of the docstrings of a few standard-library modules (fixed order)."""
    found: list[str] = []
    for name in _DOC_MODULES:
        mod = importlib.import_module(name)
        docs = [mod.__doc__ or ""] + [
            inspect.getdoc(value) or "" for key, value in sorted(vars(mod).items()) if not key.startswith("_")
        ]
        for doc in docs:
            for paragraph in doc.split("\n\n"):
                text = " ".join(paragraph.split())
                for sentence in text.replace(". ", ".\n").split("\n"):
                    if 4 <= len(sentence.split()) <= 60 and sentence[:1].isupper() and sentence not in found:
                        found.append(sentence)
    assert len(found) >= count, len(found)
    return found[:count]


TEXTS = real_sentences() + varied_texts(200, seed=11) + ["", " ", "Crème brûlée, 9,9 and 日本語 [MASK] <unk>"]


@pytest.fixture(scope="module")
def tok() -> AlbertTokenizer:
    return AlbertTokenizer(OFFICIAL_MODEL)


# ------------------------------------------------------------------------------------------------ id helpers
def test_build_inputs_type_ids_and_mask_match_call(tok):
    """The helpers build exactly what __call__ builds from the same ids (without truncation or padding)."""
    for first, second in zip(TEXTS[::2], TEXTS[1::2]):
        a = tok.encode(first, add_special_tokens=False)
        b = tok.encode(second, add_special_tokens=False)
        single = tok(first, return_special_tokens_mask=True, return_tensors=None)
        pair = tok(first, second, return_special_tokens_mask=True, return_tensors=None)
        assert tok.build_inputs_with_special_tokens(a) == single["input_ids"] == tok.encode(first)
        assert tok.build_inputs_with_special_tokens(a, b) == pair["input_ids"]
        assert tok.create_token_type_ids_from_sequences(a) == single["token_type_ids"]
        assert tok.create_token_type_ids_from_sequences(a, b) == pair["token_type_ids"]
        assert tok.get_special_tokens_mask(a) == single["special_tokens_mask"]
        assert tok.get_special_tokens_mask(a, b) == pair["special_tokens_mask"]


def test_id_helpers_shapes_and_inputs(tok):
    cls, sep = tok.cls_token_id, tok.sep_token_id
    assert tok.build_inputs_with_special_tokens([]) == [cls, sep]
    assert tok.build_inputs_with_special_tokens([], []) == [cls, sep, sep]
    assert tok.build_inputs_with_special_tokens((7, 8), np.array([9], dtype=np.int32)) == [cls, 7, 8, sep, 9, sep]
    built = tok.build_inputs_with_special_tokens(np.array([7, 8]))
    assert built == [cls, 7, 8, sep] and all(type(i) is int for i in built)
    assert tok.get_special_tokens_mask([7, 8], [9]) == [1, 0, 0, 1, 0, 1]
    assert tok.create_token_type_ids_from_sequences([7, 8], [9, 10]) == [0, 0, 0, 0, 1, 1, 1]
    # Already built: every special id is 1, <unk> (a special token, as in HF) included.
    built = [cls, 48, tok.unk_token_id, tok.mask_token_id, sep, tok.pad_token_id]
    assert tok.get_special_tokens_mask(built, already_has_special_tokens=True) == [1, 0, 1, 1, 1, 1]
    assert tok.get_special_tokens_mask([], already_has_special_tokens=True) == []


def test_id_helpers_errors(tok):
    for method in (tok.build_inputs_with_special_tokens, tok.get_special_tokens_mask,
                   tok.create_token_type_ids_from_sequences):
        with pytest.raises(TokenizerTypeError, match=r"token_ids_0 must be a list of int ids, got int 5"):
            method(5)
        with pytest.raises(TokenizerTypeError, match=r"token_ids_0 must be an int or a sequence of ints.*'a'"):
            method(["a"])
        with pytest.raises(TokenizerTypeError, match=r"token_ids_1 must be a list of int ids, got str 'text'"):
            method([1], "text")
        with pytest.raises(TokenizerTypeError, match=r"token_ids_0 .*2-D|token_ids_0 must be a 1-D"):
            method(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(TokenizerError, match=r"token_ids_1 must be None with already_has_special_tokens=True"):
        tok.get_special_tokens_mask([2, 3], [5], already_has_special_tokens=True)
    with pytest.raises(TokenizerTypeError, match=r"already_has_special_tokens must be True or False, got 'yes'"):
        tok.get_special_tokens_mask([2, 3], already_has_special_tokens="yes")


# ------------------------------------------------------------------------------------------------ bos / eos
def test_bos_and_eos_tokens(tok):
    assert (tok.bos_token, tok.bos_token_id, tok.eos_token, tok.eos_token_id) == ("[CLS]", 2, "[SEP]", 3)
    assert list(tok.special_tokens_map) == ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token",
                                            "cls_token", "mask_token"]
    assert tok.all_special_ids == [0, 1, 2, 3, 4]
    other = AlbertTokenizer(OFFICIAL_MODEL, bos_token="[MASK]", eos_token="<pad>")
    assert (other.bos_token_id, other.eos_token_id) == (4, 0)
    assert other.encode("a b") == tok.encode("a b")  # [CLS]/[SEP] frame the text, as HF: bos/eos do not
    params = inspect.signature(AlbertTokenizer).parameters
    assert (params["bos_token"].default, params["eos_token"].default) == ("[CLS]", "[SEP]")
    with pytest.raises(TokenizerError, match=r"bos_token='<s>' is not a piece of the SentencePiece model"):
        AlbertTokenizer(OFFICIAL_MODEL, bos_token="<s>")
    with pytest.raises(TokenizerTypeError, match=r"eos_token must be a non-empty string, got 3"):
        AlbertTokenizer(OFFICIAL_MODEL, eos_token=3)
    with pytest.raises(TokenizerTypeError, match=r"eos_token must be a non-empty string, got ''"):
        AlbertTokenizer(OFFICIAL_MODEL, eos_token="")
    with pytest.raises(TokenizerError, match=r"bos_token has a character .* at index 1"):
        AlbertTokenizer(OFFICIAL_MODEL, bos_token="[\ud800")


# ------------------------------------------------------------------------------------------------ save_vocabulary
def test_save_vocabulary(tok, tmp_path):
    assert tok.save_vocabulary(str(tmp_path)) == (os.path.join(str(tmp_path), "spiece.model"),)
    prefixed = os.path.join(str(tmp_path), "albert-spiece.model")
    assert tok.save_vocabulary(tmp_path, filename_prefix="albert") == (prefixed,)
    assert tok.save_vocabulary(tmp_path, filename_prefix="") == (os.path.join(str(tmp_path), "spiece.model"),)
    for name in ("spiece.model", "albert-spiece.model"):
        assert (tmp_path / name).read_bytes() == OFFICIAL_MODEL.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["albert-spiece.model", "spiece.model"]
    with pytest.raises(TokenizerError, match=r"save_directory='.*missing' is not an existing folder; create it"):
        tok.save_vocabulary(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()
    with pytest.raises(TokenizerError, match=r"is not an existing folder"):
        tok.save_vocabulary(tmp_path / "spiece.model")
    with pytest.raises(TokenizerTypeError, match=r"filename_prefix must be a str or None, got int 3"):
        tok.save_vocabulary(tmp_path, filename_prefix=3)
    with pytest.raises(TokenizerTypeError, match=r"save_directory must be a folder path .* got NoneType None"):
        tok.save_vocabulary(None)


# ------------------------------------------------------------------------------------------------ save_pretrained
def test_save_pretrained_writes_hf_files(tmp_path):
    tok = AlbertTokenizer(OFFICIAL_MODEL, keep_accents=True, remove_space=False, model_max_length=128)
    folder = tmp_path / "a" / "b"  # parents are created
    written = tok.save_pretrained(folder)
    assert written == tuple(os.path.join(str(folder), n) for n in
                            ("tokenizer_config.json", "special_tokens_map.json", "spiece.model"))
    assert sorted(p.name for p in folder.iterdir()) == ["special_tokens_map.json", "spiece.model",
                                                       "tokenizer_config.json"]
    assert (folder / "spiece.model").read_bytes() == OFFICIAL_MODEL.read_bytes()
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["tokenizer_class"] == "AlbertTokenizer"
    assert {k: config[k] for k in ("do_lower_case", "remove_space", "keep_accents", "model_max_length")} == {
        "do_lower_case": True, "remove_space": False, "keep_accents": True, "model_max_length": 128}
    assert {k: config[k] for k in tok.special_tokens_map} == tok.special_tokens_map
    assert config["clean_up_tokenization_spaces"] is False
    decoder = config["added_tokens_decoder"]
    assert {int(i): t["content"] for i, t in decoder.items()} == {0: "<pad>", 1: "<unk>", 2: "[CLS]", 3: "[SEP]",
                                                                  4: "[MASK]"}
    assert [i for i, t in decoder.items() if t["lstrip"]] == ["4"] and all(t["special"] for t in decoder.values())
    tokens_map = json.loads((folder / "special_tokens_map.json").read_text(encoding="utf-8"))
    assert tokens_map["mask_token"] == {"content": "[MASK]", "lstrip": True, "normalized": False, "rstrip": False,
                                        "single_word": False}
    assert {k: v for k, v in tokens_map.items() if k != "mask_token"} == {
        k: v for k, v in tok.special_tokens_map.items() if k != "mask_token"}
    # The files are written the way HF writes them: sorted keys, 2-space indent, a final newline.
    text = (folder / "tokenizer_config.json").read_text(encoding="utf-8")
    assert text == json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_save_and_load_round_trip(tmp_path):
    options = dict(do_lower_case=False, keep_accents=True, model_max_length=77, bos_token="[MASK]", eos_token="<pad>")
    tok = AlbertTokenizer(OFFICIAL_MODEL, **options)
    tok.save_pretrained(tmp_path)
    back = AlbertTokenizer.from_pretrained(tmp_path)
    assert {k: getattr(back, k) for k in options} == options
    assert back.special_tokens_map == tok.special_tokens_map
    assert back(TEXTS, return_tensors=None)["input_ids"] == tok(TEXTS, return_tensors=None)["input_ids"]
    assert AlbertTokenizer.from_pretrained(tmp_path, do_lower_case=True).do_lower_case is True  # overrides win
    assert AlbertTokenizer.from_pretrained(tmp_path / "spiece.model").model_max_length == 512  # a file: no config


def test_save_pretrained_errors(tok, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(TokenizerError, match=r"save_directory='.*file' is a file; pass a folder"):
        tok.save_pretrained(tmp_path / "file")
    with pytest.raises(TokenizerTypeError, match=r"save_directory must be a folder path"):
        tok.save_pretrained(42)


def test_save_pretrained_replaces_files_atomically(tok, tmp_path, monkeypatch):
    """Every file is written beside its target and renamed over it, so a crash never leaves a half file there."""
    tok.save_pretrained(tmp_path)
    good = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    inodes = {p.name: p.stat().st_ino for p in tmp_path.iterdir()}
    AlbertTokenizer(OFFICIAL_MODEL, model_max_length=99).save_pretrained(tmp_path)
    assert all((tmp_path / n).stat().st_ino != i for n, i in inodes.items())  # new files, not rewritten in place
    assert json.loads((tmp_path / "tokenizer_config.json").read_text())["model_max_length"] == 99
    tok.save_pretrained(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == good

    # A crash in the middle of a write (the disk fills up, the process is killed before the rename): the target
    # keeps its complete old content and the partial file is gone.
    real_fsync = os.fsync

    def failing_fsync(fd):
        real_fsync(fd)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(module.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="No space left"):
        AlbertTokenizer(OFFICIAL_MODEL, model_max_length=5).save_pretrained(tmp_path)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == good

    def crash_before_rename(source, target):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(module.os, "replace", crash_before_rename)
    with pytest.raises(KeyboardInterrupt):
        AlbertTokenizer(OFFICIAL_MODEL, model_max_length=5).save_pretrained(tmp_path)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == good
    # The files get the usual permissions (the umask's), not a temporary file's private 0600.
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "tokenizer_config.json").stat().st_mode & 0o777 == 0o666 & ~umask


# ------------------------------------------------------------------------------------------------ HF folders
def _folder(tmp_path, config=None, tokens_map=None):
    """A folder as HF leaves one: the shared spiece.model (linked, not copied) and the JSON files given."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "spiece.model").symlink_to(OFFICIAL_MODEL)
    for name, value in (("tokenizer_config.json", config), ("special_tokens_map.json", tokens_map)):
        if value is not None:
            (tmp_path / name).write_text(value if isinstance(value, str) else json.dumps(value), encoding="utf-8")
    return tmp_path


def test_from_pretrained_reads_hf_token_forms_and_ignores_other_keys(tmp_path):
    mask = {"__type": "AddedToken", "content": "[MASK]", "lstrip": True, "normalized": False, "rstrip": False,
            "single_word": False, "special": True}
    config = {"tokenizer_class": "AlbertTokenizerFast", "do_lower_case": False, "model_max_length": 1e30,
              "mask_token": mask, "bos_token": {"content": "[MASK]"}, "sp_model_kwargs": {}, "name_or_path": "x",
              "additional_special_tokens": [], "chat_template": None, "clean_up_tokenization_spaces": True}
    tok = AlbertTokenizer.from_pretrained(_folder(tmp_path, config))
    assert (tok.do_lower_case, tok.model_max_length, tok.mask_token, tok.bos_token) == (False, int(1e30), "[MASK]",
                                                                                        "[MASK]")
    assert tok.encode("Hello [MASK]") == AlbertTokenizer(OFFICIAL_MODEL, do_lower_case=False).encode("Hello [MASK]")


def test_from_pretrained_special_tokens_map_precedence(tmp_path):
    """As HF: special_tokens_map.json overrides the config's tokens only when the config has no
    added_tokens_decoder (HF's legacy rule); keyword overrides win over both."""
    tokens_map = {"bos_token": {"content": "<pad>", "lstrip": False}, "eos_token": "[MASK]"}
    legacy = AlbertTokenizer.from_pretrained(_folder(tmp_path / "a", {"bos_token": "[SEP]"}, tokens_map))
    assert (legacy.bos_token, legacy.eos_token) == ("<pad>", "[MASK]")
    modern = {"bos_token": "[SEP]", "added_tokens_decoder": {"3": {"content": "[SEP]", "special": True}}}
    tok = AlbertTokenizer.from_pretrained(_folder(tmp_path / "b", modern, tokens_map))
    assert (tok.bos_token, tok.eos_token) == ("[SEP]", "[SEP]")
    only_map = AlbertTokenizer.from_pretrained(_folder(tmp_path / "c", None, tokens_map), eos_token="<unk>")
    assert (only_map.bos_token, only_map.eos_token, only_map.do_lower_case) == ("<pad>", "<unk>", True)


def test_from_pretrained_accepts_the_models_own_pieces_as_added_tokens(tmp_path):
    """HF fast lists SentencePiece's user-defined pieces ("(", "-"...) as added tokens; they are the model's."""
    added = {str(i): {"content": p, "special": i < 5} for i, p in enumerate(["<pad>", "<unk>", "[CLS]", "[SEP]",
                                                                             "[MASK]", "(", ")", '"', "-"])}
    tok = AlbertTokenizer.from_pretrained(_folder(tmp_path, {"added_tokens_decoder": added}))
    assert tok.encode("a(b)-c") == AlbertTokenizer(OFFICIAL_MODEL).encode("a(b)-c")


@pytest.mark.parametrize(
    ("config", "tokens_map", "message"),
    [
        ("{not json", None, r"tokenizer_config.json is not valid JSON .*; fix or delete it"),
        (None, '{"mask_token": ', r"special_tokens_map.json is not valid JSON"),
        ("[1, 2]", None, r"tokenizer_config.json must hold a JSON object .* got list \[1, 2\]"),
        (b"\xff\xfe".decode("latin-1"), None, r"tokenizer_config.json is not valid JSON"),
        ({"do_lower_case": "yes"}, None, r"tokenizer_config.json: do_lower_case must be true or false, got 'yes'"),
        ({"model_max_length": 0}, None, r"tokenizer_config.json: model_max_length must be a positive int, got 0"),
        ({"mask_token": None}, None, r"tokenizer_config.json: mask_token must be a token string or an AddedToken"),
        (None, {"pad_token": {"lstrip": True}}, r"special_tokens_map.json: pad_token must be a token string"),
        ({"unk_token": "<s>"}, None, r"unk_token='<s>' is not a piece of the SentencePiece model"),
        ({"added_tokens_decoder": {"30000": {"content": "<new>"}}}, None,
         r"added_tokens_decoder\['30000'\] = '<new>' is not the piece with that id .* Load that folder with HF"),
        ({"added_tokens_decoder": {"5": {"content": "[MASK]"}}}, None, r"added_tokens_decoder\['5'\] = '\[MASK\]'"),
        ({"added_tokens_decoder": []}, None, r"added_tokens_decoder must be an object"),
    ],
)
def test_from_pretrained_errors_name_the_file(tmp_path, config, tokens_map, message):
    folder = _folder(tmp_path, config, tokens_map)
    if config == b"\xff\xfe".decode("latin-1"):
        (folder / "tokenizer_config.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(TokenizerError, match=message):
        AlbertTokenizer.from_pretrained(folder)


def test_from_pretrained_override_fixes_a_bad_value(tmp_path):
    folder = _folder(tmp_path, {"do_lower_case": "yes", "mask_token": None})
    tok = AlbertTokenizer.from_pretrained(folder, do_lower_case=False, mask_token="[MASK]")
    assert (tok.do_lower_case, tok.mask_token) == (False, "[MASK]")


# ------------------------------------------------------------------------------------------------ bad code points
BAD = [
    ("a\ud800b", 1),
    ("\udfff", 0),
    ("café\udc80", 4),
    ("日本語 [MASK] \ud83d\ude00 x", 11),  # a UTF-16 pair written as two code points
    ("ok " * 40 + "\ud800", 120),
]


@pytest.mark.parametrize(("text", "index"), BAD)
def test_unencodable_text_is_a_tokenizer_error_from_every_entry_point(tok, text, index):
    def check(call, name):
        with pytest.raises(TokenizerError, match=rf"^{name} has a character that cannot be encoded as UTF-8 at index "
                                                 rf"{index}: .*U\+D[89A-F][0-9A-F]{{2}}.*decode the source bytes"):
            call()

    check(lambda: tok(text), "text")
    check(lambda: tok(text, return_offsets_mapping=True), "text")
    check(lambda: tok(["fine", text]), r"text\[1\]")
    check(lambda: tok("fine", text), "text_pair")
    check(lambda: tok(["a", "b"], ["c", text], padding=True), r"text_pair\[1\]")
    check(lambda: tok.encode(text), "text")
    check(lambda: tok.encode("fine", text), "text_pair")
    check(lambda: tok.tokenize(text), "text")
    check(lambda: tok.preprocess_text(text), "text")
    check(lambda: tok.encode_multiple_choice(text, ["a", "b"]), r"contexts\[0\]")
    check(lambda: tok.encode_multiple_choice(["c"], [["a", text]]), r"choices\[0\]\[1\]")


def test_unencodable_text_message(tok):
    with pytest.raises(TokenizerError) as caught:
        tok(["x", "abc\ud83d\ude00def"])
    message = str(caught.value)
    assert message.startswith("text[1] has a character that cannot be encoded as UTF-8 at index 3: '\\ud83d' "
                              "(U+D83D, a surrogate code point; 2 in a row), near 'abc\\ud83d\\ude00def'.")
    assert ".encode('utf-16', 'surrogatepass').decode('utf-16')" in message  # joins the pair into 😀
    fixed = "abc\ud83d\ude00def".encode("utf-16", "surrogatepass").decode("utf-16")
    assert fixed == "abc😀def" and tok.encode(fixed) == tok.encode("abc😀def")
    assert isinstance(caught.value, ValueError) and caught.value.__cause__ is None


def test_text_over_the_length_limit(tok):
    """One text of more than MAX_TEXT_CHARS characters is refused before SentencePiece allocates for it; at the
    limit it encodes."""
    from albert_core.tokenizer.arguments import MAX_TEXT_CHARS

    words = ("word " * (MAX_TEXT_CHARS // 5 + 1))[: MAX_TEXT_CHARS + 1]
    with pytest.raises(TokenizerError, match=r"text\[1\] has 10,000,001 characters, more than the 10,000,000 one "
                                             r"text may have .*split it into documents"):
        tok(["fine", words])
    with pytest.raises(TokenizerError, match="10,000,001 characters"):
        tok.encode(words)
    assert len(tok.encode(words[:-1], add_special_tokens=False)) == MAX_TEXT_CHARS // 5


def test_valid_code_points_keep_working(tok):
    """NUL, controls, noncharacters, private use and the last code point are valid Unicode: encoded as before."""
    sp = spm.SentencePieceProcessor(model_file=str(OFFICIAL_MODEL))
    texts = ["a\x00b", "\x00", "tab\there\x7f", "x\ufffey\uffff", "\ue000 private", "\U0010ffff end", "\ufeffBOM",
             "é\x00日本"]
    batch = tok(texts, add_special_tokens=False, return_tensors=None)["input_ids"]
    for text, ids in zip(texts, batch, strict=True):
        assert ids == reference_ids(sp, text) == tok.encode(text, add_special_tokens=False), repr(text)
        assert tok.convert_tokens_to_ids(tok.tokenize(text)) == ids
    encoded = tok("a\x00b", return_offsets_mapping=True, return_tensors=None)
    assert tok.tokenize("a\x00b") == ["\u2581a", "\x00", "b"]  # NUL is its own (unknown) piece, at its place
    assert [list(span) for span in encoded["offset_mapping"]] == [[0, 0], [0, 1], [1, 2], [2, 3], [0, 0]]


def test_code_point_check_is_cheap(tok):
    """The check is one C-speed pass (str.isascii, else str.encode); far below the cost of tokenizing."""
    from albert_core.tokenizer.arguments import check_text

    texts = real_sentences() * 20 + varied_texts(4000, seed=5)

    def seconds(function) -> float:
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            function()
            best = min(best, time.perf_counter() - start)
        return best

    check = seconds(lambda: [check_text("text", t) for t in texts])
    encode = seconds(lambda: tok(texts, return_tensors=None))
    assert check < 0.1 * encode, (check, encode)

