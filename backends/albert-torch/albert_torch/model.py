"""`AlbertTorchModel`: the core ALBERT model as a `torch.nn.Module` whose `state_dict` keys are HF's names.

Parameters live in nested container modules that spell out HF's dotted key names
(`albert.encoder.albert_layer_groups.0.albert_layers.0.ffn.weight`), so `state_dict()` loads into HF's
PyTorch classes and back, optimizers and `.to()` work as usual, and the forward pass is the core's one
model definition (`albert_core.model.forward`) run on `TorchOps`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from albert_core.backend import LoadInfo
from albert_core.config import AlbertConfig
from albert_core.inputs import prepare_inputs
from albert_core.layout import param_table
from albert_core.model import ModelOutput, forward

from .ops import DTYPE_NAMES, TorchOps


class _Container(nn.Module):
    """A node of the parameter tree; it only holds children and parameters."""


class AlbertTorchModel(nn.Module):
    """ALBERT for `task` on PyTorch. Call it with HF's argument names; it returns a `ModelOutput` of tensors.

    Dropout runs only in training mode (`model.train()`), drawing from torch's global RNG unless
    `forward(rng=...)` passes a `torch.Generator` or an int seed.
    """

    def __init__(self, config: AlbertConfig, task: str, load_info: LoadInfo | None = None, *,
                 dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> None:
        super().__init__()
        self.config, self.task = config, task
        self.load_info = load_info or LoadInfo()
        self._ops_by_device: dict[torch.device, TorchOps] = {}
        for spec in param_table(config, task):
            *path, leaf = spec.name.split(".")
            node: nn.Module = self
            for part in path:
                child = node._modules.get(part)
                if child is None:
                    child = _Container()
                    node.add_module(part, child)
                node = child
            node.register_parameter(leaf, nn.Parameter(torch.empty(spec.shape, dtype=dtype, device=device),
                                                           requires_grad=False))

    # ------------------------------------------------------------------------------------------ helpers
    @property
    def dtype(self) -> str:
        """The dtype of the parameters, as the core names it ("float32", "bfloat16", ...)."""
        return DTYPE_NAMES[self._word_embeddings.dtype]

    @property
    def device(self) -> torch.device:
        return self._word_embeddings.device

    @property
    def _word_embeddings(self) -> torch.Tensor:
        return self.albert.embeddings.word_embeddings.weight

    @property
    def ops(self) -> TorchOps:
        """The op set bound to the device the parameters are on now (follows `.to(device)`)."""
        device = self.device
        ops = self._ops_by_device.get(device)
        if ops is None:
            ops = self._ops_by_device[device] = TorchOps(device)
        return ops

    def params(self) -> dict[str, torch.Tensor]:
        """HF name -> parameter tensor, the flat mapping the core model reads."""
        return dict(self.named_parameters())

    def numpy_params(self) -> dict[str, np.ndarray]:
        """HF-named float32 host copies of every parameter (what `albert_core.save` writes)."""
        return {name: p.detach().to("cpu", torch.float32, copy=True).numpy() for name, p in self.named_parameters()}

    # ------------------------------------------------------------------------------------------ forward
    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, sentence_order_label=None, start_positions=None,
                end_positions=None, *, output_attentions: bool = False, output_hidden_states: bool = False,
                rng: Any = None) -> ModelOutput:
        ops = self.ops
        # Validation reads tensors on the host; CPU tensors are viewed, not copied.
        arrays = prepare_inputs(self.config, self.task, ops.to_numpy, input_ids=input_ids,
                                attention_mask=attention_mask, token_type_ids=token_type_ids,
                                position_ids=position_ids, head_mask=head_mask, inputs_embeds=inputs_embeds,
                                labels=labels, sentence_order_label=sentence_order_label,
                                start_positions=start_positions, end_positions=end_positions)
        native = {name: ops.asarray(value) for name, value in arrays.items()}
        if isinstance(inputs_embeds, torch.Tensor):  # keep the caller's tensor: no round trip, autograd intact
            native["inputs_embeds"] = inputs_embeds.to(self.device)
        return forward(ops, self.config, self.task, self.params(), **native, output_attentions=output_attentions,
                       output_hidden_states=output_hidden_states, training=self.training, rng=rng)

    def extra_repr(self) -> str:
        c = self.config
        return (f"task={self.task!r}, dtype={self.dtype!r}, hidden_size={c.hidden_size}, "
                f"layers={c.num_hidden_layers}, groups={c.num_hidden_groups}")
