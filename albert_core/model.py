"""ALBERT, written once against the op contract (`albert_core.ops.Ops`). Every backend runs this file.

Shapes: B batch, S sequence, E embedding_size, H hidden_size, N heads, D head_dim, I intermediate_size,
V vocab_size, C choices. `p` is a flat mapping from HF parameter names to the backend's tensors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .config import AlbertConfig
from .layout import layer_prefix
from .ops import IGNORE_INDEX, LOW_PRECISION, MASK_FILL, Ops
from .tasks import (
    BASE,
    MASKED_LM,
    MULTIPLE_CHOICE,
    OUTPUT_FIELDS,
    PRETRAINING,
    QUESTION_ANSWERING,
    SEQUENCE_CLASSIFICATION,
    TOKEN_CLASSIFICATION,
    problem_type,
    task_spec,
)


class ModelOutput(dict):
    """HF-style output: a dict of the fields that were computed, with attribute access (absent -> None)."""

    def __getattr__(self, name: str) -> Any:
        if name in OUTPUT_FIELDS:
            return self.get(name)
        raise AttributeError(name)


class _Dropout:
    """Numbers the dropout sites of one forward pass; a no-op outside training."""

    def __init__(self, ops: Ops, training: bool, rng: Any) -> None:
        self.ops, self.training, self.rng, self.site = ops, training, rng, 0

    def __call__(self, x: Any, rate: float | None) -> Any:
        if not self.training or not rate:
            return x
        self.site += 1
        return self.ops.dropout(x, rate, self.rng, self.site)

    def next_site(self, rate: float) -> tuple[float, int]:
        if not self.training or not rate:
            return 0.0, 0
        self.site += 1
        return rate, self.site


def embeddings(ops: Ops, c: AlbertConfig, p, input_ids, token_type_ids, position_ids, inputs_embeds, drop):
    x = inputs_embeds if inputs_embeds is not None else ops.embedding(
        p["albert.embeddings.word_embeddings.weight"], input_ids, padding_idx=c.pad_token_id)  # [B, S, E]
    x = x + ops.embedding(p["albert.embeddings.token_type_embeddings.weight"], token_type_ids)
    if c.position_embedding_type == "absolute":
        x = x + ops.embedding(p["albert.embeddings.position_embeddings.weight"], position_ids)
    x = ops.layer_norm(x, p["albert.embeddings.LayerNorm.weight"], p["albert.embeddings.LayerNorm.bias"],
                       c.layer_norm_eps)
    return drop(x, c.hidden_dropout_prob)


def positions(ops: Ops, c: AlbertConfig, S) -> Any:
    """0 .. S-1 (int64, [S]): a slice of the constant 0 .. max_position_embeddings-1, so that `S` may also be a
    graph-building backend's symbolic size (an exported graph takes any sequence length)."""
    return ops.asarray(np.arange(c.max_position_embeddings, dtype=np.int64))[:S]


def relative_scores(ops: Ops, c: AlbertConfig, table, q, k):
    """HF's relative_key(_query) score terms, [B, N, S, S]; distances use arange positions, as HF does."""
    S = ops.shape(q)[2]
    pos = positions(ops, c, S)
    distance = ops.reshape(pos, (S, 1)) - ops.reshape(pos, (1, S)) + (c.max_position_embeddings - 1)  # [S, S]
    emb = ops.cast(ops.take(table, distance), ops.dtype_name(q))                     # [S, S, D]
    scores = ops.einsum("bhld,lrd->bhlr", q, emb)
    if c.position_embedding_type == "relative_key_query":
        scores = scores + ops.einsum("bhrd,lrd->bhlr", k, emb)
    return ops.cast(scores, "float32") if ops.dtype_name(scores) in LOW_PRECISION else scores


