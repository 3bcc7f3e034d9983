"""Classifiers: text-classification (a text or pair -> labels), token-classification (text -> entities) and
multiple-choice (a context and its choices -> the best choice)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, InputTypeError
from ..tasks import MULTIPLE_CHOICE, TEXT_CLASSIFICATION, TOKEN_CLASSIFICATION
from .base import Pipeline, check_texts, check_top_k, input_name, reject_unknown_options
from .batching import Feature, sigmoid, softmax


def _text_and_pair(item: Any, index: int, count: int) -> tuple[str, str | None]:
    if isinstance(item, str):
        return item, None
    if isinstance(item, dict) and isinstance(item.get("text"), str) and isinstance(item.get("text_pair", ""), str) \
            and set(item) <= {"text", "text_pair"}:
        return item["text"], item.get("text_pair")
    raise InputTypeError(f"{input_name(TEXT_CLASSIFICATION, index, count)} must be a str or {{'text': str, "
                         f"'text_pair': str}}, got {item!r:.80}")


class TextClassificationPipeline(Pipeline):
    """Text (or a text pair) -> `{label, score}` (labels from the config's id2label)."""

    task = TEXT_CLASSIFICATION
    fields = {"logits": "row"}

    def check_options(self, options):
        reject_unknown_options(self.task, options, ("top_k", "function_to_apply"))
        function = options.get("function_to_apply")
        if function is None:
            multi = self.config.problem_type == "multi_label_classification" or self.config.num_labels == 1
            function = "sigmoid" if multi else "softmax"
        if function not in ("softmax", "sigmoid", "none"):
            raise ConfigError(f"function_to_apply must be 'softmax', 'sigmoid' or 'none', got {function!r}")
        return {"top_k": check_top_k(options.get("top_k", 1), allow_none=True), "function": function}

    def preprocess(self, items, options):
        pairs = [_text_and_pair(item, i, len(items)) for i, item in enumerate(items)]
        texts, seconds = [p[0] for p in pairs], [p[1] for p in pairs]
        if any(s is not None for s in seconds):
            # Encode single texts and pairs separately: the tokenizer takes a batch of one kind.
            out: list[list[Feature]] = [[] for _ in items]
            for has_pair in (False, True):
                chosen = [i for i, s in enumerate(seconds) if (s is not None) == has_pair]
                if chosen:
                    enc = self.tokenize([texts[i] for i in chosen], [seconds[i] for i in chosen] if has_pair else None)
                    for row, i in enumerate(chosen):
                        out[i] = [Feature(enc["input_ids"][row], enc["token_type_ids"][row])]
            return out
        enc = self.tokenize(texts)
        return [[Feature(ids, types)] for ids, types in zip(enc["input_ids"], enc["token_type_ids"])]

    def postprocess(self, item, features, outputs, options):
        logits = outputs[0]["logits"].astype(np.float64)
        function = options["function"]
        scores = softmax(logits) if function == "softmax" else sigmoid(logits) if function == "sigmoid" else logits
        order = np.argsort(-scores, kind="stable")
        ranked = [{"label": self.config.id2label[int(i)], "score": float(scores[i])} for i in order]
        top_k = options["top_k"]
        if top_k == 1:
            return ranked[0]
        return ranked if top_k is None else ranked[:top_k]


AGGREGATIONS = ("none", "simple", "first", "average", "max")


def _entity_type(label: str) -> tuple[str, bool]:
    """('PER', True) for 'B-PER': the entity type and whether the tag begins a new entity."""
    if label[:2] in ("B-", "I-"):
        return label[2:], label.startswith("B-")
    return label, False


class TokenClassificationPipeline(Pipeline):
    """Text -> entities with character spans; words are aggregated from SentencePiece pieces (▁ starts a word)."""

    task = TOKEN_CLASSIFICATION
    fields = {"logits": "token"}

    def check_options(self, options):
        reject_unknown_options(self.task, options, ("aggregation_strategy", "ignore_labels"))
        strategy = options.get("aggregation_strategy", "first")
        if strategy not in AGGREGATIONS:
            raise ConfigError(f"aggregation_strategy must be one of {AGGREGATIONS}, got {strategy!r}")
        ignore = options.get("ignore_labels", ("O",))
        if isinstance(ignore, str) or not all(isinstance(x, str) for x in ignore):
            raise ConfigError(f"ignore_labels must be a list of label names, got {ignore!r}")
        return {"strategy": strategy, "ignore": frozenset(ignore)}

    def preprocess(self, items, options):
        texts = check_texts(items, self.task)
        enc = self.tokenize(texts, return_offsets_mapping=True, return_special_tokens_mask=True)
        return [[Feature(ids, types, {"offsets": offs, "special": special})]
                for ids, types, offs, special in zip(enc["input_ids"], enc["token_type_ids"], enc["offset_mapping"],
                                                     enc["special_tokens_mask"])]

    def postprocess(self, item, features, outputs, options):
        feature = features[0]
        probs = softmax(outputs[0]["logits"])
        pieces = self.tokenizer.convert_ids_to_tokens(feature.input_ids)
        tokens = [i for i, s in enumerate(feature.meta["special"]) if not s]
        offsets = feature.meta["offsets"]
        labels = self.config.id2label
        strategy = options["strategy"]
        if strategy == "none":
            out = []
            for i in tokens:
                best = int(np.argmax(probs[i]))
                if labels[best] not in options["ignore"]:
                    start, end = offsets[i]
                    out.append({"entity": labels[best], "score": float(probs[i, best]), "index": i,
                                "word": pieces[i], "start": start, "end": end})
            return out
        if strategy == "simple":
            units = [[i] for i in tokens]
        else:  # group pieces into words: a piece starting with ▁ opens a word
            units = []
            for i in tokens:
                if not units or pieces[i].startswith("\u2581"):
                    units.append([i])
                else:
                    units[-1].append(i)
        tagged = []
        for unit in units:
            if strategy == "average":
                unit_probs = probs[unit].mean(axis=0)
            elif strategy == "max":
                unit_probs = probs[max(unit, key=lambda i: probs[i].max())]
            else:  # first (or simple, where each unit is one token)
                unit_probs = probs[unit[0]]
            best = int(np.argmax(unit_probs))
            tagged.append((unit, labels[best], float(unit_probs[best])))
        return self._group(tagged, item, offsets, options["ignore"])

    @staticmethod
    def _group(tagged, text: str, offsets, ignore) -> list[dict[str, Any]]:
        """Merge neighbouring units of the same entity type (a B- tag starts a new entity), as HF does."""
        groups: list[tuple[str, list[int], list[float]]] = []
        for unit, label, score in tagged:
            kind, begins = _entity_type(label)
            if groups and groups[-1][0] == kind and not begins:
                groups[-1][1].extend(unit)
                groups[-1][2].append(score)
            else:
                groups.append((kind, list(unit), [score]))
        out = []
        for kind, unit, scores in groups:
            if kind in ignore:
                continue
            start, end = offsets[unit[0]][0], offsets[unit[-1]][1]
            out.append({"entity_group": kind, "score": float(np.mean(scores)), "word": text[start:end],
                        "start": start, "end": end})
        return out


class MultipleChoicePipeline(Pipeline):
    """`{"context": str, "choices": [str, ...]}` -> `{label, choice, scores}` (softmax over the choices)."""

    task = MULTIPLE_CHOICE
    fields = {"logits": "row"}

    def check_options(self, options):
        reject_unknown_options(self.task, options, ())
        return options

    def is_single(self, inputs):
        return isinstance(inputs, dict)

    def preprocess(self, items, options):
        out = []
        for index, item in enumerate(items):
            ok = isinstance(item, dict) and set(item) == {"context", "choices"} and isinstance(item["context"], str)
            choices = item.get("choices") if isinstance(item, dict) else None
            if not ok or not isinstance(choices, (list, tuple)) or not choices \
                    or not all(isinstance(c, str) for c in choices):
                raise InputTypeError(f"{input_name(self.task, index, len(items))} must be {{'context': str, "
                                     f"'choices': [str, ...]}} with at least one choice, got {item!r:.80}")
            enc = self.tokenize([item["context"]] * len(choices), list(choices))
            out.append([Feature(enc["input_ids"], enc["token_type_ids"])])
        return out

    def postprocess(self, item, features, outputs, options):
        scores = softmax(outputs[0]["logits"])
        best = int(np.argmax(scores))
        return {"label": best, "choice": item["choices"][best], "scores": [float(s) for s in scores]}
