"""Property-based tests (hypothesis) of the `config.json` reader (`AlbertConfig.from_json_file` / `from_dict`)
and writer (`to_json_file`).

The property: either the config loads, validates, and writing it and reading that back gives an equal config (the
remote-code keys `INERT_KEYS` aside, which are read as data and never written), or a `ConfigError` naming the file
is raised; never another exception, a hang or memory far beyond the file's size. The inputs: every field given
values of wrong types, out of range, NaN/Inf, huge ints, unknown keys, nested junk; non-object JSON and invalid
bytes. The inputs that escaped the first release's reader are pinned as plain tests at the end.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from fuzzing import (
    BIG_INTS,
    FINITE_JSON,
    JSON_ANY,
    PLAIN_JSON,
    RAW_TOKENS,
    assert_names,
    bounded_memory,
    dumps,
    example_dir,
    outcome,
)
from hypothesis import event, given, settings
from hypothesis import strategies as st

import albert_core
from albert_core import AlbertConfig, Checkpoint, ConfigError, init_params
from albert_core.config import (
    ACTIVATIONS,
    INERT_KEYS,
    LEGACY_KEYS,
    MAX_LAYER_PASSES,
    MAX_NUM_LABELS,
    POSITION_EMBEDDING_TYPES,
    PROBLEM_TYPES,
)

FIELDS = [f.name for f in dataclasses.fields(AlbertConfig) if f.name != "extra"]
# Keys whose default keeps any valid config valid, so a config may leave them out.
OPTIONAL = ["embedding_size", "intermediate_size", "hidden_act", "hidden_dropout_prob",
            "attention_probs_dropout_prob", "max_position_embeddings", "type_vocab_size", "initializer_range",
            "layer_norm_eps", "classifier_dropout_prob", "position_embedding_type", "pad_token_id", "bos_token_id",
            "eos_token_id", "problem_type", "id2label"]
PROBABILITIES = st.floats(0, 1) | st.sampled_from([0, 1])
POSITIVE = st.floats(min_value=0, exclude_min=True, allow_infinity=False) | st.integers(1, 10**30)
UNKNOWN_KEYS = st.text(max_size=8).filter(lambda k: k not in FIELDS and k not in LEGACY_KEYS)


@st.composite
def valid_config_dicts(draw) -> dict:
    heads, groups, per_group = draw(st.integers(1, 8)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    vocab = draw(st.integers(1, 50_000))
    token_ids = st.none() | st.integers(-(2**40), 2**40)
    data = {
        "vocab_size": vocab, "embedding_size": draw(st.integers(1, 64)),
        "hidden_size": heads * draw(st.integers(1, 16)), "num_attention_heads": heads,
        "num_hidden_layers": groups * per_group, "num_hidden_groups": groups,
        "inner_group_num": draw(st.integers(1, per_group)), "intermediate_size": draw(st.integers(1, 128)),
        "hidden_act": draw(st.sampled_from(ACTIVATIONS)), "hidden_dropout_prob": draw(PROBABILITIES),
        "attention_probs_dropout_prob": draw(PROBABILITIES), "max_position_embeddings": draw(st.integers(1, 4096)),
        "type_vocab_size": draw(st.integers(1, 4)), "initializer_range": draw(POSITIVE),
        "layer_norm_eps": draw(POSITIVE), "classifier_dropout_prob": draw(st.none() | PROBABILITIES),
        "position_embedding_type": draw(st.sampled_from(POSITION_EMBEDDING_TYPES)),
        "pad_token_id": draw(st.none() | st.integers(0, vocab - 1)), "bos_token_id": draw(token_ids),
        "eos_token_id": draw(token_ids), "problem_type": draw(st.sampled_from(PROBLEM_TYPES)),
        "id2label": {str(i): label for i, label in enumerate(draw(st.lists(st.text(max_size=6), min_size=1,
                                                                              max_size=5)))},
    }
    for key in draw(st.lists(st.sampled_from(OPTIONAL), unique=True)):
        del data[key]
    if "id2label" not in data and draw(st.booleans()):
        data["num_labels"] = draw(st.integers(1, 8))
    if draw(st.booleans()):
        data.update({"model_type": "albert", "architectures": ["AlbertForMaskedLM"], "transformers_version": "4.57"})
    data.update(draw(st.dictionaries(UNKNOWN_KEYS | st.sampled_from(sorted(INERT_KEYS)), FINITE_JSON, max_size=3)))
    return data


def without_inert(cfg: AlbertConfig) -> AlbertConfig:
    return dataclasses.replace(cfg, extra={k: v for k, v in cfg.extra.items() if k not in INERT_KEYS})


def same(a: AlbertConfig, b: AlbertConfig) -> bool:
    """Equal configs; NaN in an unknown key (json reads and writes NaN, as HF does) counts as equal to itself."""
    return a == b or json.dumps(a.to_dict(), sort_keys=True) == json.dumps(b.to_dict(), sort_keys=True)


def check_round_trip(cfg: AlbertConfig, out: Path) -> None:
    cfg.validate()
    cfg.to_json_file(out)
    assert not INERT_KEYS & set(json.loads(out.read_text("utf-8")))
    assert same(AlbertConfig.from_json_file(out), without_inert(cfg))
    assert same(AlbertConfig.from_dict(cfg.to_dict()), without_inert(cfg))


# num_labels alone names up to MAX_NUM_LABELS labels: a bounded cost, whatever the file's size
_LABELS_ALLOWANCE = 320 * MAX_NUM_LABELS


def check_config_file(path: Path) -> AlbertConfig | None:
    """The property for one config.json; the config when it loaded."""
    with bounded_memory(path.stat().st_size + _LABELS_ALLOWANCE // 64, factor=64):
        try:
            cfg = AlbertConfig.from_json_file(path)
        except ConfigError as exc:
            assert_names(exc, path)
            event(outcome(exc))
            return None
    event("loaded")
    check_round_trip(cfg, path.with_name("again.json"))
    return cfg


@given(data=valid_config_dicts())
def test_valid_config_round_trips(scratch, data):
    with example_dir(scratch) as d:
        path = Path(d) / "config.json"
        path.write_text(json.dumps(data), "utf-8")
        cfg = AlbertConfig.from_json_file(path)  # a valid config must load
        for key, value in data.items():
            if key in FIELDS and key not in ("id2label", "num_labels"):
                assert getattr(cfg, key) == value and type(getattr(cfg, key)) is type(value), key
        assert cfg.id2label == {int(k): v for k, v in data.get("id2label", {}).items()} or "id2label" not in data
        check_round_trip(cfg, Path(d) / "again.json")


ODD_VALUES = st.sampled_from(
    [0, -1, 1e308, -0.0, 5e-324, float("nan"), float("inf"), float("-inf"), True,
     False, None, "", "12", "gelu", [], {}, [1], {"0": "a"}, {"0": ["x"]}, {"a": 1.5}, {"a": "1"}, {"1": "b"},
     10**9, 10**18, 2**62, 100_001])
JUNK = JSON_ANY | RAW_TOKENS | ODD_VALUES | BIG_INTS


@given(data=valid_config_dicts(),
       junk=st.dictionaries(st.sampled_from(FIELDS + ["model_type", "extra"]) | UNKNOWN_KEYS, JUNK,
                            min_size=1, max_size=3))
def test_config_fields_with_junk(scratch, data, junk):
    with example_dir(scratch) as d:
        path = Path(d) / "config.json"
        path.write_text(dumps({**data, **junk}), "utf-8")
        check_config_file(path)


@given(blob=st.binary(max_size=200) | JSON_ANY.map(lambda v: dumps(v).encode())
       | st.tuples(valid_config_dicts(), st.integers(0, 10**6), st.binary(max_size=4)).map(
           lambda t: (lambda raw: raw[:t[1] % (len(raw) + 1)] + t[2] + raw[t[1] % (len(raw) + 1):])(
               json.dumps(t[0]).encode())))
def test_config_bytes(scratch, blob):
    """Any bytes: invalid UTF-8, invalid JSON, JSON that is not an object, deep nesting, a valid config with bytes
    spliced in."""
    with example_dir(scratch) as d:
        path = Path(d) / "config.json"
        path.write_bytes(blob)
        cfg = check_config_file(path)
        if cfg is not None:
            assert isinstance(json.loads(blob), dict)


@given(data=st.dictionaries(st.sampled_from(FIELDS) | UNKNOWN_KEYS, PLAIN_JSON | ODD_VALUES,
                            max_size=4) | PLAIN_JSON)
def test_from_dict_with_junk(scratch, data):
    """from_dict on any JSON-like value: a ConfigError (whose message names a key or the value) or a valid config."""
    with bounded_memory(len(repr(data)) + _LABELS_ALLOWANCE // 64, factor=64):
        try:
            cfg = AlbertConfig.from_dict(data)
        except ConfigError as exc:
            assert str(exc)
            event(outcome(exc))
            return
    event("loaded")
    with example_dir(scratch) as d:
        check_round_trip(cfg, Path(d) / "again.json")




ESCAPED_CONFIGS = {  # name -> config.json text; each raised something other than ConfigError, or hung
    "id2label an int (AttributeError)": '{"id2label": 9223372036854775808}',
    "label2id value Infinity (OverflowError)": '{"label2id": {"a": Infinity}}',
    "layer_norm_eps 10**400 (OverflowError)": '{"layer_norm_eps": 1' + "0" * 400 + "}",
    "a 5000-digit integer (ValueError)": '{"x": ' + "9" * 5000 + "}",
    "100 000 nested lists (RecursionError)": '{"x": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "num_labels 10**8 (hangs building 10**8 label names)": '{"num_labels": 100000000}',
    "900 nested lists (loads, but writing it back fails)": '{"x": ' + "[" * 900 + "]" * 900 + "}",
    "null, message without the file": "null",
}


@pytest.mark.parametrize("name", sorted(ESCAPED_CONFIGS))
def test_configs_that_escaped_before(tmp_path, name):
    path = tmp_path / "config.json"
    path.write_text(ESCAPED_CONFIGS[name], "utf-8")
    with pytest.raises(ConfigError) as info:
        AlbertConfig.from_json_file(path)
    assert_names(info.value, path)


# --- work: a config the reader accepts costs a bounded forward ---------------------------------------------------
# One forward of 4 tokens on the NumPy backend, with the weights the config implies (tiny shapes: the fields drawn
# are those that change work but not, or barely, the weights' size). The bound it checks is MAX_LAYER_PASSES layers
# of a tiny model, about 0.1 s measured; 10 s fails only on a lost bound (10**6 layers took minutes), not on a
# loaded machine.
FORWARD_SECONDS = 10.0
_TINY = dict(vocab_size=40, embedding_size=8, hidden_size=8, num_attention_heads=2, intermediate_size=8)
LAYER_COUNTS = st.integers(1, 32) | st.integers(1, 2 * MAX_LAYER_PASSES) | st.integers(1, 2**70) | st.sampled_from(
    [MAX_LAYER_PASSES, MAX_LAYER_PASSES + 1, 10**6, 2**31, 2**63])


@st.composite
def work_fields(draw) -> dict:
    return {"num_hidden_layers": draw(LAYER_COUNTS), "num_hidden_groups": draw(st.integers(1, 4)),
            "inner_group_num": draw(st.just(1) | st.integers(1, 8) | st.integers(1, 2**40)),
            "max_position_embeddings": draw(st.integers(4, 512)),
            "position_embedding_type": draw(st.sampled_from(POSITION_EMBEDDING_TYPES)),
            "hidden_act": draw(st.sampled_from(ACTIVATIONS)), "type_vocab_size": draw(st.integers(1, 4))}


@settings(max_examples=2000 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 60)
@given(fields=work_fields())
def test_an_accepted_config_runs_one_forward_in_bounded_time(fields):
    try:
        config = AlbertConfig.from_dict({**_TINY, **fields})
    except ConfigError as exc:
        event(outcome(exc))
        return
    passes = config.layer_passes
    event(f"ran {'1-63' if passes < 64 else '64-255' if passes < MAX_LAYER_PASSES else 'the most'} layer passes")
    start = time.perf_counter()
    model = albert_core.load(Checkpoint(config, init_params(config, "base", seed=0)), backend="numpy")
    out = model(np.array([[2, 7, 9, 3]]), token_type_ids=np.array([[0, 0, 1, 1]]) % config.type_vocab_size)
    elapsed = time.perf_counter() - start
    assert np.isfinite(out.last_hidden_state).all()
    assert passes <= MAX_LAYER_PASSES
    assert elapsed < FORWARD_SECONDS, f"{passes} layer passes took {elapsed:.1f} s"
