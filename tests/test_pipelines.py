"""Pipelines on random weights: the answers are meaningless, the mechanics (shapes, spans, order, windows) exact."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

import albert_core
from albert_core import AlbertTokenizer
from albert_core.api import TINY_CONFIG
from albert_core.errors import ConfigError, InputError, InputTypeError, TokenizerError
from albert_core.pipelines import resolve_model

OFFICIAL_VOCAB = Path(__file__).resolve().parents[1].parent / "shared/assets/albert-30k/spiece.model"


def vocab_file(folder: Path) -> Path:
    """The official 30k vocabulary when the shared assets are present, else a small one trained here."""
    if OFFICIAL_VOCAB.is_file():
        return OFFICIAL_VOCAB
    import sentencepiece as spm

    corpus = ["Paris is the capital of France and John Smith lives in New York.",
              "The quick brown fox jumps over the lazy dog, 1,000 times in 2019.",
              "Question answering finds the answer span in a long context of many words."] * 30
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus), model_writer=model, vocab_size=120,
                                   hard_vocab_limit=False, model_type="unigram", pad_id=0, unk_id=1, bos_id=-1,
                                   eos_id=-1, control_symbols=["[CLS]", "[SEP]", "[MASK]"], minloglevel=2)
    path = folder / "spiece.model"
    path.write_bytes(model.getvalue())
    return path


@pytest.fixture(scope="module")
def vocab(tmp_path_factory) -> Path:
    return vocab_file(tmp_path_factory.mktemp("vocab"))


@pytest.fixture(scope="module")
def tokenizer(vocab) -> AlbertTokenizer:
    return AlbertTokenizer(vocab)


def make(task, vocab, **kwargs):
    return albert_core.pipeline(task, "random:tiny", tokenizer=vocab, **kwargs)


def direct(pipe, **inputs):
    """The model's own outputs for one unpadded row, as host arrays."""
    out = pipe.model(**{k: np.asarray([v]) for k, v in inputs.items()})
    return {k: np.asarray(v)[0] for k, v in out.items() if v is not None}


# ----------------------------------------------------------------------------------------------- fill-mask
def test_fill_mask_scores_are_the_softmax_at_the_mask(vocab, tokenizer):
    fill = make("fill-mask", vocab)
    text = "the capital of france is [MASK] ."
    result = fill(text, top_k=3)
    assert len(result) == 3 and [r["score"] for r in result] == sorted((r["score"] for r in result), reverse=True)
    ids = tokenizer(text)["input_ids"][0]
    position = int(np.flatnonzero(ids == tokenizer.mask_token_id)[0])
    logits = direct(fill, input_ids=ids)["logits"][position, : tokenizer.vocab_size].astype(np.float64)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    best = np.argsort(-probs)[:3]
    assert [r["token"] for r in result] == best.tolist()
    np.testing.assert_allclose([r["score"] for r in result], probs[best], rtol=1e-5)
    filled = ids.copy()
    filled[position] = best[0]
    assert result[0]["sequence"] == tokenizer.decode(filled, skip_special_tokens=True)


def test_fill_mask_targets_and_several_masks(vocab, tokenizer):
    fill = make("fill-mask", vocab)
    words = ["paris", "london"]
    result = fill("a [MASK] b [MASK] c", top_k=5, targets=words)
    assert len(result) == 2  # one list per mask
    allowed = {tokenizer.convert_tokens_to_ids(tokenizer.tokenize(w)[0]) for w in words}
    for per_mask in result:
        assert len(per_mask) == len(allowed) and {r["token"] for r in per_mask} == allowed
    with pytest.raises(InputError, match="no \\[MASK\\]"):
        fill("nothing to fill")
    with pytest.raises(ConfigError, match="top_k"):
        fill("x [MASK]", top_k=0)
    with pytest.raises(ConfigError, match="does not take"):
        fill("x [MASK]", topk=3)


def test_batches_sorted_by_length_come_back_in_input_order(vocab):
    fill = make("fill-mask", vocab, batch_size=2)
    texts = ["[MASK]", "a much longer text with a [MASK] in the middle of many words here", "b [MASK]",
             "the [MASK] of medium length", "z [MASK] z"]
    together = fill(texts, top_k=2)
    one_by_one = [fill(t, top_k=2) for t in texts]
    for a, b in zip(together, one_by_one):
        assert [r["token"] for r in a] == [r["token"] for r in b]
        np.testing.assert_allclose([r["score"] for r in a], [r["score"] for r in b], rtol=1e-4)
    streamed = list(fill.stream(iter(texts), chunk_size=2, top_k=2))
    assert [[r["token"] for r in s] for s in streamed] == [[r["token"] for r in a] for a in together]


