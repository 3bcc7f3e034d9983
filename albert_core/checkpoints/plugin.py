"""The core's format plugin: registers the HF model folder format through the same hook as any other."""

from ..hookspecs import hookimpl
from .formats import HF_FORMAT


@hookimpl
def albert_core_register_formats(registry):
    registry.add(HF_FORMAT, "albert_core.checkpoints.hf_folder:HFSafetensorsFormat", distribution="albert-core")
