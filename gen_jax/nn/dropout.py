"""Dropout whose mask is bit-for-bit ``jax.random.bernoulli``'s, computed in one fused kernel on CPU.

JAX lowers its Threefry-2x32 hash on CPU as a rolled loop (5 iterations of 4 rounds, to keep compile times
short). Inside a train step that loop cannot fuse with anything: every dropout mask is materialised as two
uint32 arrays, written and re-read once per iteration, and the backward pass re-derives the mask from them.
In the GPT peer step (4 layers, width 128, batch 16 x 128, dropout 0.1 on embeddings, residual branches and
attention weights: about 7.6M mask elements per step) that cost more than a quarter of the step on a
2-core CPU (docs/benchmarks.md, "Side by side with PyTorch").

``bernoulli`` below is the same hash, unrolled and written with elementwise ``lax`` operations, so XLA fuses
the 20 rounds, the uniform conversion and the comparison into the consumer's loop. It computes exactly what
``jax.random.bernoulli(key, p, shape)`` computes for a Threefry key under the default
``jax_threefry_partitionable=True`` (tests/nn/test_dropout.py compares the masks bit for bit), so a run's
numbers do not change, only its speed. For any other key implementation, or with the legacy
non-partitionable Threefry, it simply calls ``jax.random.bernoulli``.

``Dropout`` is ``flax.linen.Dropout`` (same rng stream ``'dropout'``, same ``x / keep`` scaling, same masks)
on top of it.
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def _rotl(x: jax.Array, r: int) -> jax.Array:
  return lax.shift_left(x, np.uint32(r)) | lax.shift_right_logical(x, np.uint32(32 - r))


def threefry2x32(k1: jax.Array, k2: jax.Array, x1: jax.Array, x2: jax.Array) -> tuple[jax.Array, jax.Array]:
  """The Threefry-2x32 block cipher (Salmon et al. 2011; 20 rounds), unrolled; uint32 in and out."""
  ks = (k1, k2, k1 ^ k2 ^ np.uint32(0x1BD11BDA))
  x1 = x1 + ks[0]
  x2 = x2 + ks[1]
  for i in range(5):
    for r in _ROTATIONS[i % 2]:
      x1 = x1 + x2
      x2 = _rotl(x2, r) ^ x1
    x1 = x1 + ks[(i + 1) % 3]
    x2 = x2 + ks[(i + 2) % 3] + np.uint32(i + 1)
  return x1, x2


def _fast_path_key(key: jax.Array) -> jax.Array | None:
  """The key's two uint32 words when the fast path computes jax.random's bits exactly, else None."""
  if not jax.config.jax_threefry_partitionable:
    return None
  if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    if key.shape != () or str(jax.random.key_impl(key)) != 'threefry2x32':
      return None
    return jax.random.key_data(key)
  if key.dtype == jnp.uint32 and key.shape == (2,) and jax.config.jax_default_prng_impl == 'threefry2x32':
    return key
  return None


def uniform_bits(key: jax.Array, shape: tuple[int, ...]) -> jax.Array | None:
  """``jax.random.bits(key, shape, uint32)`` for a Threefry key (None where the fast path does not apply)."""
  data = _fast_path_key(key)
  n = math.prod(shape)
  if data is None or n >= 2 ** 32:
    return None
  # jax.random counts the elements in row-major order with a 64-bit counter split (hi, lo): hi = 0 below 2^32.
  lo = lax.iota(jnp.uint32, n).reshape(shape) if n else jnp.zeros(shape, jnp.uint32)
  b1, b2 = threefry2x32(data[0], data[1], jnp.zeros_like(lo), lo)
  return b1 ^ b2


def bernoulli(key: jax.Array, p: float, shape: tuple[int, ...]) -> jax.Array:
  """``jax.random.bernoulli(key, p, shape)``, bit for bit, as fusible elementwise code (see the module doc)."""
  shape = tuple(int(d) for d in shape)
  bits = uniform_bits(key, shape)
  if bits is None:
    return jax.random.bernoulli(key, p, shape)
  # jax.random.uniform: 23 random mantissa bits under the exponent of 1.0, minus 1 -> [0, 1).
  floats = lax.bitcast_convert_type(lax.shift_right_logical(bits, np.uint32(9)) | np.uint32(0x3F800000),
                                    jnp.float32) - np.float32(1.0)
  return lax.max(np.float32(0.0), floats) < jnp.asarray(p, jnp.float32)


def dropout(x: jax.Array, rate: float, key: jax.Array) -> jax.Array:
  """Inverted dropout: zero with probability ``rate``, scale the kept values by ``1 / (1 - rate)``."""
  if rate == 0.0:
    return x
  if rate == 1.0:
    return jnp.zeros_like(x)
  keep_prob = 1.0 - rate
  keep = bernoulli(key, keep_prob, x.shape)
  return lax.select(keep, x / keep_prob, jnp.zeros_like(x))


class Dropout(nn.Module):
  """``flax.linen.Dropout`` with the fused mask above (the same rng stream, masks and scaling)."""
  rate: float
  deterministic: bool | None = None
  rng_collection: str = 'dropout'

  @nn.compact
  def __call__(self, x: jax.Array, deterministic: bool | None = None) -> jax.Array:
    deterministic = nn.merge_param('deterministic', self.deterministic, deterministic)
    if self.rate == 0.0 or deterministic:
      return x
    if self.rate == 1.0:  # as flax: no key drawn
      return jnp.zeros_like(x)
    return dropout(x, self.rate, self.make_rng(self.rng_collection))