# ------------------------------------------------------------------------------------- text-classification
def test_text_classification_labels_scores_and_pairs(vocab):
    classify = make("text-classification", vocab, num_labels=["neg", "neutral", "pos"])
    top = classify("good film")
    assert set(top) == {"label", "score"} and top["label"] in {"neg", "neutral", "pos"}
    ranked = classify(["good film", {"text": "a", "text_pair": "b"}], top_k=None)
    assert [len(r) for r in ranked] == [3, 3]
    assert abs(sum(r["score"] for r in ranked[0]) - 1) < 1e-9
    assert ranked[0][0]["label"] == top["label"] and ranked[0][0]["score"] == pytest.approx(top["score"], rel=1e-5)
    logits = direct(classify, **{k: v[0] for k, v in classify.tokenizer("good film").items()})["logits"]
    assert top["label"] == ["neg", "neutral", "pos"][int(np.argmax(logits))]
    with pytest.raises(InputTypeError, match="text-classification input must be a str"):  # the only input
        classify([3])
    with pytest.raises(InputTypeError, match="text-classification input 1 must be a str"):  # which one, of several
        classify(["good", 3])


# ------------------------------------------------------------------------------------ token-classification
@pytest.mark.parametrize("strategy", ["simple", "first", "average", "max"])
def test_token_classification_spans_point_into_the_text(vocab, strategy):
    tag = make("ner", vocab, num_labels=["B-PER", "I-PER", "B-LOC"])
    text = "John Smith lives in New York, 1,000 times."
    entities = tag(text, aggregation_strategy=strategy)
    assert entities and all(text[e["start"]:e["end"]] == e["word"] for e in entities)
    assert all(e["entity_group"] in {"PER", "LOC"} for e in entities)
    starts = [e["start"] for e in entities]
    assert starts == sorted(starts)


def test_token_classification_none_gives_one_entity_per_token(vocab, tokenizer):
    tag = make("token-classification", vocab, num_labels=["A", "B"])
    text = "John Smith lives here"
    tokens = tag(text, aggregation_strategy="none", ignore_labels=[])
    ids = tokenizer(text)["input_ids"][0]
    assert [t["index"] for t in tokens] == list(range(1, len(ids) - 1))
    assert [t["word"] for t in tokens] == tokenizer.convert_ids_to_tokens(ids[1:-1].tolist())
    with pytest.raises(ConfigError, match="aggregation_strategy"):
        tag(text, aggregation_strategy="best")


# ------------------------------------------------------------------------------------- question-answering
def test_question_answering_long_context_uses_overlapping_windows(vocab, tokenizer):
    qa = make("question-answering", vocab, max_length=24)
    context = " ".join(f"word{i}" for i in range(40))
    question = "which word?"
    item = {"question": question, "context": context}
    features = qa.preprocess([item], qa.check_options({"doc_stride": 4}))[0]
    context_ids = tokenizer(context, add_special_tokens=False)["input_ids"][0].tolist()
    assert len(features) > 1 and all(len(f.input_ids) <= 24 for f in features)
    windows = [f.input_ids[f.meta["first"]:-1] for f in features]
    room = len(windows[0])
    for n, window in enumerate(windows):  # consecutive windows overlap by doc_stride tokens
        start = n * (room - 4)
        assert window == context_ids[start:start + room]
    assert windows[-1][-1] == context_ids[-1]
    answers = qa(question=question, context=context, doc_stride=4, top_k=3, max_answer_len=5)
    assert len(answers) == 3
    for a in answers:
        assert a["answer"] == context[a["start"]:a["end"]] and 0 <= a["start"] < a["end"] <= len(context)
    assert answers[0]["score"] >= answers[1]["score"] >= answers[2]["score"]


