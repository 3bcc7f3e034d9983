"""The core of data-parallel training (`albert_core.training.data_parallel`): the pieces' weights reproduce the
micro-batch's loss exactly, padded rows leave the loss unchanged, and bad set-ups are clear errors. The engines
themselves run in `nox -s distributed` (tests/distributed)."""

from __future__ import annotations

import numpy as np
import pytest

import albert_core
from albert_core import AlbertConfig
from albert_core.checkpoints import Checkpoint
from albert_core.errors import ConfigError
from albert_core.tasks import PRETRAINING, QUESTION_ANSWERING, SEQUENCE_CLASSIFICATION, TOKEN_CLASSIFICATION
from albert_core.training.data_parallel import World, check_even_rows, check_mode, pad_rows, single, split

CONFIG = AlbertConfig(vocab_size=50, embedding_size=8, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=32, max_position_embeddings=16, num_labels=3, hidden_dropout_prob=0.0,
                      attention_probs_dropout_prob=0.0, classifier_dropout_prob=0.0)
TASKS = (SEQUENCE_CLASSIFICATION, TOKEN_CLASSIFICATION, QUESTION_ANSWERING, PRETRAINING)


def batch(task: str, rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {"input_ids": rng.integers(5, 50, (rows, 8)), "attention_mask": np.ones((rows, 8), np.int64)}
    out["attention_mask"][:, 6:] = rng.integers(0, 2, (rows, 2))
    if task == TOKEN_CLASSIFICATION:
        out["labels"] = np.where(rng.random((rows, 8)) < 0.4, rng.integers(0, 3, (rows, 8)), -100)
    elif task == QUESTION_ANSWERING:
        out["start_positions"], out["end_positions"] = rng.integers(0, 8, rows), rng.integers(0, 8, rows)
    elif task == PRETRAINING:
        out["labels"] = np.where(rng.random((rows, 8)) < 0.3, rng.integers(0, 50, (rows, 8)), -100)
        out["sentence_order_label"] = rng.integers(0, 2, rows)
    else:
        out["labels"] = rng.integers(0, 3, rows)
    return out


def loss(model, inputs: dict[str, np.ndarray]) -> float:
    return float(model(**inputs)["loss"])


@pytest.fixture(scope="module")
def models():
    configs = {task: CONFIG.with_labels(2) if task in (QUESTION_ANSWERING, PRETRAINING) else CONFIG for task in TASKS}
    return {task: albert_core.load(Checkpoint(configs[task], albert_core.init_params(configs[task], task, seed=1)),
                                   backend="numpy", task=task, dtype="float64")  # exact sums: no float32 rounding
            for task in TASKS}


@pytest.mark.parametrize("task", [SEQUENCE_CLASSIFICATION, TOKEN_CLASSIFICATION])
@pytest.mark.parametrize("rows, parts", [(8, 2), (7, 2), (7, 4), (3, 4), (1, 2)])
def test_the_pieces_weighted_losses_sum_to_the_micro_batches(models, task, rows, parts):
    """Two micro-batches of a step (weights 0.6 / 0.4), cut for `parts` replicas: summed over the replicas, the
    pieces' weighted losses are the step's loss, including stand-in pieces (weight 0) where rows run out."""
    micro = [batch(task, rows, seed=0), batch(task, rows + 1, seed=1)]
    weights = [0.6, 0.4]
    pieces = split(micro, weights, parts, task)
    assert len(pieces) == parts and all(len(b) == len(micro) and len(w) == len(micro) for b, w in pieces)
    want = sum(w * loss(models[task], b) for b, w in zip(micro, weights))
    got = sum(w * loss(models[task], b) for batches, shares in pieces for b, w in zip(batches, shares))
    assert got == pytest.approx(want, rel=1e-12)
    assert sum(sum(shares) for _, shares in pieces) == pytest.approx(1.0)
    assert all(np.isfinite(loss(models[task], b)) for batches, _ in pieces for b in batches)


def test_a_piece_without_labelled_tokens_is_a_weightless_stand_in():
    b = batch(TOKEN_CLASSIFICATION, 4)
    b["labels"][:2] = -100  # the first replica's rows have nothing to learn from
    (first, first_w), (second, second_w) = split([b], [1.0], 2, TOKEN_CLASSIFICATION)
    assert first_w == [0.0] and second_w == [1.0]
    assert (first[0]["labels"] != -100).any()  # a row with items: its loss is finite, its weight 0


def test_pretraining_pieces_are_weighted_by_rows():
    pieces = split([batch(PRETRAINING, 6)], [1.0], 3, PRETRAINING)
    assert [shares for _, shares in pieces] == [[pytest.approx(1 / 3)]] * 3


@pytest.mark.parametrize("task", TASKS)
def test_padded_rows_leave_the_loss_unchanged(models, task):
    b = batch(task, 5)
    padded = pad_rows(b, 4, task)
    assert padded["input_ids"].shape[0] == 8 and pad_rows(padded, 4, task) is padded
    assert loss(models[task], padded) == pytest.approx(loss(models[task], b), rel=1e-12)


def test_rows_that_cannot_be_ignored_must_divide():
    check_even_rows(22, 8, 4, SEQUENCE_CLASSIFICATION, "single_label_classification")  # ignored labels: fine
    check_even_rows(24, 8, 4, SEQUENCE_CLASSIFICATION, "regression")
    with pytest.raises(ConfigError, match=r"regression .* on 4 devices .* 22 training rows .* last of each epoch "
                                          r"has 6; pass"):
        check_even_rows(22, 8, 4, SEQUENCE_CLASSIFICATION, "regression")


def test_modes_and_the_single_world():
    assert single("auto", "numpy") == World() and World().is_main and not World().distributed
    with pytest.raises(ConfigError, match="--distributed 'yes' is not one of auto, off, on"):
        check_mode("yes")
    with pytest.raises(ConfigError, match="--distributed on: the numpy backend found a single device"):
        single("on", "numpy")
    with pytest.raises(ConfigError, match="--distributed"):
        albert_core.finetune(task="text-classification", model="random:tiny", train="t.jsonl", output_dir="o",
                             distributed="many")
