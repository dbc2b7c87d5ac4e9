"""Attention, written out: scaled dot-product and multi-head attention with masks, dropout, RoPE and a KV cache.

Layout (the one of ``jax.nn.dot_product_attention``): queries ``q`` [B, Lq, H, D], keys and values
``k``, ``v`` [B, Lk, H, D] (batch, positions, heads, head width). Masks are boolean, broadcastable to
[B, H, Lq, Lk], True where query i may attend to key j (``causal_mask``, ``padding_mask``,
``combine_masks``). Attention weights are [B, H, Lq, Lk] and sum to 1 over the keys.

Scaled dot-product attention (Vaswani et al. 2017, eq. 1), per head::

    weights = softmax(q k^T * scale + where(mask, 0, -inf)),   scale = 1 / sqrt(D)
    out     = dropout(weights) v

Logits and the softmax are computed in float32 whatever the compute dtype (bfloat16 logits lose the
small differences a softmax amplifies). A query row with no visible key gets uniform weights (its mask
is replaced by a large negative number, not -inf), as ``jax.nn.dot_product_attention`` does.

``implementation`` selects who computes it: 'reference' (the code below, which alone supports dropout
on the weights and returning them), 'xla' or 'cudnn' (``jax.nn.dot_product_attention``; 'cudnn' is
its flash-attention kernel on NVIDIA GPUs, bfloat16/float16 only). ``tests/nn/test_attention.py``
shows that they agree.

Rotary position embeddings (RoPE, Su et al. 2021) rotate pairs of query/key features by an angle
proportional to the position, so ``q_i . k_j`` depends on positions only through ``i - j``. We use
the "rotate half" pairing of GPT-NeoX and Hugging Face's Llama: feature ``d`` pairs with ``d + D/2``,
frequency ``base ** (-2 d / D)`` for d < D/2.
"""
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gen_jax.nn import dropout as dropout_lib

IMPLEMENTATIONS = ('reference', 'xla', 'cudnn')
_NEG = -0.7 * float(jnp.finfo(jnp.float32).max)  # a finite -inf: rows with no visible key stay finite


# ------------------------------------------------------------------------------------------------- masks


def causal_mask(q_len: int, k_len: int | None = None, q_offset: jax.Array | int = 0) -> jax.Array:
  """bool [1, 1, Lq, Lk]: query i (at absolute position ``q_offset + i``) sees key j iff ``j <= q_offset + i``.

  ``q_offset`` is the position of the first query (a traced scalar while decoding with a KV cache,
  where the keys are the cache's ``Lk`` slots and the ones past the last written position are hidden).
  """
  k_len = q_len if k_len is None else k_len
  qi = jnp.arange(q_len)[:, None] + q_offset
  kj = jnp.arange(k_len)[None, :]
  return (kj <= qi)[None, None]


def padding_mask(k_valid: jax.Array, q_valid: jax.Array | None = None) -> jax.Array:
  """bool [B, 1, Lq or 1, Lk] from validity flags ``k_valid`` [B, Lk] (and ``q_valid`` [B, Lq]): padded keys
  are never attended to; padded queries (when given) attend to nothing (their rows are uniform and
  should be ignored by the caller)."""
  m = k_valid.astype(bool)[:, None, None, :]
  if q_valid is not None:
    m = m & q_valid.astype(bool)[:, None, :, None]
  return m


def combine_masks(*masks: jax.Array | None) -> jax.Array | None:
  """Logical AND of the masks that are not None (None when all are)."""
  masks = [m for m in masks if m is not None]
  if not masks:
    return None
  out = masks[0]
  for m in masks[1:]:
    out = jnp.logical_and(out, m)
  return out


# ------------------------------------------------------------------------------------------------- RoPE


