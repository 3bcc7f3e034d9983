"""`TorchOps`: the core's op contract on PyTorch tensors, with native kernels for the composites.

An instance is bound to a device: `asarray` places host arrays there (the core model creates a few small
tensors itself: default masks, positions, relative distances). Everything else follows its inputs.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
import torch.utils.checkpoint

from albert_core.ops import IGNORE_INDEX, LOW_PRECISION, Ops

DTYPES: dict[str, torch.dtype] = {
    "float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16,
    "int64": torch.int64, "int32": torch.int32, "bool": torch.bool,
}
DTYPE_NAMES: dict[torch.dtype, str] = {v: k for k, v in DTYPES.items()}
_HALF = tuple(DTYPES[name] for name in LOW_PRECISION)
_FEW_ROWS = 256  # `linear` below this many rows multiplies weight @ x.T (see there)


def _site_generator(seed: int, site: int, device: torch.device) -> torch.Generator:
    """An independent generator per (seed, dropout site), so an int seed reproduces a whole forward pass."""
    gen = torch.Generator(device=device)
    gen.manual_seed((int(seed) * 1_000_003 + site) % (2**63))
    return gen


class TorchOps(Ops):
    name = "torch"

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)

    # ---------------------------------------------------------------- primitives: data movement
    def asarray(self, x, dtype=None):
        torch_dtype = DTYPES[dtype] if dtype is not None else None
        if isinstance(x, torch.Tensor):
            return x.to(device=self.device, dtype=torch_dtype)
        if isinstance(x, np.ndarray) and x.dtype.kind in "biuf" and x.flags.writeable:
            t = torch.from_numpy(np.ascontiguousarray(x))  # zero-copy view of the host array
        else:  # lists, scalars, read-only arrays (torch cannot share those): one copy
            t = torch.tensor(np.asarray(x))
        return t.to(device=self.device, dtype=torch_dtype)

    def to_numpy(self, x):
        if not isinstance(x, torch.Tensor):
            return np.asarray(x)
        x = x.detach()
        if x.dtype == torch.bfloat16:  # NumPy has no bfloat16
            x = x.float()
        return x.cpu().numpy()

    def cast(self, x, dtype):
        return x.to(DTYPES[dtype])

    def dtype_name(self, x):
        return DTYPE_NAMES[x.dtype]

    def shape(self, x):
        return tuple(x.shape)

    # ---------------------------------------------------------------- primitives: shape and indexing
    def reshape(self, x, shape):
        return x.reshape(shape)

    def transpose(self, x, axes):
        return x.permute(axes)

    def take(self, table, ids):
        return table[ids]

    def take_along_axis(self, x, ids):
        return torch.gather(x, -1, ids.long().unsqueeze(-1)).squeeze(-1)

    def where(self, cond, x, y):
        return torch.where(cond, x, y)

    def not_equal(self, x, value):
        return torch.ne(x, value)

    def clip(self, x, low, high):
        return torch.clamp(x, low, high)

    # ---------------------------------------------------------------- primitives: math
    def matmul(self, a, b):
        return torch.matmul(a, b)

    def einsum(self, spec, *operands):
        return torch.einsum(spec, *operands)

    def exp(self, x):
        return torch.exp(x)

    def log(self, x):
        return torch.log(x)

    def tanh(self, x):
        return torch.tanh(x)

    def erf(self, x):
        return torch.erf(x)

    def sqrt(self, x):
        return torch.sqrt(x)

    def abs(self, x):
        return torch.abs(x)

    def maximum(self, x, y):
        if isinstance(y, torch.Tensor):
            return torch.maximum(x, y.to(x.dtype))
        return torch.clamp_min(x, y)

    def sum(self, x, axis=None, keepdims=False):
        return x.sum() if axis is None else x.sum(dim=axis, keepdim=keepdims)

    def max(self, x, axis=None, keepdims=False):
        return x.max() if axis is None else x.amax(dim=axis, keepdim=keepdims)

    def dropout(self, x, rate, rng, site):
        # `rng`: None (torch's global RNG, so torch.manual_seed reproduces a run), a torch.Generator, or an int
        # seed (one derived generator per site).
        if rng is None:
            return F.dropout(x, rate, training=True)
        gen = rng if isinstance(rng, torch.Generator) else _site_generator(rng, site, x.device)
        keep = torch.rand(x.shape, generator=gen, device=x.device) >= rate
        return x * keep.to(x.dtype) * (1.0 / (1.0 - rate))

    # ---------------------------------------------------------------- composites: native kernels
    def linear(self, x, weight, bias=None):
        rows = x.numel() // max(1, x.shape[-1])
        if rows <= _FEW_ROWS and x.dtype == torch.float32 and x.device.type == "cpu":
            # Few rows (short or single sequences): weight @ x.T streams the weight once in its stored layout
            # and is 5-35% faster on CPU than F.linear's packed x @ weight.T (measured for 16-128 rows; from
            # ~512 rows the packed GEMM wins). Same values up to float rounding.
            flat = x.reshape(rows, x.shape[-1]).t()
            y = weight @ flat if bias is None else torch.addmm(bias[:, None], weight, flat)
            return y.t().reshape(*x.shape[:-1], weight.shape[0])
        return F.linear(x, weight, bias)

    def embedding(self, table, ids, padding_idx=None):
        return F.embedding(ids, table, padding_idx=padding_idx)

    def softmax(self, x, axis=-1):
        if x.dtype in _HALF:
            return F.softmax(x, dim=axis, dtype=torch.float32).to(x.dtype)
        return F.softmax(x, dim=axis)

    def log_softmax(self, x, axis=-1):
        return F.log_softmax(x, dim=axis, dtype=torch.float32 if x.dtype in _HALF else None)

    def layer_norm(self, x, weight, bias, eps):
        if x.dtype in _HALF:  # statistics and affine in float32, one rounding at the end
            return F.layer_norm(x.float(), x.shape[-1:], weight.float(), bias.float(), eps).to(x.dtype)
        return F.layer_norm(x, x.shape[-1:], weight, bias, eps)

    def gelu(self, x):
        return F.gelu(x)

    def gelu_new(self, x):
        return F.gelu(x, approximate="tanh")

    def relu(self, x):
        return F.relu(x)

    def silu(self, x):
        return F.silu(x)

    def recompute(self, fn, *args):
        if not torch.is_grad_enabled():
            return fn(*args)
        # Non-reentrant: works with inputs that need no grad and inside autocast; RNG state is not needed (the core
        # passes seeded generators), so it is not saved.
        return torch.utils.checkpoint.checkpoint(fn, *args, use_reentrant=False, preserve_rng_state=False)

    def attention(self, q, k, v, bias, head_mask=None, dropout_rate=0.0, rng=None, site=0, need_weights=False):
        # The fused kernel cannot return probabilities, scale them per head, or draw from a caller's generator;
        # those cases run the reference body (still on native kernels through the overrides above).
        if need_weights or head_mask is not None or (dropout_rate and rng is not None):
            return super().attention(q, k, v, bias, head_mask=head_mask, dropout_rate=dropout_rate, rng=rng,
                                     site=site, need_weights=need_weights)
        if bias.dtype != q.dtype:
            # The kernel wants the mask in q's dtype. MASK_FILL is float32's lowest, which is -inf in float16:
            # clamp to the dtype's lowest so fully masked rows stay finite (uniform), never NaN.
            bias = bias.clamp_min(torch.finfo(q.dtype).min).to(q.dtype)
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=float(dropout_rate))
        return ctx, None

    def cross_entropy(self, logits, labels, ignore_index=IGNORE_INDEX):
        if logits.dtype in _HALF:
            logits = logits.float()
        return F.cross_entropy(logits, labels.long(), ignore_index=ignore_index)

    def mse_loss(self, x, y):
        if x.dtype in _HALF:
            x = x.float()
        return F.mse_loss(x, y.to(x.dtype))

    def bce_with_logits(self, logits, targets):
        if logits.dtype in _HALF:
            logits = logits.float()
        return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype))

