"""Original Google ALBERT TensorFlow checkpoints read into HF-named float32 arrays (format ``tf1-checkpoint``).

Three naming schemes are understood (docs/formats.md has the full table):

- the original TF1 names of google-research/albert (``bert/...``, ``cls/...``), also under TF-Hub's
  ``module/`` prefix and with run_classifier's top-level ``output_weights``/``output_bias``;
- the Keras names tf-models-official's ``tf2_albert_encoder_checkpoint_converter`` writes as its intermediate
  (``word_embeddings/embeddings``, ``transformer/self_attention/query/kernel`` with 3-D attention kernels...);
- TF2 object-based checkpoints of the model garden's ``AlbertEncoder`` (``encoder/layer_with_weights-N/...``,
  ``masked_lm/...``, each ending in ``/.ATTRIBUTES/VARIABLE_VALUE``).

Kernels are stored ``[in, out]`` and are transposed to the canonical ``[out, in]``; optimizer slots,
``global_step`` and other bookkeeping are skipped and reported in ``Checkpoint.skipped``. Variables no rule
knows are kept under their TF name so that the caller's validation lists them with everything else wrong.
``detect`` only looks at file names; TensorFlow is imported by ``read``.
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from albert_core.checkpoints import Checkpoint
from albert_core.config import AlbertConfig
from albert_core.errors import CheckpointError
from albert_core.layout import layer_prefix

ORIGINAL_CONFIG = "albert_config.json"
CONFIG_NAMES = (ORIGINAL_CONFIG, "config.json")
STATE_FILE = "checkpoint"  # written by tf.train.Saver: names the latest checkpoint prefix
TOKENIZER_NAME = "spiece.model"
OBJECT_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"

# Kinds of conversion from the stored array to the canonical one.
COPY, FLAT, KERNEL, KERNEL_OUT_LAST, IDENTITY = "copy", "flat", "kernel", "kernel_out_last", "identity"
_LEAVES = {"kernel": ("weight", KERNEL), "bias": ("bias", FLAT), "gamma": ("weight", FLAT), "beta": ("bias", FLAT)}

_L0 = layer_prefix(0, 0)  # the model garden's AlbertEncoder has one shared layer
# TF1: sub-scopes of `bert/encoder/transformer/group_g/inner_group_i/`.
_TF1_LAYER = {
    "attention_1/self/query": "attention.query",
    "attention_1/self/key": "attention.key",
    "attention_1/self/value": "attention.value",
    "attention_1/output/dense": "attention.dense",
    "LayerNorm": "attention.LayerNorm",
    "ffn_1/intermediate/dense": "ffn",
    "ffn_1/intermediate/output/dense": "ffn_output",
    "LayerNorm_1": "full_layer_layer_norm",
}
# Whole-variable names (TF1 and TF2 Keras names), after removing TF-Hub's `module/`.
_VARIABLES = {
    "bert/embeddings/word_embeddings": "albert.embeddings.word_embeddings.weight",
    "bert/embeddings/position_embeddings": "albert.embeddings.position_embeddings.weight",
    "bert/embeddings/token_type_embeddings": "albert.embeddings.token_type_embeddings.weight",
    "cls/predictions/output_bias": "predictions.bias",
    "cls/seq_relationship/output_weights": "sop_classifier.classifier.weight",  # stored [2, hidden] already
    "cls/seq_relationship/output_bias": "sop_classifier.classifier.bias",
    "output_weights": "classifier.weight",  # run_classifier's head, stored [num_labels, hidden]
    "output_bias": "classifier.bias",
    "word_embeddings/embeddings": "albert.embeddings.word_embeddings.weight",
    "position_embedding/embeddings": "albert.embeddings.position_embeddings.weight",
    "type_embeddings/embeddings": "albert.embeddings.token_type_embeddings.weight",
    "bert/cls/predictions/output_bias/bias": "predictions.bias",
}
# Layer scopes whose leaves are kernel/bias/gamma/beta: TF scope -> HF module.
_MODULES = {
    "bert/embeddings/LayerNorm": "albert.embeddings.LayerNorm",
    "bert/encoder/embedding_hidden_mapping_in": "albert.encoder.embedding_hidden_mapping_in",
    "bert/pooler/dense": "albert.pooler",
    "cls/predictions/transform/dense": "predictions.dense",
    "cls/predictions/transform/LayerNorm": "predictions.LayerNorm",
    # TF2 Keras names (tf-models' tf2_albert_encoder_checkpoint_converter intermediate)
    "embeddings/layer_norm": "albert.embeddings.LayerNorm",
    "embedding_projection": "albert.encoder.embedding_hidden_mapping_in",
    "transformer/self_attention/query": f"{_L0}.attention.query",
    "transformer/self_attention/key": f"{_L0}.attention.key",
    "transformer/self_attention/value": f"{_L0}.attention.value",
    "transformer/self_attention/attention_output": f"{_L0}.attention.dense",
    "transformer/self_attention_layer_norm": f"{_L0}.attention.LayerNorm",
    "transformer/intermediate": f"{_L0}.ffn",
    "transformer/output": f"{_L0}.ffn_output",
    "transformer/output_layer_norm": f"{_L0}.full_layer_layer_norm",
    "pooler_transform": "albert.pooler",
    "bert/cls/predictions/transform/dense": "predictions.dense",
    "bert/cls/predictions/transform/LayerNorm": "predictions.LayerNorm",
    "predictions/transform/logits": "sop_classifier.classifier",  # kernel stored [hidden, 2]
}
# TF2 object-based: attribute paths inside the shared TransformerEncoderBlock.
_OBJECT_LAYER = {
    "_attention_layer/_query_dense": "attention.query",
    "_attention_layer/_key_dense": "attention.key",
    "_attention_layer/_value_dense": "attention.value",
    "_attention_layer/_output_dense": "attention.dense",
    "_attention_output_dense": "attention.dense",  # the older `Transformer` layer
    "_attention_layer_norm": "attention.LayerNorm",
    "_intermediate_dense": "ffn",
    "_output_dense": "ffn_output",
    "_output_layer_norm": "full_layer_layer_norm",
}
_OBJECT_HEAD = {"masked_lm/dense": "predictions.dense", "masked_lm/layer_norm": "predictions.LayerNorm"}
_OBJECT_EMBEDDINGS = ("albert.embeddings.word_embeddings.weight", "albert.embeddings.position_embeddings.weight",
                      "albert.embeddings.token_type_embeddings.weight")
_TF1_LAYER_RE = re.compile(r"bert/encoder/transformer/group_(\d+)/inner_group_(\d+)/(.+)/(kernel|bias|gamma|beta)")
_OBJECT_RE = re.compile(r"(?:(?:model|encoder|encoder_network)/)+layer_with_weights-(\d+)/(.+)")
_OPTIMIZER_PARTS = frozenset({"adam_m", "adam_v", "Adam", "Adam_1", "Momentum", "RMSProp", "RMSProp_1",
                              "Adagrad", "AdamWeightDecayOptimizer", "AdamWeightDecayOptimizer_1",
                              "LAMBOptimizer", "ExponentialMovingAverage", "beta1_power", "beta2_power"})
_BOOKKEEPING = frozenset({"global_step", "good_steps", "loss_scale", "current_loss_scale", "save_counter",
                          "_CHECKPOINTABLE_OBJECT_GRAPH"})


def skip_reason(name: str) -> str | None:
    """Why a checkpoint entry is not a model weight (optimizer slot, step counter...), or None."""
    parts = name.removeprefix("module/").split("/")
    if parts[0] in _BOOKKEEPING:
        return "training bookkeeping"
    if ".OPTIMIZER_SLOT" in parts or parts[0] == "optimizer" or _OPTIMIZER_PARTS.intersection(parts):
        return "optimizer state"
    return None


def _leaf(module: str, leaf: str, attention_output: bool = False) -> tuple[str, str] | None:
    if leaf not in _LEAVES:
        return None
    suffix, kind = _LEAVES[leaf]
    if kind == KERNEL and attention_output:
        kind = KERNEL_OUT_LAST  # [heads, head_dim, hidden]: the input dims come first
    return f"{module}.{suffix}", kind


def _is_attention_output(scope: str) -> bool:
    return scope.endswith(("attention_output", "_attention_layer/_output_dense", "_attention_output_dense"))


def canonical_source(name: str, transformer_index: int = 5) -> tuple[str, str] | None:
    """`(HF name, conversion kind)` for a TF variable name, or None when no rule knows it.

    `transformer_index` is the `layer_with_weights-N` of the shared transformer in object-based checkpoints
    (5 when the encoder has an embedding projection, 4 when embedding_size == hidden_size).
    """
    if name.endswith(OBJECT_SUFFIX):
        return _object_source(name[: -len(OBJECT_SUFFIX)], transformer_index)
    name = name.removeprefix("module/")  # TF-Hub module exports
    if name in _VARIABLES:
        return _VARIABLES[name], COPY
    if m := _TF1_LAYER_RE.fullmatch(name):
        group, inner, scope, leaf = m.groups()
        if scope not in _TF1_LAYER:
            return None
        return _leaf(f"{layer_prefix(int(group), int(inner))}.{_TF1_LAYER[scope]}", leaf)
    scope, _, leaf = name.rpartition("/")
    if scope in _MODULES:
        return _leaf(_MODULES[scope], leaf, _is_attention_output(scope))
    return None


def _object_source(path: str, transformer_index: int) -> tuple[str, str] | None:
    if path.removeprefix("model/") in ("masked_lm/output_bias.Sbias", "masked_lm/bias"):
        return "predictions.bias", COPY
    scope, _, leaf = path.removeprefix("model/").rpartition("/")
    if scope in _OBJECT_HEAD:
        return _leaf(_OBJECT_HEAD[scope], leaf)
    m = _OBJECT_RE.fullmatch(path)
    if m is None:
        return None
    index, rest = int(m.group(1)), m.group(2)
    if index < 3:
        return (_OBJECT_EMBEDDINGS[index], COPY) if rest == "embeddings" else None
    scope, _, leaf = rest.rpartition("/")
    if index == 3 and not scope:
        return _leaf("albert.embeddings.LayerNorm", leaf)
    if index == 4 and transformer_index == 5 and not scope:
        return _leaf("albert.encoder.embedding_hidden_mapping_in", leaf)
    if index == transformer_index and scope in _OBJECT_LAYER:
        return _leaf(f"{_L0}.{_OBJECT_LAYER[scope]}", leaf, _is_attention_output(scope))
    if index == transformer_index + 1 and not scope:
        return _leaf("albert.pooler", leaf)
    return None


def canonical_shape(kind: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape a stored array of `shape` has after the conversion `kind`."""
    if kind == FLAT:
        return (math.prod(shape),)
    if kind in (KERNEL, KERNEL_OUT_LAST) and len(shape) >= 2:
        if kind == KERNEL:  # [in, *out]
            return (math.prod(shape[1:]), shape[0])
        return (shape[-1], math.prod(shape[:-1]))  # [*in, out]
    return tuple(shape)


