"""AlbertTokenizer's HF helper methods and tokenizer folders against HF's slow AND fast AlbertTokenizer, on the
official ALBERT vocabulary (nox ``parity`` session, transformers<5).

Where HF slow and fast disagree with each other, each test says which one this project follows and why. In short:
ids of text follow HF slow (the reference rules; see docs/tokenizer.md), ``get_special_tokens_mask`` follows HF slow
(HF fast cannot compute it for ids without special tokens and asserts), and folders are read as HF slow reads the
folder HF slow itself writes.
"""

from __future__ import annotations

import json

import pytest
import transformers
from conftest import SPIECE_MODEL as MODEL
from helpers import varied_texts
from test_tokenizer_methods import real_sentences
from test_tokenizer_parity import HAND_PICKED

from albert_core.errors import TokenizerError
from albert_core.tokenizer import AlbertTokenizer

transformers.logging.set_verbosity_error()

TEXTS = HAND_PICKED + real_sentences(200) + varied_texts(300, seed=21)
OPTIONS = [
    {},
    {"keep_accents": True},
    {"do_lower_case": False},
    {"remove_space": False, "model_max_length": 128},
]
OPTION_NAMES = ("do_lower_case", "remove_space", "keep_accents", "model_max_length")


def _ids(tokenizer, texts) -> list[list[int]]:
    return tokenizer(list(texts), add_special_tokens=True)["input_ids"]


def _our_ids(tokenizer: AlbertTokenizer, texts) -> list[list[int]]:
    return tokenizer(list(texts), return_tensors=None)["input_ids"]


# ------------------------------------------------------------------------------------------------ id helpers
def test_id_helpers_match_hf_slow_and_fast(ours, hf_slow, hf_fast):
    pieces = [ours.encode(t, add_special_tokens=False) for t in TEXTS]
    assert pieces[:100] == [hf_slow.encode(t, add_special_tokens=False) for t in TEXTS[:100]]
    for a, b in zip(pieces[::2], pieces[1::2]):
        for hf in (hf_slow, hf_fast):  # HF slow and fast agree on these two
            assert ours.build_inputs_with_special_tokens(a) == hf.build_inputs_with_special_tokens(a)
            assert ours.build_inputs_with_special_tokens(a, b) == hf.build_inputs_with_special_tokens(a, b)
            assert ours.create_token_type_ids_from_sequences(a) == hf.create_token_type_ids_from_sequences(a)
            assert ours.create_token_type_ids_from_sequences(a, b) == hf.create_token_type_ids_from_sequences(a, b)
            built = hf.build_inputs_with_special_tokens(a, b)
            assert ours.get_special_tokens_mask(built, already_has_special_tokens=True) == hf.get_special_tokens_mask(
                built, already_has_special_tokens=True
            )
        # HF slow (ALBERT's own method) answers for ids without special tokens; HF fast only asserts that
        # already_has_special_tokens=True. We follow HF slow: it is the method ALBERT defines.
        assert ours.get_special_tokens_mask(a) == hf_slow.get_special_tokens_mask(a)
        assert ours.get_special_tokens_mask(a, b) == hf_slow.get_special_tokens_mask(a, b)
    with pytest.raises(AssertionError, match="already_has_special_tokens=False"):
        hf_fast.get_special_tokens_mask(pieces[0])
    # A second sequence with already_has_special_tokens=True: HF slow raises ValueError, HF fast AssertionError;
    # ours raises TokenizerError, a ValueError as HF slow's.
    with pytest.raises(ValueError, match="second sequence"):
        hf_slow.get_special_tokens_mask([2, 3], [5], already_has_special_tokens=True)
    with pytest.raises(AssertionError):
        hf_fast.get_special_tokens_mask([2, 3], [5], already_has_special_tokens=True)
    with pytest.raises(TokenizerError, match="token_ids_1 must be None") as caught:
        ours.get_special_tokens_mask([2, 3], [5], already_has_special_tokens=True)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("tokens", [{}, {"bos_token": "[MASK]", "eos_token": "<pad>"}])