def albert_layer(ops: Ops, c: AlbertConfig, p, prefix: str, x, bias, head_mask, need_weights: bool, drop):
    B, S, H = ops.shape(x)
    N, D = c.num_attention_heads, c.head_dim

    def heads(name):                                                                  # [B, N, S, D]
        y = ops.linear(x, p[f"{prefix}.attention.{name}.weight"], p[f"{prefix}.attention.{name}.bias"])
        return ops.transpose(ops.reshape(y, (B, S, N, D)), (0, 2, 1, 3))

    q, k, v = heads("query"), heads("key"), heads("value")
    if c.position_embedding_type != "absolute":
        bias = bias + relative_scores(ops, c, p[f"{prefix}.attention.distance_embedding.weight"], q, k)
    rate, site = drop.next_site(c.attention_probs_dropout_prob)
    ctx, probs = ops.attention(q, k, v, bias, head_mask=head_mask, dropout_rate=rate, rng=drop.rng, site=site,
                               need_weights=need_weights)
    ctx = ops.reshape(ops.transpose(ctx, (0, 2, 1, 3)), (B, S, H))                    # [B, S, H]
    proj = drop(ops.linear(ctx, p[f"{prefix}.attention.dense.weight"], p[f"{prefix}.attention.dense.bias"]),
                c.hidden_dropout_prob)
    attn_out = ops.layer_norm(x + proj, p[f"{prefix}.attention.LayerNorm.weight"],
                              p[f"{prefix}.attention.LayerNorm.bias"], c.layer_norm_eps)
    h = ops.linear_activation(attn_out, p[f"{prefix}.ffn.weight"], p[f"{prefix}.ffn.bias"], c.hidden_act)
    h = ops.linear(h, p[f"{prefix}.ffn_output.weight"], p[f"{prefix}.ffn_output.bias"])  # [B, S, H]
    out = ops.layer_norm(h + attn_out, p[f"{prefix}.full_layer_layer_norm.weight"],
                         p[f"{prefix}.full_layer_layer_norm.bias"], c.layer_norm_eps)
    return out, probs


def head_mask_rows(ops: Ops, c: AlbertConfig, head_mask, dtype: str):
    """[N] or [L, N] (1 keeps a head, 0 drops it) -> one [1, N, 1, 1] multiplier per layer, or None."""
    if head_mask is None:
        return [None] * c.num_hidden_layers
    hm = ops.cast(head_mask, dtype)
    if len(ops.shape(hm)) == 1:
        hm = ops.reshape(hm, (1, -1))
    rows = ops.reshape(hm, (-1, 1, c.num_attention_heads, 1, 1))
    return [rows[0] if ops.shape(rows)[0] == 1 else rows[i] for i in range(c.num_hidden_layers)]


def layer_dropout_sites(c: AlbertConfig, drop: _Dropout) -> int:
    """How many dropout sites one `albert_layer` numbers: the attention probabilities and the attention output."""
    if not drop.training:
        return 0
    return sum(1 for rate in (c.attention_probs_dropout_prob, c.hidden_dropout_prob) if rate)


def recomputed_group(ops: Ops, c: AlbertConfig, p, group: int, h, bias, masks, drop):
    """The `layers_per_group` passes through layer group `group` under `ops.recompute_loop` (gradient
    checkpointing). The group's weights are arguments, not closure constants, so frameworks that differentiate only
    a recomputed function's arguments reach them. Pass `i` numbers its dropout sites from `first + i * stride`, the
    same numbers the plain loop gives, and the same again when the backward pass runs the pass once more."""
    prefixes = [layer_prefix(group, j) for j in range(c.inner_group_num)]
    names = [n for n in p if n.startswith(tuple(prefix + "." for prefix in prefixes))]
    first, stride = drop.site, layer_dropout_sites(c, drop) * c.inner_group_num

    def run(x, i, *weights):
        drop.site = first + i * stride
        w = dict(zip(names, weights))
        for j, prefix in enumerate(prefixes):
            x = albert_layer(ops, c, w, prefix, x, bias, masks[group * c.layers_per_group + j], False, drop)[0]
        return x

    h = ops.recompute_loop(run, h, c.layers_per_group, *(p[n] for n in names))
    drop.site = first + c.layers_per_group * stride
    return h


def encoder(ops: Ops, c: AlbertConfig, p, x, bias, head_mask, output_attentions, output_hidden_states, drop,
            gradient_checkpointing: bool = False):
    """Layer groups as HF runs them: layer i uses group i // (L / G), which runs its inner layers in turn;
    inner layer j of that group reads head-mask row `group * L/G + j` (HF's indexing). With
    `gradient_checkpointing` (and neither attentions nor hidden states asked for), each group's passes are
    recomputed in the backward pass: memory for one layer's activations instead of L."""
    h = ops.linear(x, p["albert.encoder.embedding_hidden_mapping_in.weight"],
                   p["albert.encoder.embedding_hidden_mapping_in.bias"])              # [B, S, H]
    masks = head_mask_rows(ops, c, head_mask, ops.dtype_name(h))
    if gradient_checkpointing and not output_attentions and not output_hidden_states:
        for group in range(c.num_hidden_groups):
            h = recomputed_group(ops, c, p, group, h, bias, masks, drop)
        return h, None, None
    hidden_states, attentions = [h], []
    for i in range(c.num_hidden_layers):
        group = i // c.layers_per_group
        for j in range(c.inner_group_num):
            mask = masks[group * c.layers_per_group + j]
            h, probs = albert_layer(ops, c, p, layer_prefix(group, j), h, bias, mask, output_attentions, drop)
            attentions.append(probs)
        hidden_states.append(h)
    return h, (tuple(hidden_states) if output_hidden_states else None), \
        (tuple(attentions) if output_attentions else None)


