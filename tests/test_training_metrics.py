"""albert_core.training.metrics: hand-computed values (the arithmetic is in the comments), conlleval chunking, and
the argument checks. NumPy only; the scipy/sklearn cross-checks at the end skip where those are not installed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from albert_core.errors import ConfigError, InputError
from albert_core.training import metrics as M


def chunks(tags: list[str]) -> list[tuple[int, int, str]]:
    """The (start, end exclusive, type) entities of one sentence."""
    return M._chunks([M.parse_tag(t) for t in tags])


def one_hot(ids: list, num: int) -> np.ndarray:
    """Logits whose argmax is `ids` (along a new last axis of size `num`)."""
    return np.eye(num)[np.asarray(ids)] * 5.0 - 1.0


# --- accuracy, macro F1 ------------------------------------------------------------------------------------------

def test_accuracy():
    assert M.accuracy([0, 1, 2, 1], [0, 2, 2, 1]) == 0.75  # positions 0, 2, 3 right: 3/4
    assert M.accuracy([1, 1], [1, 1]) == 1.0
    assert M.accuracy([0, 0], [1, 1]) == 0.0
    assert M.accuracy(["a", "b"], ["a", "c"]) == 0.5  # any comparable values


def test_macro_f1_hand_computed():
    # preds [0,0,1,1,2] labels [0,1,1,1,0]; per class F1 = 2tp / (2tp + fp + fn):
    # class 0: tp 1 (pos 0), fp 1 (pos 1), fn 1 (pos 4) -> 2/4 = 0.5   (P 1/2, R 1/2)
    # class 1: tp 2 (pos 2, 3), fp 0, fn 1 (pos 1)      -> 4/5 = 0.8   (P 1, R 2/3)
    # class 2: tp 0, fp 1 (pos 4), fn 0                  -> 0          (P 0, R 0/0 = 0)
    # class 3: never true or predicted -> skipped. Mean (0.5 + 0.8 + 0) / 3 = 0.4333...
    assert M.macro_f1([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], num_classes=4) == pytest.approx(1.3 / 3)


def test_macro_f1_perfect_zero_and_absent_classes():
    assert M.macro_f1([0, 0, 2], [0, 0, 2], 3) == 1.0  # class 1 absent: skipped (as 0 it would give 2/3)
    assert M.macro_f1([1, 0], [0, 1], 2) == 0.0  # both classes: tp 0 -> F1 0


def test_macro_f1_errors():
    with pytest.raises(ConfigError, match=r"num_classes 0 is not supported; use a positive integer"):
        M.macro_f1([0], [0], 0)
    with pytest.raises(InputError, match=r"labels has value 3 at position \(1,\), outside the valid range \[0, 3\)"):
        M.macro_f1([0, 1], [0, 3], 3)
    with pytest.raises(InputError, match=r"predictions must hold integer class ids, got dtype float64"):
        M.macro_f1([0.0, 1.0], [0, 1], 2)
    with pytest.raises(InputError, match=r"predictions has shape \(2,\) but labels has shape \(3,\)"):
        M.macro_f1([0, 1], [0, 1, 1], 2)


# --- correlations ------------------------------------------------------------------------------------------------

def test_pearson_hand_computed():
    # x - mean = [-1.5, -.5, .5, 1.5], y - mean (5) = [-3, -1, 0, 4]
    # sum of products 4.5 + .5 + 0 + 6 = 11; sums of squares 5 and 9 + 1 + 0 + 16 = 26 -> r = 11 / sqrt(130)
    assert M.pearson([1, 2, 3, 4], [2, 4, 5, 9]) == pytest.approx(11 / math.sqrt(130))
    assert M.pearson([1, 2, 3], [3, 5, 7]) == pytest.approx(1.0)
    assert M.pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert M.pearson([1e200, 2e200, 3e200], [1, 2, 4]) == pytest.approx(M.pearson([1, 2, 3], [1, 2, 4]))  # no overflow


def test_spearman_ties():
    # x [1,2,2,3] ranks [1, 2.5, 2.5, 4] (the tied 2s share ranks 2 and 3); y [1,3,2,4] ranks [1,3,2,4]
    # centred: [-1.5, 0, 0, 1.5] and [-1.5, .5, -.5, 1.5]; products 2.25 + 0 + 0 + 2.25 = 4.5;
    # squares 4.5 and 5 -> r = 4.5 / sqrt(22.5) = sqrt(0.9)
    assert M.spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(math.sqrt(0.9))
    # sorted 10,10 | 20,20,20 | 30 hold ranks 1-2, 3-5, 6 -> means 1.5, 4, 6
    np.testing.assert_array_equal(M._ranks(np.array([10, 20, 10, 30, 20, 20.0])), [1.5, 4, 1.5, 6, 4, 4])
    assert M.spearman([1, 2, 3, 4], [1, 8, 27, 64]) == 1.0  # monotone: ranks equal, though Pearson < 1
    assert M.spearman([1, 2, 3], [9, 5, 0]) == -1.0


def test_constant_or_nan_input_is_nan():
    for fn in (M.pearson, M.spearman):
        assert math.isnan(fn([1, 1, 1], [1, 2, 3]))
        assert math.isnan(fn([1, 2, 3], [0.1, 0.1, 0.1]))  # 0.1 is not exact: still constant, not rounding noise
        assert math.isnan(fn([5], [7]))  # one point is constant
        assert math.isnan(fn([1, 2, float("nan")], [1, 2, 3]))


def test_correlation_errors():
    with pytest.raises(InputError, match=r"x is empty \(shape \(0,\)\); expected a 1-D array \[N\]"):
        M.pearson([], [])
    with pytest.raises(InputError, match=r"x has shape \(3,\) but y has shape \(2,\)"):
        M.spearman([1, 2, 3], [1, 2])
    with pytest.raises(InputError, match=r"y has shape \(2, 1\) but must be a 1-D array \[N\]"):
        M.pearson([1, 2], [[1], [2]])
    with pytest.raises(InputError, match=r"x must hold real numbers, got dtype <U1"):
        M.pearson(["a", "b"], [1, 2])


# --- chunking ----------------------------------------------------------------------------------------------------

def test_chunks_iob2_and_iob1():
    assert chunks(["B-PER", "I-PER", "O", "B-LOC"]) == [(0, 2, "PER"), (3, 4, "LOC")]  # B-I continues
    assert chunks(["I-PER", "I-PER", "O", "I-LOC"]) == [(0, 2, "PER"), (3, 4, "LOC")]  # I after O (or first) starts
    assert chunks(["B-PER", "B-PER", "I-PER"]) == [(0, 1, "PER"), (1, 3, "PER")]  # B starts a new one
    assert chunks(["I-PER", "B-PER"]) == [(0, 1, "PER"), (1, 2, "PER")]  # IOB1's B between same-type entities


def test_chunks_type_change_mid_run():
    assert chunks(["B-PER", "I-PER", "I-LOC", "I-LOC"]) == [(0, 2, "PER"), (2, 4, "LOC")]
    assert chunks(["B-PER", "E-LOC"]) == [(0, 1, "PER"), (1, 2, "LOC")]


def test_chunks_bioes():
    tags = ["B-PER", "E-PER", "S-LOC", "O", "B-ORG", "I-ORG", "E-ORG", "S-LOC", "S-LOC"]
    assert chunks(tags) == [(0, 2, "PER"), (2, 3, "LOC"), (4, 7, "ORG"), (7, 8, "LOC"), (8, 9, "LOC")]
    assert chunks(["E-PER", "I-PER"]) == [(0, 1, "PER"), (1, 2, "PER")]  # I after E starts anew
    assert chunks(["O", "E-PER", "O"]) == [(1, 2, "PER")]  # a lone E is a one-token entity
    assert chunks(["S-PER", "I-PER", "E-PER"]) == [(0, 1, "PER"), (1, 3, "PER")]


def test_chunks_end_of_sentence_bare_and_hyphenated_tags():
    assert chunks(["O", "B-PER", "I-PER"]) == [(1, 3, "PER")]  # closed by the end of the sentence
    assert chunks(["B-PER"]) == [(0, 1, "PER")]
    assert chunks(["O", "O"]) == []
    assert chunks(["PER", "PER", "O", "LOC", "MISC"]) == [(0, 2, "PER"), (3, 4, "LOC"), (4, 5, "MISC")]  # IO: I-X
    assert chunks(["B-DATE-TIME", "I-DATE-TIME"]) == [(0, 2, "DATE-TIME")]  # split at the first hyphen


# --- entity_scores -----------------------------------------------------------------------------------------------

def test_entity_scores_micro():
    gold = [["B-PER", "I-PER", "O", "B-LOC", "O"], ["B-ORG", "O", "S-MISC"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG", "O"], ["B-ORG", "O", "O"]]
    # gold entities PER(0,2) LOC(3,4) | ORG(0,1) MISC(2,3) = 4; predicted PER(0,2) ORG(3,4) | ORG(0,1) = 3;
    # right: PER(0,2), ORG(0,1) = 2 -> P 2/3, R 2/4, F1 = 2 * (2/3)(1/2) / (2/3 + 1/2) = (2/3) / (7/6) = 4/7
    # tokens: sentence 0 wrong at 3, sentence 1 wrong at 2 -> 6/8 right
    scores = M.entity_scores(pred, gold)
    assert scores == pytest.approx({"precision": 2 / 3, "recall": 0.5, "f1": 4 / 7, "accuracy": 0.75})
    assert all(type(v) is float for v in scores.values())


def test_entity_scores_need_exact_boundaries_and_type():
    # PER(0,3) vs PER(0,2): a partial overlap is wrong; a wrong type is wrong
    assert M.entity_scores([["B-PER", "I-PER", "O"]], [["B-PER", "I-PER", "I-PER"]])["f1"] == 0.0
    assert M.entity_scores([["B-LOC"]], [["B-PER"]]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                                         "accuracy": 0.0}


def test_entity_scores_schemes_compare_by_entity():
    # IOB1 prediction of IOB2 gold: the same entities (F1 1), but tokens 0 and 3 are different tags (accuracy 2/4)
    scores = M.entity_scores([["I-PER", "I-PER", "O", "I-LOC"]], [["B-PER", "I-PER", "O", "B-LOC"]])
    assert scores == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "accuracy": 0.5}
    # a bare tag is its I- tag, for accuracy too
    assert M.entity_scores([["PER", "O"]], [["I-PER", "O"]]) == {"precision": 1.0, "recall": 1.0, "f1": 1.0,
                                                                  "accuracy": 1.0}


def test_entity_scores_no_entities_and_sentence_boundaries():
    # nothing true or predicted: P, R and F1 are 0/0 -> 0 (conlleval), every token right
    assert M.entity_scores([["O", "O"]], [["O", "O"]]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                                            "accuracy": 1.0}
    # an entity never runs across sentences: I-PER after a sentence break starts a second one, so a gold of one
    # two-token PER written as two sentences has 2 entities; the prediction finds one of them: P 1/1, R 1/2, F1 2/3
    scores = M.entity_scores([["B-PER"], ["O"]], [["B-PER"], ["I-PER"]])
    assert scores == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "accuracy": 0.5})
    assert M.entity_scores([[], ["B-PER"]], [[], ["B-PER"]])["f1"] == 1.0  # an empty sentence is allowed


@pytest.mark.parametrize("tag", ["L-PER", "U-PER", "b-PER", "B-", "-PER", "O-PER", ""])
def test_entity_scores_refuse_unknown_schemes(tag):
    with pytest.raises(InputError, match=r"predicted\[0\]\[1\]: tag .* is not a tag of a supported scheme"):
        M.entity_scores([["O", tag]], [["O", "O"]])


def test_entity_scores_errors():
    with pytest.raises(InputError, match=r"gold\[0\]\[0\]: tag 5 is not a tag"):
        M.entity_scores([["O"]], [[5]])
    with pytest.raises(InputError, match=r"predicted\[0\] must be a sequence of tag strings, got 'B-PER'"):
        M.entity_scores(["B-PER"], [["B-PER"]])
    with pytest.raises(InputError, match=r"predicted must be a sequence of sentences"):
        M.entity_scores("O O", [["O"]])
    with pytest.raises(InputError, match=r"predicted has 2 sentences but gold has 1"):
        M.entity_scores([["O"], ["O"]], [["O"]])
    with pytest.raises(InputError, match=r"sentence 0 has 1 predicted tags but 2 gold tags"):
        M.entity_scores([["O"]], [["O", "O"]])
    with pytest.raises(InputError, match=r"gold is empty \(0 sentences\)"):
        M.entity_scores([], [])
    with pytest.raises(InputError, match=r"there are no tokens to score"):
        M.entity_scores([[]], [[]])


# --- classification_metrics --------------------------------------------------------------------------------------

def test_single_label():
    logits = [[2, 1, 0], [0, 3, 1], [1, 0, 0.5], [0, 0, 5]]  # argmax [0, 1, 0, 2]
    # labels [0, 1, 2, 2]: accuracy 3/4; F1 class 0: tp 1 fp 1 fn 0 -> 2/3; class 1: 1; class 2: tp 1 fp 0 fn 1
    # -> 2/3; macro (2/3 + 1 + 2/3) / 3 = 7/9
    out = M.classification_metrics(np.array(logits), np.array([0, 1, 2, 2]), "single_label_classification")
    assert out == pytest.approx({"accuracy": 0.75, "f1": 7 / 9})
    assert all(type(v) is float for v in out.values())
    with pytest.raises(InputError, match=r"labels has value 3 at position \(0,\), outside the valid range \[0, 3\)"):
        M.classification_metrics(np.array(logits), np.array([3, 1, 2, 2]), "single_label_classification")
    with pytest.raises(InputError, match=r"logits has shape \(4,\) but must be \[N, num_labels\]"):
        M.classification_metrics(np.zeros(4), np.zeros(4, int), "single_label_classification")
    with pytest.raises(InputError, match=r"logits has shape \(4, 3\) but labels has shape \(3,\)"):
        M.classification_metrics(np.array(logits), np.array([0, 1, 2]), "single_label_classification")


def test_regression_n_by_1():
    # errors 1-2, 2-4, 3-5, 4-9 = -1, -2, -2, -5 -> mse (1 + 4 + 4 + 25) / 4 = 8.5; Pearson 11 / sqrt(130) as in
    # test_pearson_hand_computed; y is increasing, so the ranks match: Spearman 1
    expected = {"pearson": 11 / math.sqrt(130), "spearman": 1.0, "mse": 8.5}
    logits = np.array([[1.0], [2.0], [3.0], [4.0]], dtype=np.float32)
    assert M.classification_metrics(logits, np.array([2, 4, 5, 9.0]), "regression") == pytest.approx(expected)
    assert M.classification_metrics(logits[:, 0], np.array([[2], [4], [5], [9.0]]), "regression") == \
        pytest.approx(expected)
    with pytest.raises(InputError, match=r"logits has shape \(4, 2\) but must be \[N\] or \[N, 1\] for regression"):
        M.classification_metrics(np.zeros((4, 2)), np.zeros(4), "regression")
    with pytest.raises(InputError, match=r"logits has shape \(4,\) but labels has shape \(3,\)"):
        M.classification_metrics(np.zeros(4), np.zeros(3), "regression")


def test_multi_label_threshold_at_zero():
    logits = np.array([[1.0, -1.0, 0.0], [2.0, 3.0, -0.5]])
    labels = np.array([[1, 0, 0], [1, 0, 1]], dtype=np.float32)
    # predicted (logit > 0): [1,0,0] and [1,1,0]; row 0 all right, row 1 not -> subset accuracy 1/2
    # tp (0,0) (1,0) = 2; fp (1,1) = 1; fn (1,2) = 1 -> micro F1 2*2 / (2*2 + 1 + 1) = 2/3
    out = M.classification_metrics(logits, labels, "multi_label_classification")
    assert out == pytest.approx({"accuracy": 0.5, "f1": 2 / 3})
    # exactly 0 is probability 0.5: not predicted; just above is
    assert M.classification_metrics([[0.0]], [[1]], "multi_label_classification") == {"accuracy": 0.0, "f1": 0.0}
    assert M.classification_metrics([[1e-6]], [[1]], "multi_label_classification") == {"accuracy": 1.0, "f1": 1.0}
    # nothing true, nothing predicted: every row right, F1 0/0 -> 0
    assert M.classification_metrics([[-1, -2]], [[0, 0]], "multi_label_classification") == {"accuracy": 1.0,
                                                                                           "f1": 0.0}
    labels_bool = labels.astype(bool)  # bool labels are 0/1 too
    assert M.classification_metrics(logits, labels_bool, "multi_label_classification") == pytest.approx(out)


def test_multi_label_errors():
    with pytest.raises(InputError, match=r"labels has value 0.5 at position \(0, 1\); .* must be 0 or 1"):
        M.classification_metrics([[1, 1]], [[1, 0.5]], "multi_label_classification")
    with pytest.raises(InputError, match=r"logits has shape \(1, 2\) but labels has shape \(1, 3\)"):
        M.classification_metrics([[1, 1]], [[1, 0, 0]], "multi_label_classification")


@pytest.mark.parametrize("problem", [None, "classification", "Regression"])
def test_unknown_problem_type(problem):
    with pytest.raises(ConfigError, match=r"problem_type .* is not supported; use one of \('regression'"):
        M.classification_metrics([[1.0]], [0], problem)


def test_nan_logits_give_nan():
    out = M.classification_metrics([[np.nan, 1.0], [0.0, 1.0]], [1, 1], "single_label_classification")
    assert set(out) == {"accuracy", "f1"} and all(math.isnan(v) for v in out.values())
    out = M.classification_metrics([[np.nan], [1.0]], [[1], [0]], "multi_label_classification")
    assert all(math.isnan(v) for v in out.values())
    assert all(math.isnan(v) for v in M.classification_metrics([np.nan, 1, 2], [1, 2, 3], "regression").values())
    assert math.isnan(M.choice_metrics([[np.nan, 0.0]], [0])["accuracy"])


# --- token classification ----------------------------------------------------------------------------------------

NAMES = ["O", "B-PER", "I-PER", "B-LOC"]


def test_token_classification_masks_ignored_positions():
    # sentence 0: [CLS] John Smith [SEP] -> labels [-100, B-PER, I-PER, -100]; predicted B-LOC, B-PER, I-PER, B-PER
    # sentence 1: [CLS] in Paris [PAD]   -> labels [-100, O, B-LOC, -100];      predicted O, O, B-PER, B-LOC
    labels = np.array([[-100, 1, 2, -100], [-100, 0, 3, -100]])
    logits = one_hot([[3, 1, 2, 1], [0, 0, 1, 3]], 4)
    # kept: predicted [B-PER, I-PER] | [O, B-PER]; gold [B-PER, I-PER] | [O, B-LOC]
    # gold PER, LOC; predicted PER (right), PER (wrong) -> P 1/2, R 1/2, F1 1/2; tokens 3 of 4 right
    # (unmasked, the B-LOC/B-PER predicted on [CLS]/[SEP] would count as 3 more wrong entities)
    out = M.token_classification_metrics(logits, labels, NAMES)
    assert out == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "accuracy": 0.75}
    assert all(type(v) is float for v in out.values())
    perfect = M.token_classification_metrics(one_hot([[0, 1, 2, 0], [0, 0, 3, 0]], 4), labels, NAMES)
    assert perfect == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "accuracy": 1.0}


def test_token_classification_errors():
    logits, labels = np.zeros((2, 4, 4)), np.zeros((2, 4), dtype=np.int64)
    with pytest.raises(ConfigError, match=r"label_names has 3 names but logits has 4 labels \(shape \(2, 4, 4\)\)"):
        M.token_classification_metrics(logits, labels, NAMES[:3])
    with pytest.raises(ConfigError, match=r"label_names\[2\]: tag 'L-PER' is not a tag of a supported scheme"):
        M.token_classification_metrics(logits, labels, ["O", "B-PER", "L-PER", "U-PER"])
    with pytest.raises(ConfigError, match=r"label_names must be a sequence of tag strings"):
        M.token_classification_metrics(logits, labels, "OBIB")
    with pytest.raises(InputError, match=r"labels has shape \(2, 3\) but logits has shape \(2, 4, 4\); labels must"):
        M.token_classification_metrics(logits, labels[:, :3], NAMES)
    with pytest.raises(InputError, match=r"labels has value -1 at position \(1, 2\), outside .*\[0, 4\) or -100"):
        M.token_classification_metrics(logits, np.array([[0, 0, 0, 0], [0, 0, -1, 4]]), NAMES)
    with pytest.raises(InputError, match=r"there are no tokens to score .* every label is -100"):
        M.token_classification_metrics(logits, np.full((2, 4), -100), NAMES)
    with pytest.raises(InputError, match=r"logits has shape \(2, 4\) but must be \[N, seq, num_labels\]"):
        M.token_classification_metrics(logits[..., 0], labels, NAMES)


# --- multiple choice, language model -----------------------------------------------------------------------------

def test_choice_metrics():
    # argmax [1, 0, 1] against [1, 1, 1]: 2/3
    assert M.choice_metrics([[0.1, 0.9], [2, 1], [0, 0.5]], [1, 1, 1]) == pytest.approx({"accuracy": 2 / 3})
    with pytest.raises(InputError, match=r"labels has value 2 at position \(0,\), outside the valid range \[0, 2\)"):
        M.choice_metrics([[0.1, 0.9]], [2])
    with pytest.raises(InputError, match=r"logits has shape \(1, 2\) but labels has shape \(2,\)"):
        M.choice_metrics([[0.1, 0.9]], [0, 1])


def test_language_model_metrics():
    assert M.language_model_metrics(0.0) == {"loss": 0.0, "perplexity": 1.0}
    assert M.language_model_metrics(math.log(20))["perplexity"] == pytest.approx(20.0)
    out = M.language_model_metrics(np.float32(2.0))
    assert type(out["loss"]) is float and out["perplexity"] == pytest.approx(math.e ** 2)
    assert M.language_model_metrics(1000.0)["perplexity"] == math.inf  # exp overflows past ~709.78
    assert math.isnan(M.language_model_metrics(float("nan"))["perplexity"])
    with pytest.raises(InputError, match=r"mean_loss is -1.0 but a cross-entropy is never negative"):
        M.language_model_metrics(-1.0)
    with pytest.raises(InputError, match=r"mean_loss must be a number, got '2'"):
        M.language_model_metrics("2")


# --- best checkpoint ---------------------------------------------------------------------------------------------

def test_higher_is_better_covers_every_metric():
    outputs = [M.classification_metrics([[1.0, 0.0]], [0], "single_label_classification"),
               M.classification_metrics([1.0, 2.0], [1.0, 3.0], "regression"),
               M.token_classification_metrics(one_hot([[1]], 4), np.array([[1]]), NAMES),
               M.choice_metrics([[0.0, 1.0]], [1]), M.language_model_metrics(1.0)]
    names = {name for out in outputs for name in out}
    assert names <= set(M.HIGHER_IS_BETTER)
    assert M.HIGHER_IS_BETTER["loss"] is False and M.HIGHER_IS_BETTER["mse"] is False
    assert M.HIGHER_IS_BETTER["perplexity"] is False and M.HIGHER_IS_BETTER["f1"] is True


def test_is_better():
    nan = float("nan")
    assert M.is_better("accuracy", 0.8, None) and M.is_better("accuracy", 0.8, 0.7)
    assert not M.is_better("accuracy", 0.7, 0.8)
    assert not M.is_better("accuracy", 0.8, 0.8)  # a tie keeps the earlier checkpoint
    assert M.is_better("loss", 1.0, 2.0) and not M.is_better("loss", 2.0, 1.0)
    assert not M.is_better("accuracy", nan, None) and not M.is_better("loss", nan, 1.0)  # nan is never better
    assert M.is_better("pearson", -0.5, nan) and M.is_better("loss", 1e9, nan)  # anything beats nan
    with pytest.raises(ConfigError, match=r"metric 'eval_f1' is not known; use one of \['accuracy', 'exact_match'"):
        M.is_better("eval_f1", 1.0, None)


# --- cross-checks against reference implementations (skipped where not installed) --------------------------------

def test_correlations_match_scipy():
    from scipy import stats  # the tests session installs the references
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 5, 50).astype(float), rng.normal(size=50)  # many ties in x
    assert M.pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0])
    assert M.spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0])


def test_macro_f1_matches_sklearn():
    from sklearn import metrics as skm
    rng = np.random.default_rng(0)
    p, y = rng.integers(0, 6, 200), rng.integers(0, 5, 200)  # class 5 only predicted
    assert M.macro_f1(p, y, 7) == pytest.approx(skm.f1_score(y, p, average="macro"))
