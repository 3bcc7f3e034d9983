"""`albert vocab` and `albert pretrain-data`: from raw text to a vocabulary and to pretraining shards
(docs/pretraining.md)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from ..pretraining.builder import DataOptions
from ..pretraining.trainer import PRETRAINING_DEFAULTS
from ..tasks import PRETRAINING
from .finetune import add_option_flags, options_from, print_result

# Fine-tuning's options that do not apply to pretraining (no labels, no evaluation set, data already masked).
NOT_FOR_PRETRAINING = ("task", "eval", "per_device_eval_batch_size", "doc_stride", "max_answer_length",
                       "mlm_probability", "eval_steps", "metric_for_best_model", "early_stopping_patience")

DATA_HELP = {
    "max_seq_length": "tokens per instance, [CLS] and [SEP]s included",
    "short_seq_prob": "fraction of instances given a random shorter target length",
    "masked_lm_prob": "fraction of each instance's tokens to mask",
    "max_predictions_per_seq": "at most this many masked tokens per instance (default: "
                               "round(max-seq-length * masked-lm-prob) + 1)",
    "dupe_factor": "passes over the corpus, each with new pairs and masks",
    "seed": "random seed: the same seed gives the same shards on any machine and core count",
    "shard_size": "instances per shard file",
}


def add_parsers(sub: Any) -> None:
    v = sub.add_parser("vocab", help="train a SentencePiece vocabulary with ALBERT's conventions",
                       description="Train a SentencePiece unigram model (<pad> <unk> [CLS] [SEP] [MASK] = ids 0-4) on "
                                   "text files, preprocessed as the tokenizer will; writes spiece.model and the "
                                   "HF tokenizer files to --output.")
    v.add_argument("corpus", nargs="+", help="text files (one sentence or paragraph a line), or folders of *.txt")
    v.add_argument("--vocab-size", type=int, required=True, help="pieces in the vocabulary (released models: 30000)")
    v.add_argument("--output", required=True, help="folder for spiece.model and the tokenizer files")
    v.add_argument("--cased", action="store_true", help="keep upper case (do_lower_case=False)")
    v.add_argument("--keep-accents", action="store_true", help="keep accents (the default strips them)")
    v.add_argument("--character-coverage", type=float, default=0.99995,
                   help="share of the corpus' characters the pieces must cover (default 0.99995)")
    v.add_argument("--input-sentence-size", type=int, default=10_000_000,
                   help="lines SentencePiece samples from a larger corpus (default 10000000)")
    v.add_argument("--seed", type=int, default=12345, help="SentencePiece's random seed (default 12345)")

    d = sub.add_parser("pretrain-data", help="MLM + SOP pretraining shards from text, with n-gram masking",
                       description="Turn a corpus (documents separated by blank lines, one sentence a line) into "
                                   "shards of segment pairs with sentence-order labels and n-gram masks, plus "
                                   "stats.json, in --output.")
    d.add_argument("corpus", nargs="+", help="text files, or folders of *.txt")
    d.add_argument("--tokenizer", required=True, help="spiece.model or a tokenizer folder ('albert vocab' output)")
    d.add_argument("--output", required=True, help="folder for the shards, data.json and stats.json")
    for field in dataclasses.fields(DataOptions):
        kind = float if "float" in str(field.type) else int
        shown = f" (default {field.default})" if field.default is not None else ""
        d.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, type=kind, default=field.default,
                       help=DATA_HELP[field.name] + shown)
    d.add_argument("--workers", type=int, default=None, help="processes (default: every core)")
    d.add_argument("--no-progress", action="store_true", help="no progress line even on a terminal")
    d.add_argument("--json", action="store_true", help="print the statistics as one JSON object")

    t = sub.add_parser("pretrain", help="pretrain on 'albert pretrain-data' output (MLM + SOP, LAMB), any backend",
                       description="Pretrain ALBERT's pretraining head from a config (or continue a model) on a "
                                   "data folder; writes checkpoints, log.jsonl (loss, mlm_loss, sop_loss, "
                                   "mlm_accuracy, sop_accuracy) and the final model to --output. See "
                                   "docs/pretraining.md.")
    add_option_flags(t, exclude=NOT_FOR_PRETRAINING, defaults=PRETRAINING_DEFAULTS,
                     flags={"train": "--data", "model": "--config"},
                     helps={"train": "data folder written by 'albert pretrain-data'",
                            "model": "a preset (albert-base-v2, ...), tiny, a config.json, or a model folder to "
                                     "continue; a preset's vocabulary size follows the data",
                            "tokenizer": "spiece.model (default: the data folder's tokenizer)",
                            "max_seq_length": "must be the data's (default: the data's)",
                            "optimizer": "lamb (the paper's) or adamw"})


def cmd_vocab(args: argparse.Namespace) -> int:
    from ..pretraining.vocab import train_vocab

    path = train_vocab(args.corpus, vocab_size=args.vocab_size, output_dir=args.output,
                       do_lower_case=not args.cased, keep_accents=args.keep_accents,
                       character_coverage=args.character_coverage, input_sentence_size=args.input_sentence_size,
                       seed=args.seed)
    print(f"wrote {path} ({args.vocab_size} pieces) and the tokenizer files in {args.output}")
    return 0


def cmd_pretrain_data(args: argparse.Namespace) -> int:
    from ..pretraining.builder import build_pretraining_data

    options = DataOptions(**{f.name: getattr(args, f.name) for f in dataclasses.fields(DataOptions)})
    stats = build_pretraining_data(args.corpus, tokenizer=args.tokenizer, output_dir=args.output, options=options,
                                   workers=args.workers, progress=False if args.no_progress else None)
    if args.json:
        print(json.dumps(stats))
    else:
        for key, value in stats.items():
            print(f"{key}: {json.dumps(value)}")
    return 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    from ..pretraining.trainer import pretrain

    return print_result(pretrain(options_from(args, task=PRETRAINING)), args.json)


HANDLERS = {"vocab": cmd_vocab, "pretrain-data": cmd_pretrain_data, "pretrain": cmd_pretrain}