def rope_angles(positions: jax.Array, head_dim: int, base: float = 10_000.0) -> jax.Array:
  """float32 [..., D/2]: the rotation angles ``position * base ** (-2 d / D)``, d = 0 .. D/2 - 1."""
  if head_dim % 2:
    raise ValueError(f'RoPE needs an even head width; got {head_dim}.')
  inv_freq = base ** (-jnp.arange(0, head_dim // 2, dtype=jnp.float32) * 2.0 / head_dim)
  return positions.astype(jnp.float32)[..., None] * inv_freq


def apply_rope(x: jax.Array, positions: jax.Array, base: float = 10_000.0) -> jax.Array:
  """Rotates ``x`` [B, L, H, D] by its ``positions`` [B, L] or [L] (module docstring); same shape and dtype.

  Pairs (x_d, x_{d + D/2}) are rotated by the angle of feature d: a rotation, so norms are preserved and
  ``apply_rope(q, i) . apply_rope(k, j)`` depends on i - j only.
  """
  d = x.shape[-1]
  ang = rope_angles(positions, d, base)            # [B, L, D/2] or [L, D/2]
  if ang.ndim == 2:
    ang = ang[None]
  cos, sin = jnp.cos(ang)[:, :, None, :], jnp.sin(ang)[:, :, None, :]   # [B, L, 1, D/2]
  x1, x2 = jnp.split(x.astype(jnp.float32), 2, axis=-1)
  out = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
  return out.astype(x.dtype)


# --------------------------------------------------------------------------------- scaled dot-product


def attention_weights(q: jax.Array, k: jax.Array, mask: jax.Array | None = None,
                      scale: float | None = None) -> jax.Array:
  """float32 [B, H, Lq, Lk]: ``softmax(q k^T * scale)`` over keys, masked keys at weight 0."""
  scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
  logits = jnp.einsum('bqhd,bkhd->bhqk', q, k, preferred_element_type=jnp.float32) * scale
  if mask is not None:
    logits = jnp.where(mask, logits, _NEG)
  return jax.nn.softmax(logits, axis=-1)


def dot_product_attention(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array | None = None, *,
                          causal: bool = False, scale: float | None = None, dropout_rate: float = 0.0,
                          dropout_rng: jax.Array | None = None, deterministic: bool = True,
                          implementation: str = 'reference', return_weights: bool = False):
  """Scaled dot-product attention: ``q`` [B, Lq, H, D], ``k``, ``v`` [B, Lk, H, D] -> [B, Lq, H, D] in q's dtype.

  Args:
    mask: bool, broadcastable to [B, H, Lq, Lk]; True where attention is allowed.
    causal: also apply ``causal_mask(Lq, Lk)`` (query i sees keys 0..i; needs Lq == Lk for 'cudnn').
    scale: logit scale (default 1 / sqrt(D)).
    dropout_rate, dropout_rng, deterministic: dropout on the attention weights (training only;
      'reference' implementation only).
    implementation: 'reference' | 'xla' | 'cudnn' (module docstring).
    return_weights: also return the float32 weights [B, H, Lq, Lk] ('reference' only).

  Returns:
    ``out``, or ``(out, weights)`` with ``return_weights``.
  """
  if implementation not in IMPLEMENTATIONS:
    raise ValueError(f'attention implementation {implementation!r}; allowed: {", ".join(IMPLEMENTATIONS)}.')
  dropping = dropout_rate > 0.0 and not deterministic
  if implementation != 'reference':
    if dropping or return_weights:
      raise ValueError(f'implementation={implementation!r} (jax.nn.dot_product_attention) has no dropout on the '
                       "weights and does not return them; use implementation='reference'.")
    out = jax.nn.dot_product_attention(q, k, v, mask=mask, scale=scale, is_causal=causal,
                                       implementation=implementation)
    return out
  if causal:
    mask = combine_masks(mask, causal_mask(q.shape[1], k.shape[1]))
  weights = attention_weights(q, k, mask, scale)
  probs = weights
  if dropping:
    if dropout_rng is None:
      raise ValueError('attention dropout needs a dropout_rng.')
    keep = dropout_lib.bernoulli(dropout_rng, 1.0 - dropout_rate, probs.shape)  # = jax.random.bernoulli, fused
    probs = jnp.where(keep, probs / (1.0 - dropout_rate), 0.0)
  out = jnp.einsum('bhqk,bkhd->bqhd', probs.astype(v.dtype), v)
  return (out, weights) if return_weights else out


# ---------------------------------------------------------------------------------------- multi-head


class MultiHeadAttention(nn.Module):
  """Multi-head attention (self or cross), written out: projections, heads, scaling, masks, dropout.

  Parameters (float32): ``query``, ``key``, ``value`` {'kernel': [Din, H, D], 'bias': [H, D]} and ``out``
  {'kernel': [H, D, Dout], 'bias': [Dout]} (biases only with ``use_bias``). Self-attention computes the
  three projections with one matmul.

  Call: ``out, cache = mha(x, context=None, mask=None, causal=False, positions=None, cache=None,
  cache_index=None, deterministic=True, return_weights=False)``:
    x          [B, Lq, Din] queries (and keys/values for self-attention).
    context    [B, Lk, Dc] keys/values for cross-attention (None: self-attention).
    mask       bool broadcastable to [B, H, Lq, Lk] (padding, cross); True = attend.
    causal     a causal mask on top (self-attention; with a cache, relative to ``cache_index``).
    positions  int [B, Lq] or [Lq] absolute positions of x, for RoPE (``rope=True``; default 0..Lq-1,
               or cache_index + 0..Lq-1 with a cache).
    cache      {'k', 'v': [B, Lmax, H, D]}: a KV cache (self-attention only). The keys/values of x are
               written at positions ``cache_index`` .. ``cache_index + Lq - 1`` and the queries attend to
               the whole cache under a causal mask, so unwritten slots are never seen. Returns the
               updated cache (else None).
    return_weights  sow the float32 weights [B, H, Lq, Lk] into the 'intermediates' collection as
               'attention_weights' (reference implementation).
  """
  num_heads: int
  head_dim: int | None = None       # default: Din // num_heads
  out_features: int | None = None   # default: Din
  use_bias: bool = True
  dropout_rate: float = 0.0
  rope: bool = False
  rope_base: float = 10_000.0
  implementation: str = 'reference'
  init_stddev: float | None = None  # None: 1 / sqrt(fan_in); GPT-2 uses 0.02
  out_init_stddev: float | None = None
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def _param(self, name: str, shape: tuple[int, ...], fan_in: int, stddev: float | None, bias_shape):
    def init(rng):
      p = {'kernel': (stddev if stddev is not None else 1.0 / math.sqrt(fan_in))
           * jax.random.normal(rng, shape, self.param_dtype)}
      if self.use_bias:
        p['bias'] = jnp.zeros(bias_shape, self.param_dtype)
      return p
    return self.param(name, init)

  @nn.compact
  def __call__(self, x: jax.Array, context: jax.Array | None = None, mask: jax.Array | None = None,
               causal: bool = False, positions: jax.Array | None = None, cache: dict | None = None,
               cache_index: jax.Array | int | None = None, deterministic: bool = True,
               return_weights: bool = False):
    d_in = x.shape[-1]
    h = self.num_heads
    if self.head_dim is None and d_in % h:
      raise ValueError(f'{h} heads do not divide the width {d_in}.')
    dh = self.head_dim or d_in // h
    d_out = self.out_features or d_in
    ctx = x if context is None else context
    q_p = self._param('query', (d_in, h, dh), d_in, self.init_stddev, (h, dh))
    k_p = self._param('key', (ctx.shape[-1], h, dh), ctx.shape[-1], self.init_stddev, (h, dh))
    v_p = self._param('value', (ctx.shape[-1], h, dh), ctx.shape[-1], self.init_stddev, (h, dh))
    o_p = self._param('out', (h, dh, d_out), h * dh, self.out_init_stddev, (d_out,))
    cast = lambda a: jnp.asarray(a, self.dtype)  # noqa: E731
    x = cast(x)
    if context is None:  # one matmul for q, k, v
      w = jnp.stack([q_p['kernel'], k_p['kernel'], v_p['kernel']], axis=1)       # [Din, 3, H, D]
      qkv = jnp.einsum('bld,dthe->blthe', x, cast(w))
      if self.use_bias:
        qkv = qkv + cast(jnp.stack([q_p['bias'], k_p['bias'], v_p['bias']]))
      q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
    else:
      if cache is not None:
        raise ValueError('a KV cache is for self-attention; cross-attention keys are the fixed context.')
      ctx = cast(ctx)
      q = jnp.einsum('bld,dhe->blhe', x, cast(q_p['kernel']))
      k = jnp.einsum('bld,dhe->blhe', ctx, cast(k_p['kernel']))
      v = jnp.einsum('bld,dhe->blhe', ctx, cast(v_p['kernel']))
      if self.use_bias:
        q, k, v = q + cast(q_p['bias']), k + cast(k_p['bias']), v + cast(v_p['bias'])

    lq = x.shape[1]
    offset = 0 if cache_index is None else cache_index
    if self.rope:
      if context is not None:
        raise ValueError('RoPE is for self-attention (queries and keys on one position axis).')
      pos = jnp.arange(lq) + offset if positions is None else positions
      q, k = apply_rope(q, pos, self.rope_base), apply_rope(k, pos, self.rope_base)

    new_cache = None
    if cache is not None:
      idx = jnp.asarray(offset, jnp.int32)
      zero = jnp.zeros((), jnp.int32)
      ck = jax.lax.dynamic_update_slice(cache['k'], k.astype(cache['k'].dtype), (zero, idx, zero, zero))
      cv = jax.lax.dynamic_update_slice(cache['v'], v.astype(cache['v'].dtype), (zero, idx, zero, zero))
      new_cache = {'k': ck, 'v': cv}
      k, v = ck.astype(self.dtype), cv.astype(self.dtype)
      mask = combine_masks(mask, causal_mask(lq, k.shape[1], idx))  # hides unwritten slots too
      causal = False

    rng = None
    if self.dropout_rate > 0.0 and not deterministic:
      rng = self.make_rng('dropout')
    result = dot_product_attention(q, k, v, mask, causal=causal, dropout_rate=self.dropout_rate, dropout_rng=rng,
                                   deterministic=deterministic, implementation=self.implementation,
                                   return_weights=return_weights)
    if return_weights:
      out, weights = result
      self.sow('intermediates', 'attention_weights', weights)
    else:
      out = result
    y = jnp.einsum('blhe,hed->bld', out, cast(o_p['kernel']))
    if self.use_bias:
      y = y + cast(o_p['bias'])
    return y, new_cache