def canonical_value(kind: str, array: np.ndarray) -> np.ndarray:
    if kind == FLAT:
        return array.reshape(-1)
    if kind in (KERNEL, KERNEL_OUT_LAST) and array.ndim >= 2:
        flat = array.reshape(array.shape[0], -1) if kind == KERNEL else array.reshape(-1, array.shape[-1])
        return flat.T
    return array


@dataclass(frozen=True)
class _Source:
    tf_name: str | None  # None: synthesised (identity projection)
    kind: str
    stored_shape: tuple[int, ...]


class TF1Weights(Mapping[str, np.ndarray]):
    """Lazy mapping HF name -> float32 array, read from the TF checkpoint one tensor at a time."""

    def __init__(self, reader, prefix: Path, sources: dict[str, _Source]) -> None:
        self._reader, self._prefix, self._sources = reader, prefix, sources

    def shape(self, name: str) -> tuple[int, ...]:
        src = self._sources[name]
        return canonical_shape(src.kind, src.stored_shape)

    def source_name(self, name: str) -> str:
        """The TF variable a canonical weight comes from (for messages)."""
        src = self._sources[name]
        return src.tf_name or "(identity: the checkpoint has no embedding projection, embedding_size == hidden_size)"

    def __getitem__(self, name: str) -> np.ndarray:
        src = self._sources[name]
        if src.kind == IDENTITY:
            return np.eye(src.stored_shape[0], dtype=np.float32) if len(src.stored_shape) == 2 else \
                np.zeros(src.stored_shape, np.float32)
        try:
            stored = np.asarray(self._reader.get_tensor(src.tf_name))
        except Exception as exc:  # TF raises its own errors for truncated data files
            raise CheckpointError(f"{self._prefix}: cannot read variable {src.tf_name!r} ({type(exc).__name__}: "
                                  f"{exc}); the checkpoint's data files are incomplete or corrupt") from None
        if stored.dtype.kind not in "fV":  # "V": bfloat16 from ml_dtypes
            raise CheckpointError(f"{self._prefix}: variable {src.tf_name!r} has dtype {stored.dtype}, expected a "
                                  "float tensor")
        value = np.ascontiguousarray(canonical_value(src.kind, stored), dtype=np.float32)
        if not np.isfinite(value).all():
            bad = int(value.size - np.isfinite(value).sum())
            raise CheckpointError(f"{self._prefix}: variable {src.tf_name!r} contains {bad} NaN/Inf values")
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)


