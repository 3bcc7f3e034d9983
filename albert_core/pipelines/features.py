"""feature-extraction: text -> token embeddings or one pooled vector."""

from __future__ import annotations

from ..errors import ConfigError
from ..tasks import FEATURE_EXTRACTION
from .base import Pipeline, check_texts, reject_unknown_options
from .batching import Feature

POOLINGS = (None, "cls", "mean", "pooler")


class FeatureExtractionPipeline(Pipeline):
    """Text -> its token embeddings `(seq, hidden)` (with [CLS] and [SEP]), or one pooled vector `(hidden,)`."""

    task = FEATURE_EXTRACTION
    fields = {"last_hidden_state": "token", "pooler_output": "row"}

    def check_options(self, options):
        reject_unknown_options(self.task, options, ("pooling",))
        pooling = options.get("pooling")
        if pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        return {"pooling": pooling}

    def preprocess(self, items, options):
        enc = self.tokenize(check_texts(items, self.task))
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
