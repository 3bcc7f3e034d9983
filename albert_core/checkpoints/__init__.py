"""Checkpoints: the `Checkpoint` type and the format registry, the HF model folder format, safetensors reading and
writing with their checks, conversion to an HF folder, and the aligned host buffers loading reads into."""

from .convert import ConversionReport, convert, infer_task
from .formats import Checkpoint, read_checkpoint, tensor_shape
from .hf_folder import CONFIG_NAME, TOKENIZER_NAME, HFSafetensorsFormat
from .host import HOST_ALIGNMENT, empty_aligned, host_array
from .safetensors_file import INDEX_NAME, WEIGHTS_NAME, CheckpointFolder, SafetensorsFile, save_safetensors

__all__ = [
    "CONFIG_NAME", "HOST_ALIGNMENT", "INDEX_NAME", "TOKENIZER_NAME", "WEIGHTS_NAME", "Checkpoint", "CheckpointFolder",
    "ConversionReport", "HFSafetensorsFormat", "SafetensorsFile", "convert", "empty_aligned", "host_array",
    "infer_task", "read_checkpoint", "save_safetensors", "tensor_shape",
]