def _flatten_choices(ops: Ops, x, keep: int):
    """[B, C, ...] -> [B*C, ...] keeping the last `keep` dims."""
    return None if x is None else ops.reshape(x, (-1, *ops.shape(x)[-keep:]))


def forward(
    ops: Ops, config: AlbertConfig, task: str, params, *,
    input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
    inputs_embeds=None, output_attentions: bool = False, output_hidden_states: bool = False,
    labels=None, sentence_order_label=None, start_positions=None, end_positions=None,
    training: bool = False, rng: Any = None, gradient_checkpointing: bool = False,
) -> ModelOutput:
    """Run the model for `task` on native tensors that already passed `albert_core.inputs.prepare_inputs`."""
    c, p = config, params
    spec = task_spec(task)
    drop = _Dropout(ops, training, rng)
    num_choices = None
    if spec.choices:
        num_choices = ops.shape(input_ids if input_ids is not None else inputs_embeds)[1]
        input_ids, inputs_embeds = _flatten_choices(ops, input_ids, 1), _flatten_choices(ops, inputs_embeds, 2)
        attention_mask, token_type_ids, position_ids = (
            _flatten_choices(ops, t, 1) for t in (attention_mask, token_type_ids, position_ids))

    B, S = ops.shape(input_ids if input_ids is not None else inputs_embeds)[:2]
    dtype = ops.dtype_name(p["albert.embeddings.word_embeddings.weight"])
    if attention_mask is None:
        attention_mask = ops.asarray(np.ones((B, S), np.int64))
    if token_type_ids is None:
        token_type_ids = ops.asarray(np.zeros((B, S), np.int64))
    if position_ids is None:
        position_ids = ops.reshape(positions(ops, c, S), (1, S))
    if inputs_embeds is not None:
        inputs_embeds = ops.cast(inputs_embeds, dtype)
    float_dtype = "float64" if dtype == "float64" else "float32"
    bias = ops.reshape((1.0 - ops.cast(attention_mask, float_dtype)) * MASK_FILL, (B, 1, 1, S))

    x = embeddings(ops, c, p, input_ids, token_type_ids, position_ids, inputs_embeds, drop)   # [B, S, E]
    seq, hidden_states, attentions = encoder(ops, c, p, x, bias, head_mask, output_attentions,
                                             output_hidden_states, drop, gradient_checkpointing)  # [B, S, H]
    out = ModelOutput()
    pooled = None
    if spec.pooled:
        pooled = ops.linear_activation(seq[:, 0], p["albert.pooler.weight"], p["albert.pooler.bias"], "tanh")  # [B, H]
    cls_drop = c.classifier_dropout_prob if c.classifier_dropout_prob is not None else c.hidden_dropout_prob

    if task == BASE:
        out.update(last_hidden_state=seq, pooler_output=pooled)
    elif task in (PRETRAINING, MASKED_LM):
        logits = mlm_logits(ops, c, p, seq)                                                       # [B, S, V]
        if task == PRETRAINING:
            out["prediction_logits"] = logits
            out["sop_logits"] = ops.linear(drop(pooled, c.classifier_dropout_prob),
                                           p["sop_classifier.classifier.weight"],
                                           p["sop_classifier.classifier.bias"])                    # [B, 2]
        else:
            out["logits"] = logits
    elif task in (SEQUENCE_CLASSIFICATION, MULTIPLE_CHOICE):
        logits = ops.linear(drop(pooled, cls_drop), p["classifier.weight"], p["classifier.bias"])  # [B, labels]
        out["logits"] = logits if not spec.choices else ops.reshape(logits, (-1, num_choices))  # [B, C]
    elif task == TOKEN_CLASSIFICATION:
        out["logits"] = ops.linear(drop(seq, cls_drop), p["classifier.weight"], p["classifier.bias"])  # [B, S, L]
    elif task == QUESTION_ANSWERING:
        logits = ops.linear(seq, p["qa_outputs.weight"], p["qa_outputs.bias"])                    # [B, S, 2]
        out.update(start_logits=logits[..., 0], end_logits=logits[..., 1])
    loss = compute_loss(ops, c, task, out, labels=labels, sentence_order_label=sentence_order_label,
                        start_positions=start_positions, end_positions=end_positions)
    if loss is not None:
        out = ModelOutput(loss=loss, **out)
    if hidden_states is not None:
        out["hidden_states"] = hidden_states
    if attentions is not None:
        out["attentions"] = attentions
    return out


