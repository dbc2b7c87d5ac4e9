"""Per-example losses of the transformer family, in nats.

* Next-token prediction (GPT on text): a window of L + 1 tokens gives inputs ``tokens[:, :-1]`` and targets
  ``tokens[:, 1:]``; ``window_nll`` is the NLL summed over the window's (unmasked) targets, with the number of
  targets and of the characters they stand for (``token_chars`` of the tokenizer), so that
  ``bits/char = sum NLL / (ln 2 * sum chars)`` over a split is exact for characters and BPE alike.
* Pixels (pixel GPT): an image [H, W, C] in [0, 1] is the sequence of its 8-bit pixels in raster order
  (row by row, channels innermost), quantized to ``b`` bits (q = pixel >> (8 - b)), preceded by a BOS token.
  The NLL of the 8-bit image is ``NLL(q) + D (8 - b) ln 2`` (each coarse level spread uniformly over its
  2^(8-b) pixel values): exactly the discrete 8-bit likelihood every family's bits/dim is measured on.
* Masked language modelling (BERT, Devlin et al. 2019): each token is selected with probability p (0.15);
  a selected token is replaced by [MASK] with probability 0.8, by a uniformly random token with 0.1, and kept
  with 0.1; the loss is the NLL of the original tokens at the selected positions.
"""
import math
from typing import Any

import jax
import jax.numpy as jnp


def token_nll(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """NLL in nats [B, L] of integer ``targets`` [B, L] under ``logits`` [B, L, V] (float32 log-softmax)."""
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  return -jnp.take_along_axis(logp, targets[..., None].astype(jnp.int32), axis=-1)[..., 0]


def window_nll(logits: jax.Array, tokens: jax.Array, target_mask: jax.Array | None,
               token_chars: jax.Array) -> dict[str, jax.Array]:
  """Per-window sums [B]: 'nll' (nats), 'tokens' (targets counted), 'chars' (characters of those targets).

  ``logits`` [B, L, V] of inputs ``tokens[:, :-1]``; ``tokens`` [B, L + 1]; ``target_mask`` [B, L] or None
  (all targets count); ``token_chars`` [V] characters per token.
  """
  targets = tokens[:, 1:]
  nll = token_nll(logits, targets)
  w = jnp.ones_like(nll) if target_mask is None else target_mask.astype(jnp.float32)
  chars = jnp.take(token_chars, targets).astype(jnp.float32)
  return {'nll': jnp.sum(nll * w, -1), 'tokens': jnp.sum(w, -1), 'chars': jnp.sum(chars * w, -1)}


def pixel_tokens(images: jax.Array, bits: int) -> jax.Array:
  """int32 [B, D]: images [B, H, W, C] in [0, 1] (8-bit values / 255) -> quantized levels in raster order."""
  pixels = jnp.clip(jnp.round(images * 255.0), 0, 255).astype(jnp.int32)
  return jnp.right_shift(pixels, 8 - bits).reshape(images.shape[0], -1)


def pixel_values(levels: jax.Array, bits: int, shape: tuple[int, ...]) -> jax.Array:
  """Images [B, *shape] in [0, 1] from levels [B, D]: each level at the centre of its 2^(8-b) pixel values."""
  width = 2 ** (8 - bits)
  pixels = levels.astype(jnp.float32) * width + (width - 1) / 2.0
  return (pixels / 255.0).reshape((levels.shape[0],) + tuple(shape))


def pixel_nll(logits: jax.Array, levels: jax.Array, bits: int) -> jax.Array:
  """NLL in nats [B] of the 8-bit images whose levels are ``levels`` [B, D] (module docstring)."""
  d = levels.shape[1]
  return jnp.sum(token_nll(logits, levels), -1) + d * (8 - bits) * math.log(2.0)


def with_bos(levels: jax.Array, bos: int) -> jax.Array:
  """[B, D] -> [B, D + 1] with the BOS token in front (inputs are its first D entries)."""
  return jnp.concatenate([jnp.full((levels.shape[0], 1), bos, levels.dtype), levels], axis=1)


def mlm_corrupt(rng: jax.Array, tokens: jax.Array, vocab: int, mask_id: int, probability: float = 0.15,
                mask: float = 0.8, random: float = 0.1, valid: jax.Array | None = None
                ) -> tuple[jax.Array, jax.Array]:
  """BERT's corruption of ``tokens`` [B, L] (ids < ``vocab``): returns ``(inputs [B, L], selected bool [B, L])``.

  Each valid position is selected with ``probability``; a selected token becomes ``mask_id`` with
  probability ``mask``, a uniform random token of ``0..vocab-1`` with ``random``, else stays.
  """
  k_sel, k_kind, k_tok = jax.random.split(rng, 3)
  selected = jax.random.bernoulli(k_sel, probability, tokens.shape)
  if valid is not None:
    selected &= valid.astype(bool)
  u = jax.random.uniform(k_kind, tokens.shape)
  random_tokens = jax.random.randint(k_tok, tokens.shape, 0, vocab, tokens.dtype)
  inputs = jnp.where(selected & (u < mask), mask_id, tokens)
  inputs = jnp.where(selected & (u >= mask) & (u < mask + random), random_tokens, inputs)
  return inputs, selected


def mlm_nll(logits: jax.Array, tokens: jax.Array, selected: jax.Array) -> dict[str, jax.Array]:
  """Per-sequence sums [B]: 'nll' (nats over the selected positions) and 'tokens' (how many were selected)."""
  w = selected.astype(jnp.float32)
  return {'nll': jnp.sum(token_nll(logits, tokens) * w, -1), 'tokens': jnp.sum(w, -1)}


def token_chars_table(config: Any) -> jax.Array:
  """float32 [V]: characters per token of the text dataset's tokenizer (host-side, at step-build time)."""
  from gen_jax.data.text import get_tokenizer  # pylint: disable=g-import-not-at-top
  return jnp.asarray(get_tokenizer(config.dataset).token_chars, jnp.float32)
