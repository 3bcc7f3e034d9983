"""Extractive question answering: long contexts in overlapping windows, answers mapped back through offsets."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, InputError, InputTypeError, TokenizerError
from ..tasks import QUESTION_ANSWERING
from .base import Pipeline, input_name
from .batching import Feature, softmax

_DEFAULTS = {"top_k": 1, "doc_stride": 128, "max_answer_len": 15, "max_question_len": 64}


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be an int >= 1, got {value!r}")
    return value


class QuestionAnsweringPipeline(Pipeline):
    """`{"question", "context"}` -> `{score, start, end, answer}` with `context[start:end] == answer`.

    A context longer than `max_length` is cut into windows of the question plus a context span; neighbouring
    windows overlap by `doc_stride` tokens, every window is scored, and the best spans over all windows win.
    """

    task = QUESTION_ANSWERING
    fields = {"start_logits": "token", "end_logits": "token"}

    def __call__(self, inputs: Any = None, *, question: Any = None, context: Any = None, **options: Any) -> Any:
        if inputs is None:
            if question is None or context is None:
                raise InputError("question-answering needs question= and context= (or a dict with both)")
            if isinstance(question, list) and isinstance(context, list) and len(question) == len(context):
                inputs = [{"question": q, "context": c} for q, c in zip(question, context)]
            else:
                inputs = {"question": question, "context": context}
        return super().__call__(inputs, **options)

    def is_single(self, inputs: Any) -> bool:
        return isinstance(inputs, dict)

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(options) - set(_DEFAULTS))
        if unknown:
            raise ConfigError(f"question-answering does not take {unknown}; its options are {list(_DEFAULTS)}")
        return {name: _positive(name, options.get(name, default)) for name, default in _DEFAULTS.items()}

    def preprocess(self, items: list[Any], options: dict[str, Any]) -> list[list[Feature]]:
        for index, item in enumerate(items):
            if not (isinstance(item, dict) and set(item) == {"question", "context"}
                    and all(isinstance(v, str) for v in item.values())):
                raise InputTypeError(f"{input_name(self.task, index, len(items))} must be {{'question': str, "
                                     f"'context': str}}, got {item!r:.80}")
        tok = self.tokenizer
        questions = [item["question"] for item in items]
        # Questions longer than max_question_len tokens are cut at that token's end in the text.
        spans = tok(questions, add_special_tokens=False, return_offsets_mapping=True, return_tensors=None)
        for index, offsets in enumerate(spans["offset_mapping"]):
            if len(offsets) > options["max_question_len"]:
                questions[index] = questions[index][: offsets[options["max_question_len"] - 1][1]]
            if len(offsets) + 3 >= self.max_length:
                raise ConfigError(f"question {index} has {len(offsets)} tokens, which leaves no room for the "
                                  f"context in max_length={self.max_length}; pass a smaller max_question_len")
        try:
            windows = tok(questions, [item["context"] for item in items], truncation="only_second",
                          max_length=self.max_length, stride=options["doc_stride"], return_overflowing_tokens=True,
                          return_offsets_mapping=True, return_tensors=None)
        except TokenizerError:
            longest = max(min(len(o), options["max_question_len"]) for o in spans["offset_mapping"])
            room = self.max_length - 3 - longest
            if options["doc_stride"] >= room:  # the tokenizer's "stride" is this pipeline's doc_stride
                raise ConfigError(f"doc_stride={options['doc_stride']} must be smaller than the {room} context "
                                  f"tokens a window holds (max_length={self.max_length}); pass a smaller "
                                  "doc_stride") from None
            raise
        out: list[list[Feature]] = [[] for _ in items]
        for row, index in enumerate(windows["overflow_to_sample_mapping"]):
            sequence = windows.sequence_ids(row)
            first, count = sequence.index(None, 1) + 1, sequence.count(1)
            if not count:
                raise InputError(f"{input_name(self.task, index, len(items))} has an empty context; pass the text "
                                 "to search")
            out[index].append(Feature(windows["input_ids"][row], windows["token_type_ids"][row],
                                      {"first": first, "offsets": windows["offset_mapping"][row][first:first + count]}))
        return out

    def postprocess(self, item: Any, features: list[Feature], outputs: list[dict[str, np.ndarray]],
                    options: dict[str, Any]) -> Any:
        best: dict[tuple[int, int], float] = {}
        limit = options["max_answer_len"]
        for feature, output in zip(features, outputs):
            first, offsets = feature.meta["first"], feature.meta["offsets"]
            count = len(offsets)
            # As HF: probabilities over [CLS] and the context tokens of this window, then [CLS] is dropped.
            keep = np.r_[0, first:first + count]
            start_p = softmax(output["start_logits"][keep])[1:]
            end_p = softmax(output["end_logits"][keep])[1:]
            scores = np.triu(np.tril(np.outer(start_p, end_p), limit - 1))  # end >= start, length <= limit
            flat = np.argsort(-scores, axis=None, kind="stable")[: options["top_k"]]
            for s, e in zip(*np.unravel_index(flat, scores.shape)):
                span = (int(offsets[s][0]), int(offsets[e][1]))
                best[span] = max(best.get(span, 0.0), float(scores[s, e]))
        ranked = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[: options["top_k"]]
        answers = [{"score": score, "start": start, "end": end, "answer": item["context"][start:end]}
                   for (start, end), score in ranked]
        return answers[0] if options["top_k"] == 1 else answers
