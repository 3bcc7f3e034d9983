"""Scale-out on engines people already run. Batch inference on Ray Data: `RayPredictor` for
`ray.data.Dataset.map_batches`, and `run_dataset` behind `albert run --engine ray` (the `albert-core[ray]` extra).
See docs/scaling.md."""

from .ray_data import INPUT_COLUMN, RESULT_COLUMN, RayPredictor, run_dataset

__all__ = ["INPUT_COLUMN", "RESULT_COLUMN", "RayPredictor", "run_dataset"]
