"""Question answering for fine-tuning (core only): SQuAD records -> windows with span labels, logits -> answer
texts, SQuAD's EM/F1."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from albert_core.errors import ConfigError, DataError, InputError
from albert_core.tasks import QUESTION_ANSWERING, SEQUENCE_CLASSIFICATION
from albert_core.tokenizer import AlbertTokenizer
from albert_core.training.squad import encode_question_answering, normalize_answer, postprocess, squad_metrics

OFFICIAL_MODEL = Path(__file__).resolve().parents[1].parent / "shared/assets/albert-30k/spiece.model"

PARAGRAPHS = [
    "The river rises in the northern hills, where spring rain gathers in narrow valleys before it reaches the "
    "plain. Farmers along its banks have grown wheat and barley there for more than a thousand years.",
    "In 1887 the town council voted to build a stone bridge across the river, replacing the wooden ferry that had "
    "carried travellers since the Middle Ages. The bridge was finished in 1892 and still carries traffic today.",
    "The old mill near the bridge was turned into a museum in 1975. Its collection includes farming tools, "
    "photographs of the flood of 1921, and a working water wheel that visitors can watch on summer afternoons.",
    "Every autumn the town holds a market in the main square. Traders come from the coast with salted fish and "
    "from the mountains with cheese, honey and wool, and the market lasts for three days.",
]
LONG_CONTEXT = " ".join(PARAGRAPHS)


@dataclass
class Rec:
    fields: dict
    where: str = "train.jsonl line 3"


def rec(question: str, context: str, answer: str | None = None, **extra) -> Rec:
    fields = {"question": question, "context": context, **extra}
    if answer is not None:
        fields["answers"] = {"text": [answer], "answer_start": [context.index(answer)]}
    return Rec(fields)


@pytest.fixture(scope="module")
def tok() -> AlbertTokenizer:
    return AlbertTokenizer(str(OFFICIAL_MODEL))


def labelled_text(tok: AlbertTokenizer, row: dict) -> str:
    return tok.decode(row["input_ids"][int(row["start_positions"]):int(row["end_positions"]) + 1].tolist())


def test_labels_land_on_the_answer_tokens(tok):
    cases = [("When was the bridge finished?", PARAGRAPHS[1], "1892"),
             ("What did the bridge replace?", PARAGRAPHS[1], "the wooden ferry"),
             ("What grows along the banks?", PARAGRAPHS[0], "wheat and barley"),
             ("Where does the river rise?", PARAGRAPHS[0], "in the northern hills,"),
             ("What can visitors watch?", PARAGRAPHS[2], "a working water wheel"),
             ("When did the bridge open?", PARAGRAPHS[1], " 1892 ")]  # spaces around it: no token covers them
    records = [rec(q, c, a) for q, c, a in cases]
    features = encode_question_answering(records, tok, max_seq_length=128, doc_stride=32)
    assert features.task == QUESTION_ANSWERING and len(features) == len(cases)  # each fits one window
    assert features.example_index.tolist() == list(range(len(cases)))
    assert features.meta["answers"] == [[a] for _, _, a in cases] and features.meta["ids"] == list("012345")
    for row, (_, _, answer) in zip(features.rows, cases):
        assert normalize_answer(labelled_text(tok, row)) == normalize_answer(answer)
        assert all(row[name].dtype == np.int64 for name in row)
        assert row["start_positions"].shape == () and row["attention_mask"].tolist() == [1] * len(row["input_ids"])
    # The rows are the tokenizer's own pair encoding; offsets are kept for context tokens only.
    enc = tok([q for q, _, _ in cases], [c for _, c, _ in cases], truncation="only_second", max_length=128,
              return_offsets_mapping=True, return_tensors=None)
    for index, row in enumerate(features.rows):
        assert row["input_ids"].tolist() == enc["input_ids"][index]
        assert row["token_type_ids"].tolist() == enc["token_type_ids"][index]
        sequence = enc.sequence_ids(index)
        assert features.meta["offsets"][index] == [tuple(o) if s == 1 else None
                                                   for o, s in zip(enc["offset_mapping"][index], sequence)]


def test_a_long_context_becomes_windows_with_the_answer_in_some(tok):
    answer = "salted fish"
    record = rec("What do traders from the coast bring?", LONG_CONTEXT, answer)
    features = encode_question_answering([record], tok, max_seq_length=48, doc_stride=12)
    rows = features.rows
    assert len(rows) > 4 and features.example_index.tolist() == [0] * len(rows)
    assert all(len(row["input_ids"]) <= 48 for row in rows)
    enc = tok(record.fields["question"], LONG_CONTEXT, truncation="only_second", max_length=48, stride=12,
              return_overflowing_tokens=True, return_tensors=None)
    assert [row["input_ids"].tolist() for row in rows] == enc["input_ids"]  # the tokenizer's window boundaries
    hits = [i for i, row in enumerate(rows) if row["start_positions"] != 0]
    assert hits and len(hits) < len(rows)
    for i, row in enumerate(rows):
        if i in hits:
            assert normalize_answer(labelled_text(tok, row)) == normalize_answer(answer)
            assert 0 < row["start_positions"] <= row["end_positions"] < len(row["input_ids"]) - 1
        else:  # the answer is outside the window's context, or only partly inside: [CLS]
            assert row["end_positions"] == 0
            start = LONG_CONTEXT.index(answer)
            offsets = [o for o in features.meta["offsets"][i] if o is not None]
            assert offsets[0][0] > start or offsets[-1][1] < start + len(answer)


def test_long_questions_are_cut_and_records_mix_window_counts(tok):
    question = "Which of the traders that come to the market in the main square every autumn brings wool?"
    question_ids = tok(question, add_special_tokens=False, return_tensors=None)["input_ids"]
    short = rec("When did the mill become a museum?", PARAGRAPHS[2], "1975")
    long = rec(question, LONG_CONTEXT, "cheese, honey and wool")
    features = encode_question_answering([short, long], tok, max_seq_length=64, doc_stride=16, max_query_length=8)
    assert len(question_ids) > 8
    assert features.example_index.tolist()[0] == 0 and set(features.example_index.tolist()[1:]) == {1}
    for row, index in zip(features.rows, features.example_index):
        types = row["token_type_ids"].tolist()
        if index == 1:  # [CLS], the first 8 question tokens, [SEP]
            assert types.index(1) == 8 + 2 and row["input_ids"][1:9].tolist() == question_ids[:8]
    assert any(normalize_answer(labelled_text(tok, row)) == "cheese honey and wool" for row in features.rows[1:])
    assert normalize_answer(labelled_text(tok, features.rows[0])) == "1975"


def test_unanswerable_records_and_answer_forms(tok):
    context = PARAGRAPHS[3]
    records = [Rec({"question": "Who founded the town?", "context": LONG_CONTEXT,
                    "answers": {"text": [], "answer_start": []}, "id": "q-empty"}),
               Rec({"question": "How long does the market last?", "context": context,
                    "answers": [{"text": "three days", "answer_start": context.index("three days")}], "id": 7}),
               Rec({"question": "Where is the market?", "context": context, "answers": [], "id": "q-list"}),
               Rec({"question": "What is sold?", "context": context,  # numpy lists, as from a datasets table
                    "answers": {"text": np.array(["cheese", "honey"]),
                                "answer_start": np.array([context.index("cheese"), context.index("honey")])}})]
    features = encode_question_answering(records, tok, max_seq_length=48, doc_stride=8)
    assert features.meta["ids"] == ["q-empty", "7", "q-list", "3"]
    assert features.meta["answers"] == [[], ["three days"], [], ["cheese", "honey"]]
    index = features.example_index
    assert (index == 0).sum() > 1
    for row, owner in zip(features.rows, index):
        if owner in (0, 2):
            assert row["start_positions"] == row["end_positions"] == 0
    first = [features.rows[i] for i in np.flatnonzero(index == 1)]
    assert any(normalize_answer(labelled_text(tok, row)) == "three days" for row in first)
    cheese = [features.rows[i] for i in np.flatnonzero(index == 3)]  # the first gold answer is the label
    assert any(normalize_answer(labelled_text(tok, row)) == "cheese" for row in cheese)


def test_evaluation_sets_may_omit_answers_in_every_record(tok):
    records = [rec("When was the bridge finished?", PARAGRAPHS[1]), rec("What is in the museum?", PARAGRAPHS[2])]
    features = encode_question_answering(records, tok, max_seq_length=64, doc_stride=16)
    assert features.meta["answers"] is None and features.meta["contexts"] == [PARAGRAPHS[1], PARAGRAPHS[2]]
    assert all("start_positions" not in row and "end_positions" not in row for row in features.rows)
    assert len(encode_question_answering([], tok, max_seq_length=64, doc_stride=16)) == 0


CONTEXT = PARAGRAPHS[1]
GOOD = {"question": "When?", "context": CONTEXT}


@pytest.mark.parametrize("fields, message", [
    ({"context": CONTEXT}, r"'question' is missing \(the record has \['context'\]\).*'question' and 'context'"),
    ({**GOOD, "question": 5}, r"'question' must be a str, got int 5; give the text"),
    ({**GOOD, "question": "   "}, r"'question' is empty \('   '\); give a non-empty question"),
    ({**GOOD, "context": ""}, r"'context' is empty"),
    ({**GOOD, "context": ["a", "b"]}, r"'context' must be a str, got list \['a', 'b'\]"),
    ({**GOOD, "question": "\x01\x02"}, r"'question' has no tokens \('\\x01\\x02'\); give a question with words"),
    ({**GOOD, "answers": "1892"}, r"'answers' must be a dict with 'text' and 'answer_start' lists, got '1892'"),
    ({**GOOD, "answers": [{"text": "1892"}]}, r"'answers' has entries without 'text' and 'answer_start'"),
    ({**GOOD, "answers": {"text": "1892", "answer_start": 3}},
     r"'answers' needs lists under 'text' and 'answer_start', got '1892' and 3"),
    ({**GOOD, "answers": {"text": ["1892", "1887"], "answer_start": [3]}},
     r"'answers' has 2 text\(s\) but 1 answer_start\(s\).*give one answer_start per answer text"),
    ({**GOOD, "answers": {"text": ["1887"], "answer_start": [-1]}},
     r"'answers' has answer_start\[0\]=-1, outside the context: an answer of 4 characters in a context of 215 "
     r"starts in \[0, 211\]; give the character offset"),
    ({**GOOD, "answers": {"text": ["1887"], "answer_start": [213]}},
     r"'answers' has answer_start\[0\]=213, outside the context"),
    ({**GOOD, "answers": {"text": ["1887"], "answer_start": [True]}},
     r"'answers' has answer_start\[0\]=True, not an int; give"),
    ({**GOOD, "answers": {"text": ["1887"], "answer_start": [3.0]}},
     r"'answers' has answer_start\[0\]=3.0, not an int"),
    ({**GOOD, "answers": {"text": [" "], "answer_start": [2]}},
     r"'answers' has text\[0\]=' ', not a non-empty str; give the answer's text"),
    ({**GOOD, "answers": {"text": ["1887"], "answer_start": [4]}},
     r"'answers' has answer '1887', which is not in its context at answer_start=4 \(the context there reads "
     r"'887 '\); fix answer_start"),
    ({**GOOD, "id": 1.5}, r"'id' must be a str or int, got 1.5; give each record a unique id"),
])
def test_bad_records_are_data_errors_naming_the_record(tok, fields, message):
    assert len(CONTEXT) == 215 and CONTEXT.index("1887") == 3
    with pytest.raises(DataError, match=r"^train\.jsonl line 3: field " + message):
        encode_question_answering([Rec(fields)], tok, max_seq_length=64, doc_stride=16)


def test_answers_in_some_records_only_and_duplicate_ids(tok):
    with pytest.raises(DataError, match=r"^b line 2: field 'answers' is missing, but a line 1 has answers; give "
                                        r"answers in every record"):
        encode_question_answering([Rec({**GOOD, "answers": []}, "a line 1"), Rec(GOOD, "b line 2")], tok,
                                  max_seq_length=64, doc_stride=16)
    with pytest.raises(DataError, match=r"^b line 2: field 'id' 'x' is also the id of a line 1"):
        encode_question_answering([Rec({**GOOD, "id": "x"}, "a line 1"), Rec({**GOOD, "id": "x"}, "b line 2")], tok,
                                  max_seq_length=64, doc_stride=16)


@pytest.mark.parametrize("options, message", [
    ({"max_seq_length": 20, "doc_stride": 16}, r"max_seq_length=20 leaves 16 context tokens per window after a "
                                               r"question of 1 token\(s\) and 3 special tokens, which must be more "
                                               r"than doc_stride=16; raise max_seq_length or lower doc_stride$"),
    ({"max_seq_length": 128, "doc_stride": 100}, r"max_seq_length=128 leaves 61 context tokens per window after "
                                                 r"a question of 64 "
                              r"token\(s\) \(train.jsonl line 3\) and 3 special tokens, which must be more than "
                              r"doc_stride=100; raise max_seq_length or lower doc_stride or max_query_length=64"),
    ({"max_seq_length": 3, "doc_stride": 0}, r"leaves 0 context tokens"),
    ({"max_seq_length": True}, r"max_seq_length must be an int >= 1, got True"),
    ({"max_seq_length": 384, "doc_stride": -1}, r"doc_stride must be an int >= 0, got -1"),
    ({"max_seq_length": 384, "max_query_length": 0}, r"max_query_length must be an int >= 1, got 0"),
])
def test_bad_options_are_config_errors(tok, options, message):
    with pytest.raises(ConfigError, match=message):
        encode_question_answering([Rec({**GOOD, "question": " ".join(["when"] * 80)})], tok, **options)


@pytest.fixture(scope="module")
def windowed(tok):
    records = [rec("What do traders from the coast bring?", LONG_CONTEXT, "salted fish"),
               rec("When was the bridge finished?", PARAGRAPHS[1], "1892")]
    return encode_question_answering(records, tok, max_seq_length=48, doc_stride=12)


def peaked(features, spans: dict[int, tuple[int, int, float]], cls: dict[int, float] | None = None, pad: int = 0):
    """Logits of -5 everywhere but `spans` (row -> (start, end, logit)) and [CLS] (row -> each of its logits)."""
    starts, ends = [], []
    for row, offsets in enumerate(features.meta["offsets"]):
        start, end = np.full(len(offsets) + pad, -5.0), np.full(len(offsets) + pad, -5.0)
        if row in spans:
            s, e, value = spans[row]
            start[s], end[e] = value, value
        start[0] = end[0] = (cls or {}).get(row, -10.0)
        starts.append(start)
        ends.append(end)
    return starts, ends


def context_tokens(features, row):
    return [i for i, o in enumerate(features.meta["offsets"][row]) if o is not None]


def test_postprocess_recovers_the_span_across_windows(windowed):
    rows = windowed.rows
    hits = [i for i in range(len(rows)) if windowed.example_index[i] == 0 and rows[i]["start_positions"] != 0]
    short_row = int(np.flatnonzero(windowed.example_index == 1)[0])
    gold = {row: (int(rows[row]["start_positions"]), int(rows[row]["end_positions"])) for row in hits + [short_row]}
    spans = {row: (*gold[row], 3.0) for row in gold}
    other = next(i for i in range(len(rows)) if windowed.example_index[i] == 0 and i not in hits)
    cut = context_tokens(windowed, other)
    spans[other] = (cut[0], cut[1], 2.0)  # a worse span in another window of the same record
    starts, ends = peaked(windowed, spans, pad=7)  # padded logits: positions past the offsets are ignored
    assert postprocess(windowed, starts, ends) == ["salted fish", "1892"]
    spans[other] = (cut[0], cut[1], 4.0)  # now it wins, from its own window
    starts, ends = peaked(windowed, spans)
    first = windowed.meta["offsets"][other]
    assert postprocess(windowed, starts, ends)[0] == LONG_CONTEXT[first[cut[0]][0]:first[cut[1]][1]]


def test_postprocess_keeps_spans_valid(tok):
    context = PARAGRAPHS[1]
    features = encode_question_answering([rec("When was the bridge finished?", context, "1892")], tok,
                                         max_seq_length=96, doc_stride=16)
    assert len(features) == 1
    cut, offsets = context_tokens(features, 0), features.meta["offsets"][0]
    # Best start cut 5 (8), then cut 1 (4); best end cut 2 (9), then cut 3 (6); all else -5.
    starts, ends = peaked(features, {0: (cut[5], cut[2], 9.0)})
    starts[0][cut[5]], starts[0][cut[1]], ends[0][cut[3]] = 8.0, 4.0, 6.0
    starts[0][1], ends[0][1] = 20.0, 20.0  # question tokens are never answers
    text = postprocess(features, starts, ends)[0]  # (5, 2) = 17 ends before it starts; (1, 2) = 13 is the best
    assert text == context[offsets[cut[1]][0]:offsets[cut[2]][1]] == "1887 the"
    # At most one token: (2, 2) = -5 + 9 beats (5, 5) = 8 - 5 and (3, 3) = -5 + 6.
    assert postprocess(features, starts, ends, max_answer_length=1) == ["the"]
    assert postprocess(features, starts, ends, n_best=1) == [""]  # the single best start and end do not pair


def test_postprocess_no_answer_threshold(windowed):
    record_rows = np.flatnonzero(windowed.example_index == 0).tolist()
    hit = next(i for i in record_rows if windowed.rows[i]["start_positions"] != 0)
    s, e = int(windowed.rows[hit]["start_positions"]), int(windowed.rows[hit]["end_positions"])
    # Best span 2 * 3.0 = 6; the lowest [CLS] score over the record's windows is 2 * 3.5 = 7 (others 2 * 9).
    cls = {row: 9.0 for row in record_rows} | {record_rows[-1]: 3.5}
    starts, ends = peaked(windowed, {hit: (s, e, 3.0)}, cls)
    assert postprocess(windowed, starts, ends)[0] == "salted fish"  # v1: never empty
    assert postprocess(windowed, starts, ends, allow_no_answer=True)[0] == ""  # null beats the span by 1 > 0
    assert postprocess(windowed, starts, ends, allow_no_answer=True, null_score_diff_threshold=0.5)[0] == ""
    assert postprocess(windowed, starts, ends, allow_no_answer=True, null_score_diff_threshold=1.5)[0] == \
        "salted fish"
    assert postprocess(windowed, starts, ends, allow_no_answer=True)[1] != ""  # its [CLS] -20 < any span's -10


def test_postprocess_errors(windowed, tok):
    starts, ends = peaked(windowed, {})
    with pytest.raises(InputError, match=rf"got {len(starts) - 1} start_logits and {len(ends)} end_logits rows for "
                                         rf"{len(starts)} feature rows"):
        postprocess(windowed, starts[1:], ends)
    short = [*starts[:-1], starts[-1][:3]]
    with pytest.raises(InputError, match=rf"start_logits\[{len(starts) - 1}\] must be a 1-D array of at least"):
        postprocess(windowed, short, ends)
    with pytest.raises(InputError, match=r"end_logits\[0\] holds non-finite values"):
        postprocess(windowed, starts, [np.full_like(ends[0], np.nan), *ends[1:]])
    with pytest.raises(ConfigError, match=r"n_best must be an int >= 1, got 0"):
        postprocess(windowed, starts, ends, n_best=0)
    with pytest.raises(ConfigError, match=r"null_score_diff_threshold must be a finite number, got inf"):
        postprocess(windowed, starts, ends, null_score_diff_threshold=float("inf"))
    other = windowed.__class__(SEQUENCE_CLASSIFICATION, [], np.zeros(0, np.int64))
    with pytest.raises(ConfigError, match=r"postprocess needs the features of encode_question_answering"):
        postprocess(other, [], [])


def test_squad_normalisation():
    assert normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert normalize_answer("an apple, a pear & the plum.") == "apple pear plum"
    assert normalize_answer("Theatre") == "theatre"  # articles only as whole words


def test_squad_metrics_hand_computed():
    # "the big red dog" vs "red dog barked": tokens [big, red, dog] and [red, dog, barked], 2 shared: F1 = 2/3.
    assert squad_metrics(["the big red dog"], [["red dog barked"]]) == pytest.approx({"exact_match": 0.0,
                                                                                      "f1": 100 * 2 / 3})
    # The best gold counts: "Eiffel Tower" matches the second exactly (after normalisation).
    assert squad_metrics(["The Eiffel Tower."], [["Paris", "eiffel tower"]]) == {"exact_match": 100.0, "f1": 100.0}
    # Unanswerable (no golds): only an empty prediction scores; an empty prediction scores 0 against a real gold.
    assert squad_metrics(["", "Paris", ""], [[], [], ["Paris"]]) == pytest.approx({"exact_match": 100 / 3,
                                                                                    "f1": 100 / 3})
    # Averaged over records; "river bank" vs "bank": precision 1/2, recall 1, F1 2/3.
    assert squad_metrics(["1892", "river bank"], [["1892"], ["bank"]]) == pytest.approx(
        {"exact_match": 50.0, "f1": 100 * (1 + 2 / 3) / 2})


def test_squad_metrics_errors():
    with pytest.raises(InputError, match=r"got 2 predictions for 1 records"):
        squad_metrics(["a", "b"], [["a"]])
    with pytest.raises(InputError, match=r"needs gold answers, but the evaluation set has none"):
        squad_metrics(["a"], None)
    with pytest.raises(InputError, match=r"record 0: predictions must be str and answers lists of str"):
        squad_metrics(["a"], ["a"])
