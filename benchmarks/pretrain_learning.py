"""Does pretraining learn, and does it help fine-tuning? From raw text to a fine-tuned classifier on one machine.

    python -m benchmarks.pretrain_learning [--backend torch] [--steps 400] [--out benchmarks/results/pretrain-learning]

1. The sample corpus (the standard library's docstrings, `albert_core.pretraining.sample_corpus`), every tenth
   document held out; a 2000-piece vocabulary (`albert vocab`); pretraining data at 128 tokens, 5 copies.
2. A small ALBERT (E=64, H=128, 4 shared layers) pretrained with LAMB; its MLM accuracy on the held-out documents'
   masked tokens against the unigram-frequency baseline (always the most frequent masked token).
3. Fine-tuning on docstring topics (which module a function's docstring documents; the conformance suite's
   set), once from the pretrained weights and once from random weights of the same shape, same settings, on
   all the training rows and on the first 64 (few labels, where pretraining should matter most): held-out
   accuracy of each, and the majority-class rate.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import time
from pathlib import Path

import numpy as np

import albert_core
from albert_core import AlbertConfig
from albert_core.pretraining.batches import PretrainingBatches
from albert_core.pretraining.builder import DataOptions, build_pretraining_data
from albert_core.pretraining.sample_corpus import documents
from albert_core.pretraining.trainer import pretrain
from albert_core.pretraining.vocab import train_vocab

CONFIG = dict(vocab_size=2000, embedding_size=64, hidden_size=128, num_hidden_layers=4, num_attention_heads=2,
              intermediate_size=256, max_position_embeddings=128, hidden_dropout_prob=0.0,
              attention_probs_dropout_prob=0.0, classifier_dropout_prob=0.1)
FINETUNE = dict(learning_rate=1e-3, max_steps=100, warmup_ratio=0.1, per_device_train_batch_size=16,
                max_seq_length=64, save_steps=None, logging_steps=25, plot=False, progress=False, seed=0)


def _corpus(root: Path) -> tuple[Path, Path]:
    train, held = [], []
    for i, sentences in enumerate(documents()):
        (held if i % 10 == 0 else train).append("\n".join(sentences))
    paths = root / "train.txt", root / "held-out.txt"
    for path, docs in zip(paths, (train, held)):
        path.write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    return paths


def _mlm_accuracy(model_dir: Path, data: Path, backend: str) -> tuple[float, float, float]:
    """(the model's accuracy, the unigram baseline's, its sop accuracy) on every masked token of `data`."""
    model = albert_core.load(model_dir, backend=backend, task="pretraining")
    batches = PretrainingBatches(data, batch_size=32, accumulation=1, seed=0, shuffle=False)
    right = total = sop_right = rows = 0
    labels_seen = []
    for k in range(batches.steps_per_epoch):
        (batch,), _ = batches.step(k)
        out = model(**{n: v for n, v in batch.items() if n not in ("labels", "sentence_order_label")})
        logits = np.asarray(model.ops.to_numpy(out["prediction_logits"]))
        keep = batch["labels"] != -100
        right += int((logits.argmax(-1)[keep] == batch["labels"][keep]).sum())
        total += int(keep.sum())
        labels_seen.append(batch["labels"][keep])
        sop = np.asarray(model.ops.to_numpy(out["sop_logits"])).argmax(-1)
        sop_right, rows = sop_right + int((sop == batch["sentence_order_label"]).sum()), rows + len(sop)
    counts = np.bincount(np.concatenate(labels_seen))
    return right / total, counts.max() / counts.sum(), sop_right / rows


def _classification(root: Path) -> tuple[Path, Path, list[dict], list[dict]]:
    from albert_conformance.training_cases import docstring_records, held_out

    records = docstring_records()
    train = [{"text": r["text"], "label": r["label"]} for r in records if not held_out(r)]
    held = [{"text": r["text"], "label": r["label"]} for r in records if held_out(r)]
    paths = root / "topics-train.jsonl", root / "topics-eval.jsonl"
    for path, rows in zip(paths, (train, held)):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return *paths, train, held


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--work", type=Path, default=Path("/tmp/albert-pretrain-learning"))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results/pretrain-learning")
    parser.add_argument("--reuse", action="store_true", help="keep --work's pretrained model; fine-tune again")
    args = parser.parse_args()
    root = args.work
    began = time.perf_counter()
    vocab = root / "vocab/spiece.model"
    if args.reuse and (root / "pretrained/model.safetensors").is_file():
        log = [json.loads(line) for line in (root / "pretrained/log.jsonl").read_text().splitlines()]
        stats, pretrain_s = json.loads((root / "data/stats.json").read_text()), None
    else:
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        train_txt, held_txt = _corpus(root)
        train_vocab(train_txt, vocab_size=CONFIG["vocab_size"], output_dir=vocab.parent)
        options = DataOptions(max_seq_length=128, dupe_factor=5)
        stats = build_pretraining_data(train_txt, tokenizer=vocab.parent, output_dir=root / "data", options=options)
        build_pretraining_data(held_txt, tokenizer=vocab.parent, output_dir=root / "held-out-data",
                               options=DataOptions(max_seq_length=128, dupe_factor=1))
        AlbertConfig(**CONFIG).to_json_file(root / "config.json")
        started = time.perf_counter()
        log = pretrain(train=str(root / "data"), model=str(root / "config.json"), output_dir=str(root / "pretrained"),
                       backend=args.backend, max_steps=args.steps, per_device_train_batch_size=32,
                       learning_rate=2e-2, warmup_ratio=0.05, logging_steps=50, save_steps=args.steps, plot=False,
                       progress=False).log
        pretrain_s = round(time.perf_counter() - started, 1)
    accuracy, unigram, sop = _mlm_accuracy(root / "pretrained", root / "held-out-data", args.backend)

    train_jsonl, eval_jsonl, train_rows, held_rows = _classification(root)
    random_dir = root / "random-init"
    shutil.rmtree(random_dir, ignore_errors=True)
    for old in root.glob("ft-*"):
        shutil.rmtree(old)
    albert_core.save(albert_core.init_params(AlbertConfig(**CONFIG), "base", seed=0), random_dir,
                     config=AlbertConfig(**CONFIG), task="base")
    few = root / "topics-train-64.jsonl"  # 16 rows of each of the 4 topics
    by_label: dict[str, list[dict]] = collections.defaultdict(list)
    for r in train_rows:
        by_label[r["label"]].append(r)
    few.write_text("".join(json.dumps(r) + "\n" for rows in by_label.values() for r in rows[:16]), encoding="utf-8")
    finetuned: dict[str, dict[str, float]] = {}
    for rows, data in (("all", train_jsonl), ("64", few)):
        for name, model in (("pretrained", root / "pretrained"), ("random", random_dir)):
            run = albert_core.finetune(task="text-classification", model=str(model), tokenizer=str(vocab),
                                       train=str(data), eval=str(eval_jsonl), backend=args.backend,
                                       output_dir=str(root / f"ft-{rows}-{name}"),
                                       per_device_eval_batch_size=len(held_rows), **FINETUNE)
            finetuned.setdefault(f"{rows}_rows", {})[name] = run.metrics["accuracy"]
    label, _ = collections.Counter(r["label"] for r in train_rows).most_common(1)[0]
    majority = sum(r["label"] == label for r in held_rows) / len(held_rows)
    summary = {"backend": args.backend, "pretraining_steps": args.steps, "pretraining_seconds": pretrain_s,
               "data": {k: stats[k] for k in ("instances", "masked_fraction", "ngram_histogram")},
               "pretraining_log": log, "held_out_mlm_accuracy": accuracy,
               "unigram_baseline_accuracy": unigram, "held_out_sop_accuracy": sop,
               "finetune_held_out_accuracy": finetuned, "majority_class": majority,
               "finetune": FINETUNE, "config": CONFIG, "total_seconds": round(time.perf_counter() - began, 1)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in summary.items() if k != "pretraining_log"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
