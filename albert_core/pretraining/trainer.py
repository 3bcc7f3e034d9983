"""`pretrain(...)` / `albert pretrain`: the fine-tuning loop (`albert_core.training.trainer.Run`: the same step,
schedule, logging, checkpoints and resume on any backend) on the pretraining head, fed from a data folder that
`albert pretrain-data` wrote. The model starts from a config (a preset, `tiny` or a `config.json`, with the
vocabulary size of the data's tokenizer) or continues an HF pretraining checkpoint."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from ..api import RANDOM_PREFIX, TINY_CONFIG, open_source
from ..checkpoints import Checkpoint
from ..config import AlbertConfig
from ..errors import ConfigError, DataError
from ..layout import init_params
from ..tasks import PRETRAINING
from ..tokenizer import AlbertTokenizer
from ..training.options import TrainingOptions
from ..training.trainer import Run, TrainResult, with_dropout
from .batches import PretrainingBatches
from .builder import tokenizer_digest
from .shards import TOKENIZER_DIR, read_manifest

# The ALBERT paper's recipe where `TrainingOptions` defaults to HF Trainer's fine-tuning values: LAMB at 0.00176,
# weight decay 0.01, epsilon 1e-6 (LAMB's), 1.25% of the steps as warmup (3125 of 125k).
PRETRAINING_DEFAULTS = {"optimizer": "lamb", "learning_rate": 0.00176, "weight_decay": 0.01, "adam_epsilon": 1e-6,
                        "warmup_ratio": 0.025, "max_steps": 10_000, "save_steps": 1000, "logging_steps": 100}


def pretrain(options: TrainingOptions | None = None, **kwargs: Any) -> TrainResult:
    """Pretrain on a data folder: `pretrain(train="my-data", model="albert-base-v2", output_dir="run")` (the
    fields of `TrainingOptions`, with `PRETRAINING_DEFAULTS` where not given; see docs/pretraining.md)."""
    if options is None:
        options = TrainingOptions(**{"task": PRETRAINING, **PRETRAINING_DEFAULTS, **kwargs})
    elif kwargs:
        options = options.replace(**kwargs)
    if options.task != PRETRAINING:
        raise ConfigError(f"pretrain() trains the {PRETRAINING!r} task, got task={options.task!r}; use finetune()")
    return PretrainRun(options).train()


class PretrainRun(Run):
    """A `Run` whose data are pretraining shards and whose model may start from a bare config."""

    def _prepare(self) -> None:
        o = self.opts
        if o.eval is not None:
            raise ConfigError("--eval is not supported for pretraining yet; watch mlm_accuracy and sop_accuracy in "
                              "log.jsonl, or fine-tune the result with --eval")
        self.data_dir = Path(o.train)
        self.manifest = read_manifest(self.data_dir)
        own = self.data_dir / TOKENIZER_DIR
        self.tokenizer = AlbertTokenizer.from_pretrained(o.tokenizer or own)
        self.tokenizer_file = self.tokenizer.model_path
        if tokenizer_digest(self.tokenizer) != self.manifest["tokenizer"]["sha256"]:
            raise DataError(f"--data {str(self.data_dir)!r} was written with another tokenizer than "
                            f"{str(self.tokenizer_file)!r} (their digests differ); pass the data folder's own "
                            f"({own}) or write the data again with this one")
        length = int(self.manifest["options"]["max_seq_length"])
        if o.max_seq_length is not None and o.max_seq_length != length:
            raise DataError(f"--data {str(self.data_dir)!r} holds sequences of up to {length} tokens, not "
                            f"--max-seq-length {o.max_seq_length}; leave --max-seq-length out or write the data "
                            "again with it")
        self.checkpoint = self._source()
        self.config = with_dropout(self.checkpoint.config, o.dropout)
        if self.config.vocab_size != self.tokenizer.vocab_size:
            raise ConfigError(f"the model's vocab_size is {self.config.vocab_size} but the data's tokenizer has "
                              f"{self.tokenizer.vocab_size} pieces; pass a config with vocab_size "
                              f"{self.tokenizer.vocab_size}, or a preset name (its vocabulary follows the data)")
        if length > self.config.max_position_embeddings:
            raise ConfigError(f"the data's sequences are up to {length} tokens but the model's "
                              f"max_position_embeddings is {self.config.max_position_embeddings}; pass a config with "
                              "at least that many positions, or write the data with a smaller --max-seq-length")
        self.train_features = self.eval_features = self.eval_batches = None
        self.batches = PretrainingBatches(self.data_dir, batch_size=self.micro_batch_size,
                                          accumulation=o.gradient_accumulation_steps, seed=o.seed, shuffle=o.shuffle,
                                          pad_id=self.tokenizer.pad_token_id)
        self.batches.check()

    def _source(self) -> Checkpoint:
        """The resumed checkpoint, an existing model folder, or seeded random weights for a config."""
        given = str(self.opts.model)
        if self.resume_from is not None or Path(given).is_dir():
            return open_source(self.resume_from or given)
        vocab = {"vocab_size": self.tokenizer.vocab_size}
        if given.endswith(".json"):
            if not Path(given).is_file():
                raise ConfigError(f"--config {given!r} is not a file; pass a config.json or a preset name")
            config = AlbertConfig.from_json_file(given)
        else:
            name = given[len(RANDOM_PREFIX):] if given.startswith(RANDOM_PREFIX) else given
            config = AlbertConfig(**{**TINY_CONFIG, **vocab}) if name == "tiny" else \
                AlbertConfig.from_preset(name, **vocab)
        return Checkpoint(config, init_params(config, PRETRAINING, self.opts.seed), source=f"{RANDOM_PREFIX}{given}")

    def _default_metric(self) -> str:
        return "loss"

    @functools.cached_property
    def _fingerprint(self) -> str:
        """The data folder's identity: its shards, their sizes and the tokenizer (not the shards' bytes: a resume
        would read the whole corpus again)."""
        identity = {k: self.manifest[k] for k in ("shards", "tokenizer", "options", "instances")}
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]

    def _data_state(self) -> dict[str, Any]:
        return {"data": str(self.data_dir)}