def _has_data(prefix: Path) -> bool:
    return prefix.with_name(prefix.name + ".index").is_file() and \
        bool(glob.glob(glob.escape(str(prefix)) + ".data-*"))


def _prefix_from_state(folder: Path) -> Path | None:
    state = folder / STATE_FILE
    if not state.is_file():
        return None
    m = re.search(r'^model_checkpoint_path:\s*"(.*)"\s*$', state.read_text("utf-8", errors="replace"), re.M)
    if m is None:
        return None
    named = Path(m.group(1))
    for candidate in (named if named.is_absolute() else folder / named, folder / named.name):
        if _has_data(candidate):
            return candidate
    return None


def locate(path: str | os.PathLike) -> tuple[Path, Path]:
    """`(checkpoint prefix, config file)` for a folder, a prefix or an `.index` file; file names only."""
    p = Path(path)
    if p.is_dir():
        prefix = _prefix_from_state(p)
        if prefix is None:
            found = sorted(q.with_suffix("") for q in p.glob("*.index") if _has_data(q.with_suffix("")))
            if not found:
                raise CheckpointError(f"{str(p)!r} has no TensorFlow checkpoint (*.index + *.data-* files)")
            if len(found) > 1:
                raise CheckpointError(f"{str(p)!r} holds {len(found)} checkpoints {[q.name for q in found]} and "
                                      f"no '{STATE_FILE}' file naming the latest; pass the prefix of the one to "
                                      f"read, e.g. {str(found[-1])!r}")
            prefix = found[0]
    else:
        prefix = p.with_suffix("") if p.suffix == ".index" else Path(re.sub(r"\.data-\d+-of-\d+$", "", str(p)))
        if not _has_data(prefix):
            raise CheckpointError(f"{os.fspath(path)!r} is not a TensorFlow checkpoint: pass a folder holding "
                                  "model.ckpt*.index/.data-* files or a prefix such as .../model.ckpt-best")
    for name in CONFIG_NAMES:
        if (prefix.parent / name).is_file():
            return prefix, prefix.parent / name
    raise CheckpointError(f"no {ORIGINAL_CONFIG} next to the checkpoint {str(prefix)!r}; put the "
                          f"{ORIGINAL_CONFIG} the model was trained with in {str(prefix.parent)!r}")


