"""fill-mask: text with [MASK] -> the likeliest pieces for each mask."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, InputError
from ..tasks import FILL_MASK
from .base import Pipeline, check_texts, check_top_k, input_name, reject_unknown_options
from .batching import Feature, softmax


class FillMaskPipeline(Pipeline):
    """Text with [MASK] -> the likeliest pieces for each mask: `{score, token, token_str, sequence}`."""

    task = FILL_MASK
    fields = {"logits": "token"}

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        reject_unknown_options(self.task, options, ("top_k", "targets"))
        top_k = check_top_k(options.get("top_k", 5))
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
        texts = check_texts(items, self.task)
        enc = self.tokenize(texts)
        mask_id = self.tokenizer.mask_token_id
        out = []
        for index, (ids, types) in enumerate(zip(enc["input_ids"], enc["token_type_ids"])):
            positions = [p for p, t in enumerate(ids) if t == mask_id]
            if not positions:
                where = "after truncation to max_length" if self.tokenizer.mask_token in texts[index] else ""
                raise InputError(f"{input_name(self.task, index, len(items))} has no {self.tokenizer.mask_token} token "
                                 f"{where}"
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
