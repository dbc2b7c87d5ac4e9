"""The DDPM UNet (Ho et al. 2020; Nichol & Dhariwal 2021), as a Flax Linen module.

``UNet()(x, t, label, train)``: ``x`` [B, H, W, C] images, ``t`` [B] float conditioning
values (a timestep index or a scaled continuous time), ``label`` [B] int32 class labels
in ``[0, num_classes]`` (``num_classes`` is the null label) or None; returns
``[B, H, W, out_channels]`` float32. H and W must be divisible by ``2 ** (len(ch_mult) - 1)``.

Layout: a 3x3 stem; per resolution level ``num_res_blocks`` residual blocks (GroupNorm,
SiLU, conv, time/class embedding added, dropout, conv; 1x1 skip when channels change),
self-attention after each block whose spatial size is in ``attn_resolutions``, then a
strided-conv downsample; a middle block (res, attention, res); the mirrored upsampling
path with skip connections and nearest-neighbour + conv upsampling; GroupNorm, SiLU and a
zero-initialised 3x3 output conv (the network starts by predicting 0).
"""
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gen_jax.nn.dropout import Dropout
from gen_jax.nn.embeddings import LabelEmbedding, TimeEmbedding


def group_count(channels: int, num_groups: int) -> int:
  """The largest divisor of ``channels`` not above ``num_groups`` (GroupNorm needs a divisor)."""
  g = max(1, min(num_groups, channels))
  while channels % g:
    g -= 1
  return g


class ResBlock(nn.Module):
  """Pre-activation residual block conditioned on an embedding ``emb`` [B, E] (added per channel)."""
  out_channels: int
  dropout: float = 0.0
  num_groups: int = 32
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, emb: jax.Array, train: bool) -> jax.Array:
    c_in = x.shape[-1]
    h = nn.GroupNorm(group_count(c_in, self.num_groups), dtype=self.dtype)(x)
    h = nn.Conv(self.out_channels, (3, 3), dtype=self.dtype)(nn.silu(h))
    h = h + nn.Dense(self.out_channels, dtype=self.dtype)(nn.silu(emb))[:, None, None, :]
    h = nn.GroupNorm(group_count(self.out_channels, self.num_groups), dtype=self.dtype)(h)
    h = Dropout(self.dropout, deterministic=not train)(nn.silu(h))
    h = nn.Conv(self.out_channels, (3, 3), dtype=self.dtype, kernel_init=nn.initializers.zeros)(h)
    if c_in != self.out_channels:
      x = nn.Conv(self.out_channels, (1, 1), dtype=self.dtype)(x)
    return x + h


class AttnBlock(nn.Module):
  """Multi-head self-attention over the H*W positions, with a residual connection."""
  num_heads: int = 1
  num_groups: int = 32
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    b, hh, ww, c = x.shape
    h = nn.GroupNorm(group_count(c, self.num_groups), dtype=self.dtype)(x).reshape(b, hh * ww, c)
    h = nn.MultiHeadDotProductAttention(num_heads=self.num_heads, dtype=self.dtype,
                                        out_kernel_init=nn.initializers.zeros)(h, h)
    return x + h.reshape(b, hh, ww, c)


class UNet(nn.Module):
  """The DDPM UNet; see the module docstring. A tiny one (ch=8, ch_mult=(1, 2)) compiles in seconds on CPU."""
  out_channels: int
  ch: int = 64
  ch_mult: Sequence[int] = (1, 2, 2)
  num_res_blocks: int = 2
  attn_resolutions: Sequence[int] = (14,)
  dropout: float = 0.0
  num_groups: int = 32
  num_heads: int = 1
  num_classes: int = 0           # 0: unconditional; else labels in [0, num_classes], num_classes = null
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, t: jax.Array, label: jax.Array | None = None,
               train: bool = False) -> jax.Array:
    kw = dict(dtype=self.dtype)
    emb = TimeEmbedding(4 * self.ch, base_dim=self.ch, **kw)(t)
    if self.num_classes:
      if label is None:
        label = jnp.full((x.shape[0],), self.num_classes, jnp.int32)
      emb = emb + LabelEmbedding(self.num_classes, 4 * self.ch, **kw)(label)
    res = lambda c: ResBlock(c, self.dropout, self.num_groups, **kw)  # noqa: E731
    attn = lambda: AttnBlock(self.num_heads, self.num_groups, **kw)  # noqa: E731

    h = nn.Conv(self.ch, (3, 3), **kw)(x.astype(self.dtype))
    skips = [h]
    for level, mult in enumerate(self.ch_mult):
      for _ in range(self.num_res_blocks):
        h = res(self.ch * mult)(h, emb, train)
        if h.shape[1] in self.attn_resolutions:
          h = attn()(h)
        skips.append(h)
      if level != len(self.ch_mult) - 1:
        h = nn.Conv(h.shape[-1], (3, 3), strides=(2, 2), **kw)(h)
        skips.append(h)

    h = res(h.shape[-1])(h, emb, train)
    h = attn()(h)
    h = res(h.shape[-1])(h, emb, train)

    for level, mult in reversed(list(enumerate(self.ch_mult))):
      for _ in range(self.num_res_blocks + 1):
        h = res(self.ch * mult)(jnp.concatenate([h, skips.pop()], axis=-1), emb, train)
        if h.shape[1] in self.attn_resolutions:
          h = attn()(h)
      if level != 0:
        b, hh, ww, c = h.shape
        h = jax.image.resize(h, (b, 2 * hh, 2 * ww, c), 'nearest')
        h = nn.Conv(c, (3, 3), **kw)(h)
    assert not skips

    h = nn.silu(nn.GroupNorm(group_count(h.shape[-1], self.num_groups), **kw)(h))
    out = nn.Conv(self.out_channels, (3, 3), dtype=self.dtype, kernel_init=nn.initializers.zeros)(h)
    return out.astype(jnp.float32)
