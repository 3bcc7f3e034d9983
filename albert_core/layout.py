"""The canonical weight layout: every parameter of every task, with HF's key names and shapes.

One table, derived from the config, drives loading (which keys must be present, which shapes), saving,
random initialisation and the backends' parameter containers. Tied weights are resolved here: the MLM
decoder reuses `albert.embeddings.word_embeddings.weight` and `predictions.bias`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import AlbertConfig
from .errors import CheckpointError, ConfigError
from .tasks import SPECS, TASKS, task_check, task_spec  # noqa: F401  (TASKS, task_check: re-exported)

# HF class names, used for `architectures` in config.json and in messages.
ARCHITECTURES = {name: spec.hf_class for name, spec in SPECS.items()}
POOLED_TASKS = frozenset(name for name, spec in SPECS.items() if spec.pooled)

# Keys a checkpoint may carry that are not parameters of their own.
IGNORED_KEYS = frozenset({"albert.embeddings.position_ids"})
TIED_ALIASES = {  # tied copies HF may write: alias -> canonical
    "predictions.decoder.weight": "albert.embeddings.word_embeddings.weight",
    "predictions.decoder.bias": "predictions.bias",
}


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: HF key, shape, role (`encoder`, or the head it belongs to) and how to initialise it."""

    name: str
    shape: tuple[int, ...]
    role: str  # "encoder" | "pooler" | "predictions" | "sop" | "classifier" | "qa"
    init: str  # "normal" | "zeros" | "ones"
    group: int | None = None  # layer group whose layers share it, for encoder layer weights
    dense: bool = False  # the [out, in] weight of a dense layer (what `ops.linear` multiplies by)


def _dense(prefix: str, out: int, inp: int, role: str, group: int | None = None) -> list[ParamSpec]:
    return [ParamSpec(f"{prefix}.weight", (out, inp), role, "normal", group, dense=True),
            ParamSpec(f"{prefix}.bias", (out,), role, "zeros", group)]


def _norm(prefix: str, size: int, role: str, group: int | None = None) -> list[ParamSpec]:
    return [ParamSpec(f"{prefix}.weight", (size,), role, "ones", group),
            ParamSpec(f"{prefix}.bias", (size,), role, "zeros", group)]


def layer_prefix(group: int, inner: int) -> str:
    return f"albert.encoder.albert_layer_groups.{group}.albert_layers.{inner}"


def param_table(config: AlbertConfig, task: str) -> list[ParamSpec]:
    """Every parameter the model for `task` owns, in a stable order."""
    c = config
    E, H, I, V = c.embedding_size, c.hidden_size, c.intermediate_size, c.vocab_size
    specs = [
        ParamSpec("albert.embeddings.word_embeddings.weight", (V, E), "encoder", "normal"),
        ParamSpec("albert.embeddings.position_embeddings.weight", (c.max_position_embeddings, E), "encoder",
                  "normal"),
        ParamSpec("albert.embeddings.token_type_embeddings.weight", (c.type_vocab_size, E), "encoder", "normal"),
        *_norm("albert.embeddings.LayerNorm", E, "encoder"),
        *_dense("albert.encoder.embedding_hidden_mapping_in", H, E, "encoder"),
    ]
    for g in range(c.num_hidden_groups):
        for i in range(c.inner_group_num):
            p = layer_prefix(g, i)
            for name in ("query", "key", "value", "dense"):
                specs += _dense(f"{p}.attention.{name}", H, H, "encoder", g)
            specs += _norm(f"{p}.attention.LayerNorm", H, "encoder", g)
            if c.position_embedding_type != "absolute":
                specs.append(ParamSpec(f"{p}.attention.distance_embedding.weight",
                                       (2 * c.max_position_embeddings - 1, c.head_dim), "encoder", "normal", g))
            specs += _dense(f"{p}.ffn", I, H, "encoder", g)
            specs += _dense(f"{p}.ffn_output", H, I, "encoder", g)
            specs += _norm(f"{p}.full_layer_layer_norm", H, "encoder", g)
    roles = task_spec(task).roles
    if "pooler" in roles:
        specs += _dense("albert.pooler", H, H, "pooler")
    if "predictions" in roles:
        specs += _dense("predictions.dense", E, H, "predictions")
        specs += _norm("predictions.LayerNorm", E, "predictions")
        specs.append(ParamSpec("predictions.bias", (V,), "predictions", "zeros"))
    if "sop" in roles:
        specs += _dense("sop_classifier.classifier", c.num_labels, H, "sop")  # HF sizes it by num_labels (2)
    if "classifier" in roles:  # one score per choice for multiple choice
        specs += _dense("classifier", 1 if task_spec(task).choices else c.num_labels, H, "classifier")
    if "qa" in roles:
        specs += _dense("qa_outputs", c.num_labels, H, "qa")
    return specs