def test_special_tokens_match_hf_slow_and_fast(tokens):
    ours = AlbertTokenizer(MODEL, **tokens)
    for hf in (transformers.AlbertTokenizer(vocab_file=str(MODEL), **tokens),
               transformers.AlbertTokenizerFast(vocab_file=str(MODEL), **tokens)):
        assert ours.special_tokens_map == {k: str(v) for k, v in hf.special_tokens_map.items()}
        for role in ours.special_tokens_map:
            assert (getattr(ours, role), getattr(ours, f"{role}_id")) == (
                str(getattr(hf, role)), getattr(hf, f"{role}_id")), role
        assert ours.all_special_ids == sorted(set(hf.all_special_ids))


def test_save_vocabulary_matches_hf_slow_and_fast(tmp_path, ours, hf_slow, hf_fast):
    for prefix in (None, "albert", ""):
        written = {}
        for name, tokenizer in (("ours", ours), ("slow", hf_slow), ("fast", hf_fast)):
            folder = tmp_path / f"{name}-{prefix}"
            folder.mkdir()
            (path,) = tokenizer.save_vocabulary(str(folder), filename_prefix=prefix)
            assert path.startswith(str(folder))
            written[name] = (path[len(str(folder)):], open(path, "rb").read())
        assert written["ours"] == written["slow"] == written["fast"], prefix
    # A folder that does not exist: HF slow and fast log an error and return None; we raise.
    assert hf_slow.save_vocabulary(str(tmp_path / "missing")) is None
    assert hf_fast.save_vocabulary(str(tmp_path / "missing")) is None
    with pytest.raises(TokenizerError, match="not an existing folder"):
        ours.save_vocabulary(str(tmp_path / "missing"))


# ------------------------------------------------------------------------------------------------ our folders in HF
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "defaults")
def test_folder_saved_by_us_loads_in_hf_slow_and_fast(tmp_path, options):
    """HF reads our folder exactly as it reads the folder HF itself saves for the same tokenizer.

    HF slow gives our ids on every text. HF fast gives HF fast's own ids (the same as from the folder it saves),
    which differ from HF slow's on some texts; this project follows HF slow there (the reference)."""
    ours = AlbertTokenizer(MODEL, **options)
    ours.save_pretrained(tmp_path / "ours")
    hf_options = {"model_max_length": ours.model_max_length, **options}
    transformers.AlbertTokenizer(vocab_file=str(MODEL), **hf_options).save_pretrained(tmp_path / "hf-slow")
    transformers.AlbertTokenizerFast(vocab_file=str(MODEL), **hf_options).save_pretrained(tmp_path / "hf-fast")
    ours_ids = _our_ids(ours, TEXTS)
    for use_fast in (False, True):
        loaded = transformers.AutoTokenizer.from_pretrained(tmp_path / "ours", use_fast=use_fast)
        own = transformers.AutoTokenizer.from_pretrained(tmp_path / ("hf-fast" if use_fast else "hf-slow"),
                                                         use_fast=use_fast)
        assert type(loaded) is (transformers.AlbertTokenizerFast if use_fast else transformers.AlbertTokenizer)
        assert {k: getattr(loaded, k) for k in OPTION_NAMES} == {k: getattr(ours, k) for k in OPTION_NAMES}
        assert {k: str(v) for k, v in loaded.special_tokens_map.items()} == ours.special_tokens_map
        assert loaded.special_tokens_map_extended == own.special_tokens_map_extended  # [MASK]: lstrip=True
        assert loaded.added_tokens_decoder == own.added_tokens_decoder
        mask = loaded.added_tokens_decoder[ours.mask_token_id]
        assert (mask.content, mask.lstrip, mask.rstrip, mask.normalized, mask.special) == ("[MASK]", True, False,
                                                                                          False, True)
        assert loaded.clean_up_tokenization_spaces is own.clean_up_tokenization_spaces is False
        loaded_ids = _ids(loaded, TEXTS)
        assert loaded_ids == _ids(own, TEXTS)
        if not use_fast:
            assert loaded_ids == ours_ids
        else:
            differing = sum(a != b for a, b in zip(loaded_ids, ours_ids, strict=True))
            assert 0 < differing < len(TEXTS)  # HF fast's own disagreement with the reference, not the folder's
        pair = loaded(TEXTS[:40], TEXTS[40:80], padding=True, return_special_tokens_mask=True)
        if not use_fast:
            got = ours(TEXTS[:40], TEXTS[40:80], padding=True, return_special_tokens_mask=True, return_tensors=None)
            assert {k: got[k] for k in pair} == dict(pair)


