"""Embeddings of scalar conditioning signals (diffusion time, noise level) and class labels.

Shapes: ``t`` is ``[B]`` (any float or int values: a timestep index, ``999 * t`` for
continuous time, a log noise level); embeddings are ``[B, dim]`` float32.
"""
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


def sinusoidal_embedding(t: jax.Array, dim: int, max_period: float = 10_000.0) -> jax.Array:
  """Transformer-style sinusoidal features of ``t`` [B] -> [B, dim] (Ho et al. 2020, Vaswani et al. 2017).

  Half the features are ``cos(t * f_k)``, half ``sin(t * f_k)`` with frequencies
  ``f_k = max_period ** (-k / (dim // 2))``, ``k = 0 .. dim//2 - 1``; an odd ``dim`` gets one zero column.
  """
  half = dim // 2
  freqs = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / max(half, 1))
  args = jnp.asarray(t, jnp.float32)[:, None] * freqs[None, :]
  emb = jnp.concatenate([jnp.cos(args), jnp.sin(args)], axis=-1)
  if dim % 2:
    emb = jnp.pad(emb, ((0, 0), (0, 1)))
  return emb


class TimeEmbedding(nn.Module):
  """Sinusoidal features of ``t`` [B] followed by a 2-layer SiLU MLP -> [B, dim] (the DDPM time embedding)."""
  dim: int
  base_dim: int = 0           # width of the sinusoidal features; 0: dim // 4
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, t: jax.Array) -> jax.Array:
    emb = sinusoidal_embedding(t, self.base_dim or max(self.dim // 4, 2))
    emb = nn.Dense(self.dim, dtype=self.dtype)(emb.astype(self.dtype))
    return nn.Dense(self.dim, dtype=self.dtype)(nn.silu(emb))


class LabelEmbedding(nn.Module):
  """Class-label embedding with one extra row, index ``num_classes``, for the null (unconditional) label.

  ``label`` [B] int32 in ``[0, num_classes]`` -> [B, dim]. Classifier-free guidance trains
  with a fraction of labels replaced by ``num_classes`` and samples with both.
  """
  num_classes: int
  dim: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, label: jax.Array) -> jax.Array:
    return nn.Embed(self.num_classes + 1, self.dim, dtype=self.dtype)(label)
