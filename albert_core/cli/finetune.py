"""`albert finetune`: every `TrainingOptions` field as a flag with HF's name (`--learning-rate`, ...), read from the
options' own table so the CLI and the Python API cannot drift apart."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from ..training.options import FINETUNE_TASKS, TrainingOptions

# Flags whose name is not the field's (the issue's and HF scripts' spelling), and inverted switches.
RENAMED = {"output_dir": "--output"}
NEGATED = {"shuffle": "--no-shuffle", "plot": "--no-plot", "progress": "--no-progress"}
REQUIRED = ("task", "model", "train", "output_dir")
HELP = {
    "task": f"what to train: {', '.join(sorted(FINETUNE_TASKS))}",
    "model": "model folder, preset name, random:<preset> or random:tiny",
    "train": "training data: .jsonl, .json, .csv, or .txt (fill-mask)",
    "output_dir": "folder for checkpoints, log.jsonl, the final model and its curves",
    "eval": "evaluation data, same format as --train",
    "backend": "training backend: torch, jax or tensorflow (see 'albert backends')",
    "tokenizer": "spiece.model file (default: the model folder's)",
    "max_steps": "optimizer steps; > 0 overrides --num-train-epochs",
    "max_seq_length": "tokens per row (default 384 for question-answering, else 128)",
    "max_grad_norm": "clip the global gradient norm to this (0: no clipping)",
    "dropout": "override the config's hidden, attention and classifier dropout",
    "eval_steps": "evaluate every N steps (default: at the end only)",
    "save_steps": "checkpoint every N steps (and always at the end; 0: at the end only)",
    "metric_for_best_model": "eval metric that picks the best checkpoint (default: the task's)",
    "early_stopping_patience": "stop after N evaluations without improvement",
    "resume": "continue from the latest checkpoint in --output, or from the checkpoint folder given",
    "shuffle": "keep the file order (no shuffling)",
    "plot": "do not draw training.png",
    "progress": "no progress bar even on a terminal",
    "bf16": "bfloat16 compute, float32 master weights and optimizer state",
    "gradient_checkpointing": "recompute each layer in the backward pass (less memory, more time)",
    "optimizer": "adamw or lamb",
    "distributed": "data-parallel training: auto (torchrun's environment, several JAX devices, TF_CONFIG or "
                   "several TF devices), off, or on (an error without replicas); see docs/scaling.md",
}


def _kind(field: dataclasses.Field) -> type:
    default = field.default
    if isinstance(default, bool) or field.type in ("bool", "bool | None"):
        return bool
    if field.type.startswith("int") or isinstance(default, int):
        return int
    if field.type.startswith("float") or isinstance(default, float):
        return float
    return str


def add_parser(sub: Any, parser_class: type) -> argparse.ArgumentParser:
    p = sub.add_parser("finetune", help="fine-tune a model on your data, on any training backend",
                       description="Fine-tune ALBERT on JSON-lines or CSV data; writes checkpoints, log.jsonl and "
                                   "the final model (an HF folder) to --output. See docs/finetuning.md.")
    add_option_flags(p)
    return p


def add_option_flags(p: argparse.ArgumentParser, *, exclude: tuple[str, ...] = (),
                     defaults: dict[str, Any] | None = None, flags: dict[str, str] | None = None,
                     helps: dict[str, str] | None = None) -> None:
    """A flag for every `TrainingOptions` field but `exclude`, with `defaults`, `flags` and `helps` in place of the
    field's default, flag name and help; and `--json`."""
    defaults, flags, helps = defaults or {}, {**RENAMED, **(flags or {})}, {**HELP, **(helps or {})}
    for field in dataclasses.fields(TrainingOptions):
        if field.name in exclude:
            continue
        name, kind = field.name, _kind(field)
        help_text = helps.get(name, "")
        if name in NEGATED:
            p.add_argument(NEGATED[name], dest=name, action="store_false", help=help_text)
            p.set_defaults(**{name: field.default if name != "progress" else None})
        elif name == "resume":
            p.add_argument("--resume", nargs="?", const=True, default=None, metavar="CHECKPOINT", help=help_text)
        elif kind is bool:
            p.add_argument(f"--{name.replace('_', '-')}", dest=name, action="store_true", help=help_text)
        else:
            flag = flags.get(name, f"--{name.replace('_', '-')}")
            default = defaults.get(name, None if field.default is dataclasses.MISSING else field.default)
            shown = f" (default {default})" if default is not None and name not in REQUIRED else ""
            p.add_argument(flag, dest=name, type=kind, default=default, required=name in REQUIRED,
                           metavar=flag[2:].upper().replace("-", "_"), help=help_text + shown)
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")


def options_from(args: Any, **fixed: Any) -> TrainingOptions:
    """The `TrainingOptions` of parsed flags (`fixed`: the fields a command has no flag for)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainingOptions) if hasattr(args, f.name)}
    if values["progress"] is not False:
        values["progress"] = None  # automatic: a bar when stderr is a terminal
    return TrainingOptions(**{**values, **fixed})


def print_result(result: Any, as_json: bool) -> int:
    summary = {"output_dir": str(result.output_dir), "global_step": result.global_step,
               "best_checkpoint": str(result.best_checkpoint) if result.best_checkpoint else None,
               **{f"eval_{k}": v for k, v in result.metrics.items()}}
    if as_json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")
    return 0


def cmd_finetune(args: Any) -> int:
    from ..training.trainer import finetune

    return print_result(finetune(options_from(args)), args.json)