# Refused before allocating: 18 times ALBERT xxlarge (235M), 16 GiB of float32. A config past it is a typo
# (hidden_size 10**9) or hostile, and would otherwise exhaust memory inside NumPy's allocator.
MAX_PARAMETERS = 2**32


def check_parameter_count(config: AlbertConfig, specs: Iterable[ParamSpec]) -> int:
    """The number of values in `specs`; a `ConfigError` naming the sizes when it is past `MAX_PARAMETERS`."""
    count = sum(math.prod(spec.shape) for spec in specs)
    if count > MAX_PARAMETERS:
        sizes = ", ".join(f"{k}={getattr(config, k)}" for k in ("vocab_size", "embedding_size", "hidden_size",
                                                               "intermediate_size", "num_hidden_groups",
                                                               "inner_group_num", "max_position_embeddings"))
        raise ConfigError(f"this config describes {count:.3g} parameters ({sizes}), more than the "
                          f"{MAX_PARAMETERS:,} this library allocates (ALBERT's largest, xxlarge, has 235M); check "
                          "those sizes in config.json")
    return count


KERNEL = ".kernel"  # suffix of a dense weight held as an [in, out] kernel (Flax/Keras), HF's `.weight` transposed


def dense_weight_names(config: AlbertConfig, task: str) -> frozenset[str]:
    """Dense-layer weights of `task`: the parameters a backend may hold as `[in, out]` kernels, named
    `kernel_name(name)`, because its matmul is faster that way; every other parameter keeps HF's layout."""
    return frozenset(s.name for s in param_table(config, task) if s.dense)


def kernel_name(name: str) -> str:
    """`'...ffn.weight'` -> `'...ffn.kernel'`: the name that says a tensor is held transposed, as [in, out]."""
    return name.removesuffix(".weight") + KERNEL


def hf_layout(params: Mapping[str, Any], transpose: Callable[[Any], Any]) -> dict[str, Any]:
    """`params` in HF's names and layout: each `*.kernel` transposed (with the framework's `transpose`) back
    to HF's `[out, in]` `*.weight`; everything else as is, in the same order."""
    return {(name.removesuffix(KERNEL) + ".weight" if name.endswith(KERNEL) else name):
            (transpose(value) if name.endswith(KERNEL) else value) for name, value in params.items()}


def all_known_names(config: AlbertConfig) -> set[str]:
    """Names any ALBERT class could have written for this config (any head), plus aliases."""
    names: set[str] = set()
    for task in TASKS:
        names.update(s.name for s in param_table(config, task))
    return names | set(TIED_ALIASES) | IGNORED_KEYS


# Name prefix of each head's parameters -> its role (`ParamSpec.role`).
HEAD_PREFIXES = {"albert.pooler.": "pooler", "predictions.": "predictions", "sop_classifier.": "sop",
                 "classifier.": "classifier", "qa_outputs.": "qa"}


def head_role(name: str) -> str:
    """The role of a canonical parameter name, without a config: a head's, or "encoder"."""
    return next((role for prefix, role in HEAD_PREFIXES.items() if name.startswith(prefix)), "encoder")


