"""`AlbertConfig`: HF `config.json` compatible, validated, with the eight official shapes as presets."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from . import tasks
from .atomic_files import write_atomically
from .errors import ConfigError, parse_json, short_repr

ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu", "swish", "tanh")
POSITION_EMBEDDING_TYPES = ("absolute", "relative_key", "relative_key_query")
PROBLEM_TYPES = (None, *tasks.PROBLEM_TYPES)  # None: by HF's rule from num_labels and the labels' dtype

# Keys older ALBERT configs carry that no ALBERT implementation uses; read and dropped silently.
LEGACY_KEYS = frozenset(
    {"down_scale_factor", "gap_size", "net_structure_type", "num_memory_blocks", "layers_to_keep",
     "architectures", "model_type", "transformers_version", "torch_dtype", "dtype", "output_past",
     "_name_or_path", "tie_word_embeddings", "use_cache", "is_decoder", "return_dict",
     "output_hidden_states", "output_attentions", "finetuning_task", "tokenizer_class", "prefix"}
)
# Keys that would make another library execute code; we read them as data and never act on them.
INERT_KEYS = frozenset({"auto_map", "trust_remote_code", "custom_pipelines"})

_INT_FIELDS = (
    "vocab_size", "embedding_size", "hidden_size", "num_hidden_layers", "num_hidden_groups",
    "num_attention_heads", "intermediate_size", "inner_group_num", "max_position_embeddings",
    "type_vocab_size",
)
_DROPOUT_FIELDS = ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout_prob")
# `num_labels` alone makes LABEL_0..LABEL_{n-1} (about 300 bytes a label); more than this takes an explicit id2label,
# so a 20-byte config.json cannot ask for gigabytes.
MAX_NUM_LABELS = 100_000

# Real configs nest a few levels (task_specific_params: 3). Past Python's recursion limit json cannot read a file at
# all, and just under it whether json can read (or write) it depends on how deep the caller's stack is: a fixed
# bound keeps "loads" a property of the file.
MAX_JSON_DEPTH = 64

# ALBERT shares its layers, so `num_hidden_layers` (and `inner_group_num`, the layers a group runs at each of them)
# changes no weight shape: a file's weights cannot bound the layer passes a forward makes. The largest released model
# makes 24; a config that asks for more than this is refused unless its caller allows it (`allow_layer_passes`).
MAX_LAYER_PASSES = 256
_LAYER_PASS_LIMIT: ContextVar[int] = ContextVar("albert_layer_pass_limit", default=MAX_LAYER_PASSES)


@contextlib.contextmanager
def allow_layer_passes(limit: int) -> Iterator[None]:
    """Within the block, configs may make up to `limit` layer passes a forward (`num_hidden_layers` x
    `inner_group_num`) instead of `MAX_LAYER_PASSES`: for a model that deep on purpose, never on a file's say.

    >>> with albert_core.allow_layer_passes(1024):
    ...     model = albert_core.load("my-deep-albert", backend="torch")
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigError(f"allow_layer_passes(limit) takes an int >= 1, got {short_repr(limit)}")
    token = _LAYER_PASS_LIMIT.set(limit)
    try:
        yield
    finally:
        _LAYER_PASS_LIMIT.reset(token)


