"""Fine-tuning, written once for every backend: the core owns data, tokenisation, batching, the schedule,
evaluation, metrics, logging and checkpoints; a backend contributes only its optimizer step
(`albert_core.training.step.TrainStep`, returned by `Backend.train_step`).

`data` (reading JSON lines, CSV, text files and `datasets.Dataset`s into records with their line numbers),
`features` (records -> tokenised rows per task), `labels` (class names and ids, problem types), `squad`
(question-answering windows, span decoding, SQuAD EM/F1), `masking` (dynamic MLM masking), `batches` (the seeded
data order and padded micro-batches), `metrics` (every task's evaluation metric), `evaluation`, `schedule`, `step`
(the backend contract), `data_parallel` (replicas, and each one's piece of a batch), `options`, `checkpoint`,
`runlog` (log.jsonl and its plot), `trainer` (the loop).
"""