def read_config(path: Path) -> AlbertConfig:
    """`albert_config.json` as an `AlbertConfig`; the original code's "gelu" becomes "gelu_new".

    google-research/albert's `gelu` is the tanh approximation (0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3)))),
    which HF calls "gelu_new"; HF's "gelu" is the exact erf form. Only the original file is remapped: an
    HF `config.json` already uses HF's names.
    """
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read {str(path)!r}: {exc}") from None
    if path.name == ORIGINAL_CONFIG and isinstance(data, dict) and data.get("hidden_act") == "gelu":
        data["hidden_act"] = "gelu_new"
    return AlbertConfig.from_dict(data)


def find_tokenizer(folder: Path) -> Path | None:
    """`spiece.model`, or the one SentencePiece `*.model` file of the release (`30k-clean.model`)."""
    if (folder / TOKENIZER_NAME).is_file():
        return folder / TOKENIZER_NAME
    models = sorted(folder.glob("*.model"))
    return models[0] if len(models) == 1 else None


def _open_reader(prefix: Path):
    import tensorflow as tf

    try:
        return tf.train.load_checkpoint(str(prefix))
    except Exception as exc:
        raise CheckpointError(f"TensorFlow cannot open the checkpoint {str(prefix)!r} ({type(exc).__name__}: "
                              f"{exc}); its .index or .data files are missing or corrupt") from None