def _nests_deeper(value: Any, limit: int) -> bool:
    """Whether `value` has lists/objects nested more than `limit` levels (iterative: no recursion of its own)."""
    stack = [(value, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > limit:
                return True
            stack.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
    return False


def _finite(value: int | float) -> bool:
    """A finite float, or an int that converts to one (the backends compute in floats)."""
    try:
        return math.isfinite(value)
    except OverflowError:  # an int past the float range
        return False


@dataclass
class AlbertConfig:
    """Hyper-parameters of an ALBERT model; field names and defaults are HF `AlbertConfig`'s."""

    vocab_size: int = 30000
    embedding_size: int = 128
    hidden_size: int = 4096
    num_hidden_layers: int = 12
    num_hidden_groups: int = 1
    num_attention_heads: int = 64
    intermediate_size: int = 16384
    inner_group_num: int = 1
    hidden_act: str = "gelu_new"
    hidden_dropout_prob: float = 0.0
    attention_probs_dropout_prob: float = 0.0
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    classifier_dropout_prob: float | None = 0.1
    position_embedding_type: str = "absolute"
    pad_token_id: int | None = 0
    bos_token_id: int | None = 2
    eos_token_id: int | None = 3
    id2label: dict[int, str] = field(default_factory=lambda: {0: "LABEL_0", 1: "LABEL_1"})
    label2id: dict[str, int] = field(default_factory=lambda: {"LABEL_0": 0, "LABEL_1": 1})
    problem_type: str | None = None
    num_labels: int | None = None  # like HF: given alone, it names the labels LABEL_0..LABEL_{n-1}
    extra: dict[str, Any] = field(default_factory=dict, repr=False)  # unknown keys, kept for round trips

    def __post_init__(self) -> None:
        for name, what in (("id2label", "label index -> name"), ("label2id", "label name -> index")):
            if not isinstance(getattr(self, name), dict):
                raise ConfigError(f"{name} must be an object ({what}), got {short_repr(getattr(self, name))}")
        try:
            self.id2label = {int(k): str(v) for k, v in self.id2label.items()}
        except (TypeError, ValueError, ArithmeticError):
            raise ConfigError(f"id2label keys must be label indices 0..num_labels-1, got "
                              f"{short_repr(list(self.id2label))}") from None
        try:
            self.label2id = {str(k): int(v) for k, v in self.label2id.items()}
        except (TypeError, ValueError, ArithmeticError):
            raise ConfigError(f"label2id values must be label indices, got {short_repr(list(self.label2id.values()))}"
                              ) from None
        n = self.num_labels
        if n is not None and n != len(self.id2label):
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ConfigError(f"num_labels must be an int >= 1, got {short_repr(n)}")
            if n > MAX_NUM_LABELS:
                raise ConfigError(f"num_labels={short_repr(n)} is more than {MAX_NUM_LABELS} labels to name LABEL_0, "
                                  "LABEL_1...; give id2label (label index -> name) for that many")
            if self.id2label != {i: f"LABEL_{i}" for i in range(len(self.id2label))}:
                raise ConfigError(f"num_labels={n} disagrees with id2label ({len(self.id2label)} labels); "
                                  "pass only one of them")
            self.id2label = {i: f"LABEL_{i}" for i in range(n)}
            self.label2id = {f"LABEL_{i}": i for i in range(n)}
        self.num_labels = len(self.id2label)
        self.validate()

    # -- derived ---------------------------------------------------------------------------------

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def layers_per_group(self) -> int:
        return self.num_hidden_layers // self.num_hidden_groups

    @property
    def layer_passes(self) -> int:
        """Layers a forward runs: each of the `num_hidden_layers` runs its group's `inner_group_num` layers."""
        return self.num_hidden_layers * self.inner_group_num

    def with_labels(self, labels: int | list[str]) -> AlbertConfig:
        """A copy with `num_labels` labels (a count gives HF's `LABEL_i` names)."""
        names = [f"LABEL_{i}" for i in range(labels)] if isinstance(labels, int) else list(labels)
        if not names:
            raise ConfigError("num_labels must be >= 1; got 0 labels")
        return dataclasses.replace(self, id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)},
                                   num_labels=len(names))

    # -- validation ------------------------------------------------------------------------------
    def validate(self) -> None:
        for name in _INT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{name} must be an int (not a bool), got {short_repr(value)}; fix config.json")
            if value < 1:
                raise ConfigError(f"{name} must be >= 1, got {short_repr(value)}")
        limit = _LAYER_PASS_LIMIT.get()
        if self.layer_passes > limit:
            raise ConfigError(
                f"num_hidden_layers={short_repr(self.num_hidden_layers)} x inner_group_num="
                f"{short_repr(self.inner_group_num)} is {short_repr(self.layer_passes)} layer passes a forward, more "
                f"than the {limit} allowed (the largest released ALBERT makes 24, and shared layers leave the weights "
                "no say in it); fix config.json, or, for a model that deep on purpose, load it within "
                f"`with albert_core.allow_layer_passes(N):`"
            )
        for name in _DROPOUT_FIELDS:
            value = getattr(self, name)
            if value is None and name == "classifier_dropout_prob":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be a number in [0, 1], got {short_repr(value)}")
        for name in ("layer_norm_eps", "initializer_range"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or not _finite(value):
                raise ConfigError(f"{name} must be a finite number > 0, got {short_repr(value)}")
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads}); choose a head count that divides it"
            )
        if self.num_hidden_layers % self.num_hidden_groups:
            raise ConfigError(
                f"num_hidden_layers ({self.num_hidden_layers}) must be divisible by num_hidden_groups "
                f"({self.num_hidden_groups})"
            )
        if self.inner_group_num > self.layers_per_group:
            # HF indexes the head mask of a group by inner layer, so it cannot run this shape either.
            raise ConfigError(
                f"inner_group_num ({self.inner_group_num}) must be <= num_hidden_layers / num_hidden_groups "
                f"({self.layers_per_group})"
            )
        for name, allowed in (("hidden_act", ACTIVATIONS), ("position_embedding_type", POSITION_EMBEDDING_TYPES),
                              ("problem_type", PROBLEM_TYPES)):
            value = getattr(self, name)
            if value not in allowed:
                raise ConfigError(f"{name} {short_repr(value)} is not supported; use one of {allowed}")
        if sorted(self.id2label) != list(range(len(self.id2label))) or not self.id2label:
            raise ConfigError(f"id2label keys must be 0..num_labels-1, got {short_repr(sorted(self.id2label))}")
        for name in ("pad_token_id", "bos_token_id", "eos_token_id"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ConfigError(f"{name} must be an int or null, got {short_repr(value)}")
        if self.pad_token_id is not None and not 0 <= self.pad_token_id < self.vocab_size:
            raise ConfigError(f"pad_token_id {short_repr(self.pad_token_id)} must be in "
                              f"[0, vocab_size={short_repr(self.vocab_size)}) or null")

    # -- (de)serialisation -----------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlbertConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"config must be a JSON object, got {type(data).__name__}")
        if _nests_deeper(data, MAX_JSON_DEPTH):
            raise ConfigError(f"config nests lists/objects more than {MAX_JSON_DEPTH} levels deep; no ALBERT config "
                              "does, remove the junk")
        data = dict(data)
        model_type = data.get("model_type", "albert")
        if not isinstance(model_type, str) or model_type != "albert":
            raise ConfigError(f"model_type is {short_repr(model_type)}; this library only loads model_type 'albert'")
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            if key in names:
                kwargs[key] = value
            elif key not in LEGACY_KEYS:
                extra[key] = value  # includes INERT_KEYS: stored, never executed
        if "id2label" in kwargs:
            kwargs.pop("num_labels", None)  # id2label is authoritative, as in HF
        if "id2label" in kwargs and "label2id" not in kwargs and isinstance(kwargs["id2label"], dict):
            with contextlib.suppress(TypeError, ValueError, ArithmeticError):  # bad keys: __post_init__ says so
                kwargs["label2id"] = {str(v): int(k) for k, v in kwargs["id2label"].items()}
        try:
            return cls(**kwargs, extra=extra)
        except (TypeError, ValueError, AttributeError, ArithmeticError, RecursionError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"invalid config: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("extra", "num_labels")}
        out["id2label"] = {str(k): v for k, v in self.id2label.items()}
        out.update({k: v for k, v in self.extra.items() if k not in INERT_KEYS})
        out["model_type"] = "albert"
        return out

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> AlbertConfig:
        """Read config.json; every problem with it (unreadable, not UTF-8 JSON, an invalid value) is a ConfigError
        whose message starts with the file's name."""
        try:
            name = os.fspath(path)
        except TypeError:
            raise ConfigError(f"config file must be a path (str or os.PathLike), got {short_repr(path)}") from None
        try:
            with open(name, "rb") as fh:
                raw = fh.read()
        except FileNotFoundError:
            raise ConfigError(f"config file {name!r} does not exist") from None
        except (OSError, ValueError) as exc:  # a folder, permissions, a NUL byte in the name
            raise ConfigError(f"config file {name!r} cannot be read ({exc}); check the path") from None
        data, reason = parse_json(raw)
        if reason is None:
            try:
                return cls.from_dict(data)
            except ConfigError as exc:
                raise ConfigError(f"config file {name!r}: {exc}") from None
        raise ConfigError(f"config file {name!r} is not valid JSON: {reason}; fix or re-download it")

    def to_json_file(self, path: str | os.PathLike, architectures: list[str] | None = None) -> None:
        data = self.to_dict()
        if architectures:
            data["architectures"] = architectures
        try:
            text = json.dumps(data, indent=2, sort_keys=True)
        except (TypeError, ValueError, RecursionError) as exc:  # an extra key holding a set, an object, a huge int
            raise ConfigError(f"cannot write config file {os.fspath(path)!r}: a value is not JSON ({exc}); "
                              "keep only JSON values in the config") from None
        write_atomically(path, (text + "\n").encode("utf-8"))

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> AlbertConfig:
        if name not in PRESETS:
            import difflib

            close = difflib.get_close_matches(name, PRESETS, n=3)
            hint = f"; did you mean {close}?" if close else ""
            raise ConfigError(f"unknown preset {name!r}{hint} Presets: {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})


def _preset(hidden: int, layers: int, heads: int, inter: int, version: int) -> dict[str, Any]:
    # Published configs: v1 used exact gelu and 0.1 dropout, v2 the tanh approximation and no dropout.
    dropout = 0.1 if version == 1 else 0.0
    return dict(
        embedding_size=128, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=inter, hidden_act="gelu" if version == 1 else "gelu_new",
        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
    )


PRESETS: dict[str, dict[str, Any]] = {
    f"albert-{size}-v{v}": _preset(*shape, v)
    for size, shape in {
        "base": (768, 12, 12, 3072),
        "large": (1024, 24, 16, 4096),
        "xlarge": (2048, 24, 16, 8192),
        "xxlarge": (4096, 12, 64, 16384),
    }.items()
    for v in (1, 2)
}
