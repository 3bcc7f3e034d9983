"""The pipeline tasks: how each turns inputs into model rows and model outputs into answers."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._pipeline_batch import Feature, sigmoid, softmax
from ._pipeline_qa import QuestionAnsweringPipeline
from .errors import ConfigError, InputError, InputTypeError
from .pipelines import Pipeline


def _check_top_k(value: Any, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        extra = " or None (all)" if allow_none else ""
        raise ConfigError(f"top_k must be an int >= 1{extra}, got {value!r}")
    return value


def _texts(items: list[Any], task: str) -> list[str]:
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise InputTypeError(f"{task} input {index} must be a str, got {type(item).__name__} {item!r:.60}")
    return items


def _rows(pipe: Pipeline, texts: list[str], pairs: list[str] | None = None, **extra: Any) -> dict[str, list]:
    return pipe.tokenizer(texts, pairs, truncation=True, max_length=pipe.max_length, return_tensors=None, **extra)


def _unknown_options(task: str, options: dict[str, Any], known: tuple[str, ...]) -> None:
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigError(f"{task} does not take {unknown}; its options are {list(known)}")


class FillMaskPipeline(Pipeline):
    """Text with [MASK] -> the likeliest pieces for each mask: `{score, token, token_str, sequence}`."""

    task = "fill-mask"
    fields = {"logits": "token"}

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        _unknown_options(self.task, options, ("top_k", "targets"))
        top_k = _check_top_k(options.get("top_k", 5))
        targets = options.get("targets")
        target_ids = None
        if targets is not None:
            if isinstance(targets, str):
                targets = [targets]
            if not isinstance(targets, (list, tuple)) or not targets or not all(isinstance(t, str) for t in targets):
                raise ConfigError(f"targets must be a str or a non-empty list of str, got {targets!r}")
            target_ids = sorted({self._target_id(t) for t in targets})
        return {"top_k": top_k, "target_ids": target_ids}

    def _target_id(self, target: str) -> int:
        """A piece written as in the vocabulary ("\u2581paris", "[SEP]") is taken as is; a word ("Paris") gives the
        first piece the tokenizer makes of it ("\u2581paris"), so targets mean whole words as users type them."""
        tok = self.tokenizer
        if target.startswith("\u2581") or target in tok.all_special_tokens:
            token_id = tok.convert_tokens_to_ids(target)
            if token_id == tok.unk_token_id and target != tok.unk_token:
                raise ConfigError(f"target {target!r} is not a piece of the vocabulary; pass a word instead")
            return token_id
        pieces = tok.tokenize(target)
        if not pieces:
            raise ConfigError(f"target {target!r} has no tokens; pass words or vocabulary pieces")
        return tok.convert_tokens_to_ids(pieces[0])

    def preprocess(self, items: list[Any], options: dict[str, Any]) -> list[list[Feature]]:
        texts = _texts(items, self.task)
        enc = _rows(self, texts)
        mask_id = self.tokenizer.mask_token_id
        out = []
        for index, (ids, types) in enumerate(zip(enc["input_ids"], enc["token_type_ids"])):
            positions = [p for p, t in enumerate(ids) if t == mask_id]
            if not positions:
                where = "after truncation to max_length" if self.tokenizer.mask_token in texts[index] else ""
                raise InputError(f"fill-mask input {index} has no {self.tokenizer.mask_token} token {where}"
                                 f"({texts[index]!r:.60}); put {self.tokenizer.mask_token} where a word is missing")
            out.append([Feature(ids, types, {"masks": positions})])
        return out

    def postprocess(self, item, features, outputs, options):
        feature, logits = features[0], outputs[0]["logits"]
        vocab = self.tokenizer.vocab_size
        ids = np.asarray(feature.input_ids)
        answers = []
        for position in feature.meta["masks"]:
            probs = softmax(logits[position, :vocab])
            candidates = np.asarray(options["target_ids"]) if options["target_ids"] is not None else np.arange(vocab)
            scores = probs[candidates]
            k = min(options["top_k"], len(candidates))
            best = np.argsort(-scores, kind="stable")[:k]
            rows = []
            for choice in best:
                token = int(candidates[choice])
                filled = ids.copy()
                filled[position] = token
                rows.append({"score": float(scores[choice]), "token": token,
                             "token_str": self.tokenizer.decode([token]),
                             "sequence": self.tokenizer.decode(filled, skip_special_tokens=True)})
            answers.append(rows)
        return answers[0] if len(answers) == 1 else answers


def _text_and_pair(item: Any, index: int) -> tuple[str, str | None]:
    if isinstance(item, str):
        return item, None
    if isinstance(item, dict) and isinstance(item.get("text"), str) and isinstance(item.get("text_pair", ""), str) \
            and set(item) <= {"text", "text_pair"}:
        return item["text"], item.get("text_pair")
    raise InputTypeError(f"text-classification input {index} must be a str or {{'text': str, 'text_pair': str}}, "
                         f"got {item!r:.80}")


class TextClassificationPipeline(Pipeline):
    """Text (or a text pair) -> `{label, score}` (labels from the config's id2label)."""

    task = "text-classification"
    fields = {"logits": "row"}

    def check_options(self, options):
        _unknown_options(self.task, options, ("top_k", "function_to_apply"))
        function = options.get("function_to_apply")
        if function is None:
            multi = self.config.problem_type == "multi_label_classification" or self.config.num_labels == 1
            function = "sigmoid" if multi else "softmax"
        if function not in ("softmax", "sigmoid", "none"):
            raise ConfigError(f"function_to_apply must be 'softmax', 'sigmoid' or 'none', got {function!r}")
        return {"top_k": _check_top_k(options.get("top_k", 1), allow_none=True), "function": function}

    def preprocess(self, items, options):
        pairs = [_text_and_pair(item, i) for i, item in enumerate(items)]
        texts, seconds = [p[0] for p in pairs], [p[1] for p in pairs]
        if any(s is not None for s in seconds):
            # Encode single texts and pairs separately: the tokenizer takes a batch of one kind.
            out: list[list[Feature]] = [[] for _ in items]
            for has_pair in (False, True):
                chosen = [i for i, s in enumerate(seconds) if (s is not None) == has_pair]
                if chosen:
                    enc = _rows(self, [texts[i] for i in chosen], [seconds[i] for i in chosen] if has_pair else None)
                    for row, i in enumerate(chosen):
                        out[i] = [Feature(enc["input_ids"][row], enc["token_type_ids"][row])]
            return out
        enc = _rows(self, texts)
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

    task = "token-classification"
    fields = {"logits": "token"}

    def check_options(self, options):
        _unknown_options(self.task, options, ("aggregation_strategy", "ignore_labels"))
        strategy = options.get("aggregation_strategy", "first")
        if strategy not in AGGREGATIONS:
            raise ConfigError(f"aggregation_strategy must be one of {AGGREGATIONS}, got {strategy!r}")
        ignore = options.get("ignore_labels", ("O",))
        if isinstance(ignore, str) or not all(isinstance(x, str) for x in ignore):
            raise ConfigError(f"ignore_labels must be a list of label names, got {ignore!r}")
        return {"strategy": strategy, "ignore": frozenset(ignore)}

    def preprocess(self, items, options):
        texts = _texts(items, self.task)
        enc = _rows(self, texts, return_offsets_mapping=True, return_special_tokens_mask=True)
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


POOLINGS = (None, "cls", "mean", "pooler")


class FeatureExtractionPipeline(Pipeline):
    """Text -> its token embeddings `(seq, hidden)` (with [CLS] and [SEP]), or one pooled vector `(hidden,)`."""

    task = "feature-extraction"
    fields = {"last_hidden_state": "token", "pooler_output": "row"}

    def check_options(self, options):
        _unknown_options(self.task, options, ("pooling",))
        pooling = options.get("pooling")
        if pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        return {"pooling": pooling}

    def preprocess(self, items, options):
        enc = _rows(self, _texts(items, self.task))
        return [[Feature(ids, types)] for ids, types in zip(enc["input_ids"], enc["token_type_ids"])]

    def postprocess(self, item, features, outputs, options):
        tokens, pooling = outputs[0]["last_hidden_state"], options["pooling"]
        if pooling == "cls":
            return tokens[0]
        if pooling == "mean":
            return tokens.mean(axis=0)
        if pooling == "pooler":
            return outputs[0]["pooler_output"]
        return tokens


class MultipleChoicePipeline(Pipeline):
    """`{"context": str, "choices": [str, ...]}` -> `{label, choice, scores}` (softmax over the choices)."""

    task = "multiple-choice"
    fields = {"logits": "row"}

    def check_options(self, options):
        _unknown_options(self.task, options, ())
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
                raise InputTypeError(f"multiple-choice input {index} must be {{'context': str, 'choices': "
                                     f"[str, ...]}} with at least one choice, got {item!r:.80}")
            enc = _rows(self, [item["context"]] * len(choices), list(choices))
            out.append([Feature(enc["input_ids"], enc["token_type_ids"])])
        return out

    def postprocess(self, item, features, outputs, options):
        scores = softmax(outputs[0]["logits"])
        best = int(np.argmax(scores))
        return {"label": best, "choice": item["choices"][best], "scores": [float(s) for s in scores]}


PIPELINES = {
    "fill-mask": FillMaskPipeline,
    "text-classification": TextClassificationPipeline,
    "token-classification": TokenClassificationPipeline,
    "question-answering": QuestionAnsweringPipeline,
    "feature-extraction": FeatureExtractionPipeline,
    "multiple-choice": MultipleChoicePipeline,
}
