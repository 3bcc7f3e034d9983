"""Dynamic masking for masked-LM fine-tuning: each batch is masked afresh (HF's DataCollatorForLanguageModeling)."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, InputError, InputTypeError, short_repr

IGNORE_INDEX = -100  # labels where no loss is taken


def mask_tokens(input_ids: np.ndarray, special_tokens_mask: np.ndarray, rng: np.random.Generator, *,
                vocab_size: int, mask_token_id: int, probability: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """(masked input_ids, labels): each token not marked in `special_tokens_mask` (special tokens and padding) is
    selected with `probability`; of those, 80% become `mask_token_id`, 10% a uniformly random id in
    [0, vocab_size) and 10% stay. `labels` holds the original id where selected, -100 elsewhere.

    The same `rng` state gives the same result: every draw has the batch's shape, whatever the data.
    """
    if not isinstance(input_ids, np.ndarray) or not np.issubdtype(input_ids.dtype, np.integer):
        raise InputTypeError(f"input_ids must be an integer NumPy array, got {type(input_ids).__name__} "
                             f"{getattr(input_ids, 'dtype', '')} {short_repr(input_ids)}.")
    special = np.asarray(special_tokens_mask)
    if special.shape != input_ids.shape or special.dtype != bool:
        raise InputError(f"special_tokens_mask must be a bool array of the shape of input_ids {input_ids.shape}, got "
                         f"{special.dtype} {special.shape}; mark special tokens and padding True.")
    if not isinstance(rng, np.random.Generator):
        raise InputTypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}; pass "
                             "np.random.default_rng(seed).")
    for name, value, low in (("vocab_size", vocab_size, 1), ("mask_token_id", mask_token_id, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ConfigError(f"{name} must be an int >= {low}, got {short_repr(value)}.")
    if mask_token_id >= vocab_size:
        raise ConfigError(f"mask_token_id {mask_token_id} is outside the vocabulary [0, {vocab_size}); pass the "
                          "tokenizer's mask_token_id and vocab_size.")
    if isinstance(probability, bool) or not isinstance(probability, (int, float)) or not 0 <= probability <= 1:
        raise ConfigError(f"probability must be a number in [0, 1] (HF's mlm_probability, usually 0.15), got "
                          f"{short_repr(probability)}.")
    selected = (rng.random(input_ids.shape) < probability) & ~special
    how = rng.random(input_ids.shape)  # < 0.8: [MASK]; [0.8, 0.9): a random id; else unchanged
    random_ids = rng.integers(0, vocab_size, size=input_ids.shape, dtype=np.int64)
    masked = input_ids.astype(np.int64, copy=True)
    masked[selected & (how < 0.8)] = mask_token_id
    swap = selected & (how >= 0.8) & (how < 0.9)
    masked[swap] = random_ids[swap]
    labels = np.where(selected, input_ids, IGNORE_INDEX).astype(np.int64)
    return masked, labels