def test_question_answering_single_window_matches_the_logits(vocab, tokenizer):
    qa = make("question-answering", vocab)
    item = {"question": "who?", "context": "John Smith lives in Paris."}
    best = qa(item, max_answer_len=30)
    feature = qa.preprocess([item], qa.check_options({}))[0][0]
    out = direct(qa, input_ids=feature.input_ids, token_type_ids=feature.token_type_ids)
    first, count = feature.meta["first"], len(feature.meta["offsets"])
    keep = np.r_[0, first:first + count]

    def probs(x):
        e = np.exp(x[keep] - x[keep].max())
        return (e / e.sum())[1:]

    scores = np.triu(np.outer(probs(out["start_logits"]), probs(out["end_logits"])))
    s, e = np.unravel_index(np.argmax(scores), scores.shape)
    offsets = feature.meta["offsets"]
    assert (best["start"], best["end"]) == (offsets[s][0], offsets[e][1])
    assert best["score"] == pytest.approx(scores[s, e], rel=1e-5)
    batch = qa([item, {"question": "q", "context": "another context"}], max_answer_len=30)
    assert (batch[0]["start"], batch[0]["end"]) == (best["start"], best["end"])
    assert batch[0]["score"] == pytest.approx(best["score"], rel=1e-5)  # padded batch: float32 round-off
    with pytest.raises(InputError, match="empty context"):
        qa(question="q", context="")
    with pytest.raises(InputTypeError, match="question-answering input must be"):
        qa({"question": "q"})


# ------------------------------------------------------------------------------------ feature extraction
def test_feature_extraction_tokens_and_pooling(vocab, tokenizer):
    embed = make("feature-extraction", vocab, batch_size=4)
    texts = ["hello world", "a longer sentence that needs padding in a batch"]
    tokens = embed(texts)
    hidden = TINY_CONFIG["hidden_size"]
    for text, array in zip(texts, tokens):
        assert array.shape == (len(tokenizer(text)["input_ids"][0]), hidden)
    alone = direct(embed, input_ids=tokenizer(texts[0])["input_ids"][0])
    np.testing.assert_allclose(tokens[0], alone["last_hidden_state"], atol=1e-5)
    np.testing.assert_allclose(embed(texts[0], pooling="mean"), tokens[0].mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(embed(texts[0], pooling="cls"), tokens[0][0], atol=1e-6)
    np.testing.assert_allclose(embed(texts[0], pooling="pooler"), alone["pooler_output"], atol=1e-5)
    with pytest.raises(ConfigError, match="pooling"):
        embed("x", pooling="sum")


# -------------------------------------------------------------------------------------- multiple choice
def test_multiple_choice_with_different_choice_counts(vocab):
    choose = make("multiple-choice", vocab, batch_size=4)
    items = [{"context": "the sky is", "choices": ["blue", "green"]},
             {"context": "two plus two is", "choices": ["three", "four", "five"]},
             {"context": "x", "choices": ["y", "z"]}]
    results = choose(items)
    assert [len(r["scores"]) for r in results] == [2, 3, 2]
    for item, r in zip(items, results):
        assert abs(sum(r["scores"]) - 1) < 1e-9 and r["choice"] == item["choices"][r["label"]]
    assert choose(items[1]) == results[1]
    with pytest.raises(InputTypeError, match="choices"):
        choose({"context": "x", "choices": []})


# --------------------------------------------------------------------------------------- model sources
def test_model_sources_and_errors(vocab, tmp_path, tokenizer):
    with pytest.raises(ConfigError, match="unknown pipeline task"):
        albert_core.pipeline("summarization", "random:tiny")
    with pytest.raises(ConfigError, match="needs model="):
        albert_core.pipeline("fill-mask")
    with pytest.raises(TokenizerError, match="no vocabulary"):
        albert_core.pipeline("fill-mask", "random:tiny")
    with pytest.raises(TokenizerError, match="does not exist"):
        albert_core.pipeline("fill-mask", "random:tiny", tokenizer=tmp_path / "missing.model")
    model = albert_core.load(resolve_model("random:tiny"), backend="numpy", task="masked-lm")
    bare = albert_core.save(model, tmp_path / "bare")
    with pytest.raises(TokenizerError, match="no spiece.model"):
        albert_core.pipeline("fill-mask", str(bare))
    with_vocab = albert_core.save(model, tmp_path / "with-vocab", tokenizer_file=vocab)
    from_folder = albert_core.pipeline("fill-mask", str(with_vocab))
    from_object = albert_core.pipeline("fill-mask", model, tokenizer=tokenizer)
    assert from_folder("x [MASK]", top_k=2) == from_object("x [MASK]", top_k=2)
    with pytest.raises(ConfigError, match="task='masked-lm'"):
        albert_core.pipeline("fill-mask", albert_core.load(resolve_model("random:tiny")),
                             tokenizer=tokenizer)
    with pytest.raises(ConfigError, match="batch_size"):
        make("fill-mask", vocab, batch_size=0)
    with pytest.raises(ConfigError, match="max_length"):
        make("fill-mask", vocab, max_length=100000)
