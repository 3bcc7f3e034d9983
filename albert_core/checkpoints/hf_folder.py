"""The built-in checkpoint format: an HF model folder (`config.json` + `model.safetensors` or a sharded index,
`spiece.model` optional), read lazily and written as HF transformers writes it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..atomic_files import update_folder, write_atomically
from ..config import AlbertConfig
from ..errors import CheckpointError
from .formats import HF_FORMAT, Checkpoint
from .safetensors_file import INDEX_NAME, WEIGHTS_NAME, CheckpointFolder, save_safetensors

CONFIG_NAME = "config.json"
TOKENIZER_NAME = "spiece.model"


class HFSafetensorsFormat:
    """An HF model folder: `config.json` plus `model.safetensors` (or a sharded index), `spiece.model` optional."""

    name = HF_FORMAT
    description = "Hugging Face model folder (config.json + model.safetensors[.index.json])"

    def detect(self, path: str | os.PathLike) -> bool:
        p = Path(path)
        return p.is_dir() and (p / CONFIG_NAME).is_file() and (
            (p / WEIGHTS_NAME).is_file() or (p / INDEX_NAME).is_file())

    def read(self, path: str | os.PathLike) -> Checkpoint:
        p = Path(path)
        if not (p / CONFIG_NAME).is_file():
            hint = (" It looks like an original TensorFlow ALBERT checkpoint: install the albert-tensorflow plugin "
                    "(pip install albert-tensorflow), which reads it." if p.is_dir() and any(p.glob("*.index"))
                    else "")
            raise CheckpointError(f"{str(p)!r} has no {CONFIG_NAME}; an HF model folder needs one.{hint}")
        config = AlbertConfig.from_json_file(p / CONFIG_NAME)
        tokenizer = p / TOKENIZER_NAME
        return Checkpoint(config, CheckpointFolder(p), str(p),
                          tokenizer_file=tokenizer if tokenizer.is_file() else None,
                          architectures=_architectures(p / CONFIG_NAME))

    def write(self, path: str | os.PathLike, checkpoint: Checkpoint) -> None:
        """The folder's files, replaced together (`update_folder`): a crash leaves the old folder or the new one,
        never new weights beside an old config. Its other files are kept; an old sharded index and its shards are
        removed (they would shadow the new `model.safetensors`)."""
        with update_folder(path) as p:
            checkpoint.config.to_json_file(p / CONFIG_NAME, architectures=checkpoint.architectures)
            save_safetensors({k: checkpoint.weights[k] for k in checkpoint.weights}, p / WEIGHTS_NAME)
            for old in [p / INDEX_NAME, *p.glob("model-*-of-*.safetensors")]:
                old.unlink(missing_ok=True)
            tokenizer = checkpoint.tokenizer_file
            if tokenizer is not None and Path(tokenizer).resolve() != (Path(path) / TOKENIZER_NAME).resolve():
                write_atomically(p / TOKENIZER_NAME, Path(tokenizer).read_bytes())


def _architectures(config_file: Path) -> list[str] | None:
    """The HF class names config.json records (AlbertConfig drops them); tells `convert` which head to write."""
    try:
        value = json.loads(config_file.read_text("utf-8")).get("architectures")
    except (OSError, ValueError, AttributeError):
        return None
    return [a for a in value if isinstance(a, str)] if isinstance(value, list) else None