def test_our_config_is_a_subset_of_hfs(tmp_path):
    AlbertTokenizer(MODEL, keep_accents=True).save_pretrained(tmp_path / "ours")
    transformers.AlbertTokenizer(vocab_file=str(MODEL), keep_accents=True, model_max_length=512).save_pretrained(
        tmp_path / "hf")
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        mine = json.loads((tmp_path / "ours" / name).read_text(encoding="utf-8"))
        theirs = json.loads((tmp_path / "hf" / name).read_text(encoding="utf-8"))
        assert mine == {k: theirs[k] for k in mine}, name
    assert (tmp_path / "ours/spiece.model").read_bytes() == (tmp_path / "hf/spiece.model").read_bytes()


# ------------------------------------------------------------------------------------------------ HF folders in ours
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "defaults")
@pytest.mark.parametrize("saver", ["slow", "fast"])
def test_folder_saved_by_hf_loads_in_ours(tmp_path, options, saver):
    """Options, special tokens and ids of a folder HF slow or fast saved are read back as HF slow reads its own.

    A folder saved by HF *fast* lists SentencePiece's user-defined pieces (`(`, `)`, `"`, `-`, `.`, `–`, `£`, `€`)
    as added tokens; HF slow reading that folder then cuts them out of the text first and gives other ids than the
    reference (`a(b)c`), HF fast ignores them. We follow the reference (HF slow built from spiece.model, or from the
    folder HF slow saves): those entries are the model's own pieces and change nothing."""
    hf_class = transformers.AlbertTokenizerFast if saver == "fast" else transformers.AlbertTokenizer
    hf_options = {"model_max_length": 96, **options}
    hf_class(vocab_file=str(MODEL), **hf_options).save_pretrained(tmp_path)
    ours = AlbertTokenizer.from_pretrained(tmp_path)
    reference = transformers.AlbertTokenizer(vocab_file=str(MODEL), **hf_options)
    assert {k: getattr(ours, k) for k in OPTION_NAMES} == {k: getattr(reference, k) for k in OPTION_NAMES}
    assert ours.special_tokens_map == {k: str(v) for k, v in reference.special_tokens_map.items()}
    ours_ids = _our_ids(ours, TEXTS)
    assert ours_ids == _ids(reference, TEXTS)
    if saver == "slow":
        assert ours_ids == _ids(transformers.AutoTokenizer.from_pretrained(tmp_path, use_fast=False), TEXTS)
    else:
        slow_from_fast_folder = transformers.AutoTokenizer.from_pretrained(tmp_path, use_fast=False)
        assert slow_from_fast_folder("a(b)c")["input_ids"] != reference("a(b)c")["input_ids"]  # HF's inconsistency
        assert ours.encode("a(b)c") == reference("a(b)c")["input_ids"]


def test_legacy_hf_folder_reads_special_tokens_map(tmp_path):
    """Without added_tokens_decoder (older HF), HF takes the special tokens from special_tokens_map.json; so do we."""
    transformers.AlbertTokenizer(vocab_file=str(MODEL), bos_token="[SEP]", eos_token="[CLS]").save_pretrained(tmp_path)
    config_path = tmp_path / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    for key in ("added_tokens_decoder", "bos_token", "eos_token", "mask_token"):
        del config[key]
    config_path.write_text(json.dumps(config), encoding="utf-8")
    assert json.loads((tmp_path / "special_tokens_map.json").read_text())["mask_token"]["lstrip"] is True
    ours = AlbertTokenizer.from_pretrained(tmp_path)
    for use_fast in (False, True):
        hf = transformers.AutoTokenizer.from_pretrained(tmp_path, use_fast=use_fast)
        assert ours.special_tokens_map == {k: str(v) for k, v in hf.special_tokens_map.items()}
        assert (ours.bos_token_id, ours.eos_token_id) == (hf.bos_token_id, hf.eos_token_id) == (3, 2)
    hf_slow = transformers.AutoTokenizer.from_pretrained(tmp_path, use_fast=False)
    assert _our_ids(ours, TEXTS) == _ids(hf_slow, TEXTS)