class TF1CheckpointFormat:
    """Reader for original Google ALBERT checkpoints (TF1 names, TF-Hub `module/`, TF2 model garden)."""

    name = "tf1-checkpoint"
    description = ("Google ALBERT TensorFlow checkpoint: model.ckpt-*.index/.data-* + albert_config.json "
                   "(TF1 names, TF-Hub module/ prefix, TF2 model-garden AlbertEncoder names)")

    def detect(self, path: str | os.PathLike) -> bool:
        try:
            locate(path)
        except (CheckpointError, OSError):
            return False
        return True

    def read(self, path: str | os.PathLike) -> Checkpoint:
        prefix, config_path = locate(path)
        config = read_config(config_path)
        reader = _open_reader(prefix)
        shapes = {k: tuple(int(d) for d in v) for k, v in reader.get_variable_to_shape_map().items()}
        transformer_index = 5 if any(k.endswith(f"layer_with_weights-4/kernel{OBJECT_SUFFIX}") for k in shapes) \
            else 4
        sources: dict[str, _Source] = {}
        skipped, clashes = [], []
        for name in sorted(shapes):
            reason = skip_reason(name)
            if reason:
                skipped.append(f"{name} ({reason})")
                continue
            mapped = canonical_source(name, transformer_index)
            hf_name, kind = mapped if mapped else (name, COPY)  # unknown: kept under its TF name, see module doc
            if hf_name in sources:
                clashes.append(f"{sources[hf_name].tf_name!r} and {name!r} both map to {hf_name!r}")
                continue
            sources[hf_name] = _Source(name, kind, shapes[name])
        if clashes:
            raise CheckpointError(f"{prefix}: variables that hold the same weight twice: {clashes}; keep one "
                                  "naming scheme per checkpoint")
        object_based = any(s.tf_name.endswith(OBJECT_SUFFIX) for s in sources.values())
        if object_based and transformer_index == 4 and config.embedding_size == config.hidden_size:
            # The model garden builds no projection when the widths agree; HF always has one: use identity.
            h = config.hidden_size
            sources["albert.encoder.embedding_hidden_mapping_in.weight"] = _Source(None, IDENTITY, (h, h))
            sources["albert.encoder.embedding_hidden_mapping_in.bias"] = _Source(None, IDENTITY, (h,))
        if "classifier.weight" in sources:  # run_classifier heads: the label count comes from the weights
            labels = canonical_shape(sources["classifier.weight"].kind, sources["classifier.weight"].stored_shape)[0]
            if labels != config.num_labels and labels >= 1:
                config = config.with_labels(labels)
        return Checkpoint(config, TF1Weights(reader, prefix, sources), source=str(prefix), skipped=skipped,
                          tokenizer_file=find_tokenizer(prefix.parent))