def canonical_name(key: str) -> str:
    """Map a key as some HF class wrote it to the canonical name (adds `albert.`, renames gamma/beta)."""
    if key.startswith(("embeddings.", "encoder.", "pooler.")):
        key = "albert." + key  # written by a bare `AlbertModel`
    if key.endswith(".gamma"):
        key = key[: -len("gamma")] + "weight"
    elif key.endswith(".beta"):
        key = key[: -len("beta")] + "bias"
    return key


def init_params(config: AlbertConfig, task: str, seed: int = 0,
                names: Iterable[str] | None = None, dtype: str = "float32") -> dict[str, np.ndarray]:
    """Seeded random parameters (normal(0, initializer_range) weights, zero biases, unit norms), as HF inits.

    With `names`, only those parameters are created (used to initialise missing heads); each draw comes
    from its own stream keyed by name, so a parameter's values do not depend on which others are created.
    """
    wanted = None if names is None else set(names)
    specs = [spec for spec in param_table(config, task) if wanted is None or spec.name in wanted]
    check_parameter_count(config, specs)
    out: dict[str, np.ndarray] = {}
    for spec in specs:
        if spec.init == "normal":
            rng = np.random.default_rng([seed, *spec.name.encode()])
            value = rng.normal(0.0, config.initializer_range, spec.shape)
        else:
            value = np.full(spec.shape, 1.0 if spec.init == "ones" else 0.0)
        out[spec.name] = value.astype(dtype)
    return out


def resolve_weights(
    config: AlbertConfig,
    task: str,
    keys: Iterable[str],
    shapes: Mapping[str, tuple[int, ...]],
    *,
    init_missing_heads: bool = False,
) -> tuple[dict[str, str], list[str], list[str]]:
    """Match checkpoint keys against the table for `task`.

    Returns `(source_of, missing_heads, unused)`: for each canonical name the checkpoint key to read it
    from; the head parameters absent from the checkpoint (to be initialised); known keys of other heads.
    Raises `CheckpointError` listing every unknown key, missing encoder key and shape mismatch at once.
    """
    table = param_table(config, task)
    known = all_known_names(config)
    by_canonical: dict[str, str] = {}
    unknown, unused = [], []
    for key in keys:
        name = canonical_name(key)
        if name in IGNORED_KEYS:
            continue
        if name not in known:
            unknown.append(key)
            continue
        if name in TIED_ALIASES:
            by_canonical.setdefault(TIED_ALIASES[name], key)  # the canonical key wins when both are present
            continue
        by_canonical[name] = key
    needed = {s.name for s in table}
    unused = sorted(k for n, k in by_canonical.items() if n not in needed)
    source_of = {s.name: by_canonical[s.name] for s in table if s.name in by_canonical}
    missing = [s for s in table if s.name not in source_of]
    missing_encoder = [s.name for s in missing if s.role == "encoder"]
    missing_heads = [s.name for s in missing if s.role != "encoder"]
    mismatched = [
        f"{source_of[s.name]}: checkpoint {tuple(shapes[source_of[s.name]])}, config expects {s.shape}"
        for s in table
        if s.name in source_of and tuple(shapes[source_of[s.name]]) != s.shape
    ]
    problems = []
    if unknown:
        problems.append(f"unexpected keys that are not ALBERT parameters for this config: {sorted(unknown)}")
    if missing_encoder:
        problems.append(f"missing keys: {missing_encoder}")
    if mismatched:
        problems.append("shape mismatches: " + "; ".join(mismatched))
    if missing_heads and not init_missing_heads:
        problems.append(
            f"the {ARCHITECTURES[task]} head weights {missing_heads} are not in the checkpoint; pass "
            f"init_missing_heads=True to initialise them (seeded normal(0, initializer_range)) for fine-tuning"
        )
    if problems:
        raise CheckpointError("cannot load weights for task " + repr(task) + ": " + " | ".join(problems))
    return source_of, missing_heads, unused
