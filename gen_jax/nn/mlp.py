"""A residual MLP conditioned on time (and optionally a class label): the denoiser for points.

``MLPDenoiser()(x, t, label, train)``: ``x`` [B, D] (toy2d points, 1-D data, or any
flattened vector; extra trailing axes are flattened and restored), ``t`` [B] float
conditioning values, ``label`` [B] int32 in ``[0, num_classes]`` or None; returns
``[B, ..., out_features]`` float32 where ``out_features`` defaults to D's last axis.
"""
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gen_jax.nn.dropout import Dropout
from gen_jax.nn.embeddings import LabelEmbedding, TimeEmbedding


class MLPBlock(nn.Module):
  """LayerNorm -> Dense -> SiLU (+ embedding) -> dropout -> Dense, residual."""
  hidden: int
  dropout: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, h: jax.Array, emb: jax.Array, train: bool) -> jax.Array:
    y = nn.LayerNorm(dtype=self.dtype)(h)
    y = nn.silu(nn.Dense(self.hidden, dtype=self.dtype)(y) + nn.Dense(self.hidden, dtype=self.dtype)(emb))
    y = Dropout(self.dropout, deterministic=not train)(y)
    return h + nn.Dense(h.shape[-1], dtype=self.dtype, kernel_init=nn.initializers.zeros)(y)


class MLPDenoiser(nn.Module):
  """``num_layers`` residual MLP blocks of width ``hidden`` on ``[x, embedding]``; the output layer is
  zero-initialised (the network starts by predicting 0, like the UNet)."""
  out_features: int = 0          # 0: same as the input's last axis
  hidden: int = 128
  num_layers: int = 3
  dropout: float = 0.0
  num_classes: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, t: jax.Array, label: jax.Array | None = None,
               train: bool = False) -> jax.Array:
    batch_shape = x.shape[1:]
    flat = x.reshape(x.shape[0], -1).astype(self.dtype)
    emb = TimeEmbedding(self.hidden, dtype=self.dtype)(t)
    if self.num_classes:
      if label is None:
        label = jnp.full((x.shape[0],), self.num_classes, jnp.int32)
      emb = emb + LabelEmbedding(self.num_classes, self.hidden, dtype=self.dtype)(label)
    emb = nn.silu(emb)
    h = nn.Dense(self.hidden, dtype=self.dtype)(flat)
    for _ in range(self.num_layers):
      h = MLPBlock(self.hidden, self.dropout, self.dtype)(h, emb, train)
    h = nn.silu(nn.LayerNorm(dtype=self.dtype)(h))
    if self.out_features and len(batch_shape) == 1:
      out_shape = (self.out_features,)
    else:
      out_shape = batch_shape[:-1] + (self.out_features or batch_shape[-1],)
    size = 1
    for s in out_shape:
      size *= s
    out = nn.Dense(size, dtype=jnp.float32, kernel_init=nn.initializers.zeros)(h)
    return out.reshape((x.shape[0],) + out_shape).astype(jnp.float32)