def mlm_logits(ops: Ops, c: AlbertConfig, p, seq):
    """Masked-LM head: dense H->E, activation, layer norm, decoder tied to the word embeddings."""
    h = ops.linear_activation(seq, p["predictions.dense.weight"], p["predictions.dense.bias"], c.hidden_act)
    h = ops.layer_norm(h, p["predictions.LayerNorm.weight"], p["predictions.LayerNorm.bias"], c.layer_norm_eps)
    return ops.linear(h, p["albert.embeddings.word_embeddings.weight"], p["predictions.bias"])   # [B, S, V]


def compute_loss(ops: Ops, c: AlbertConfig, task: str, out: ModelOutput, *, labels=None, sentence_order_label=None,
                 start_positions=None, end_positions=None):
    """The task's loss from its logits (None without labels). Separate from `forward` so that backends
    which pad sequences to a bucket length can compute it on the unpadded logits."""
    if task == PRETRAINING:
        if labels is None or sentence_order_label is None:
            return None
        mlm = ops.cross_entropy(ops.reshape(out["prediction_logits"], (-1, c.vocab_size)), ops.reshape(labels, (-1,)))
        return mlm + ops.cross_entropy(out["sop_logits"], ops.reshape(sentence_order_label, (-1,)))
    if task == QUESTION_ANSWERING:
        if start_positions is None or end_positions is None:
            return None
        S = ops.shape(out["start_logits"])[-1]
        # Positions outside the sequence are clamped to S and then ignored, as HF does.
        start = ops.clip(ops.reshape(start_positions, (-1,)), 0, S)
        end = ops.clip(ops.reshape(end_positions, (-1,)), 0, S)
        return (ops.cross_entropy(out["start_logits"], start, ignore_index=S)
                + ops.cross_entropy(out["end_logits"], end, ignore_index=S)) / 2.0
    if labels is None or task == BASE:
        return None
    logits = out["logits"]
    if task == MASKED_LM:
        return ops.cross_entropy(ops.reshape(logits, (-1, c.vocab_size)), ops.reshape(labels, (-1,)))
    if task == TOKEN_CLASSIFICATION:
        return ops.cross_entropy(ops.reshape(logits, (-1, c.num_labels)), ops.reshape(labels, (-1,)))
    if task == MULTIPLE_CHOICE:
        return ops.cross_entropy(logits, ops.reshape(labels, (-1,)))
    return classification_loss(ops, c, logits, labels)


def _accuracy(ops: Ops, logits, labels):
    """Share of the labelled rows (labels != -100) whose label has the largest logit (ties count as right)."""
    keep = ops.not_equal(labels, IGNORE_INDEX)
    picked = ops.take_along_axis(logits, ops.where(keep, labels, 0))                   # [n]
    wrong = ops.cast(ops.not_equal(ops.max(logits, axis=-1), picked), "float32")
    weight = ops.cast(keep, "float32")
    return 1.0 - ops.sum(wrong * weight) / ops.sum(weight)


def loss_terms(ops: Ops, c: AlbertConfig, task: str, out: ModelOutput, *, labels=None, sentence_order_label=None,
               **_: Any) -> dict[str, Any]:
    """The named parts of a task's training loss that a run logs beside it (scalars): for pretraining `mlm_loss`,
    `sop_loss` (their sum is `loss`), `mlm_accuracy` and `sop_accuracy`; nothing for the other tasks."""
    if task != PRETRAINING or labels is None or sentence_order_label is None:
        return {}
    logits = ops.cast(ops.reshape(out["prediction_logits"], (-1, c.vocab_size)), "float32")
    sop_logits = ops.cast(out["sop_logits"], "float32")
    tokens, order = ops.reshape(labels, (-1,)), ops.reshape(sentence_order_label, (-1,))
    return {"mlm_loss": ops.cross_entropy(logits, tokens), "sop_loss": ops.cross_entropy(sop_logits, order),
            "mlm_accuracy": _accuracy(ops, logits, tokens), "sop_accuracy": _accuracy(ops, sop_logits, order)}


def classification_loss(ops: Ops, c: AlbertConfig, logits, labels):
    kind = problem_type(c.problem_type, c.num_labels, ops.dtype_name(labels))
    if kind == "regression":
        if c.num_labels == 1:
            return ops.mse_loss(ops.reshape(logits, (-1,)), ops.reshape(labels, (-1,)))
        return ops.mse_loss(logits, labels)
    if kind == "single_label_classification":
        return ops.cross_entropy(ops.reshape(logits, (-1, c.num_labels)), ops.reshape(labels, (-1,)))
    return ops.bce_with_logits(logits, labels)
