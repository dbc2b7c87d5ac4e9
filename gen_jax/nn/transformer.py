"""The transformer block and layer stack shared by GPT, BERT and the encoder-decoder models.

``TransformerBlock`` is one layer: self-attention (causal or not, optional RoPE, optional KV cache),
optional cross-attention to a context, and a GELU MLP, each a residual branch with dropout. Two layer-norm
placements:

  'pre'  (GPT-2, ViT):   x = x + drop(attn(LN(x)));  x = x + drop(mlp(LN(x)))       (Xiong et al. 2020)
  'post' (BERT, 2017):   x = LN(x + drop(attn(x)));  x = LN(x + drop(mlp(x)))

``Transformer`` stacks ``num_layers`` blocks, either as separate modules ``layer_0 .. layer_{N-1}`` or, with
``scan=True``, as one ``nn.scan`` over layers whose parameters carry a leading [N] axis under ``layers``
(one compiled block body: compile time independent of depth; ``stack_layers`` / ``unstack_layers`` convert
between the two trees). ``remat=True`` recomputes each block's activations in the backward pass
(``nn.remat``): memory O(N) block inputs instead of every intermediate, for ~1/3 more compute.

Compute dtype: ``dtype`` (bfloat16 on accelerators) for activations and matmuls, parameters always
``param_dtype`` (float32); attention logits/softmax and layer-norm statistics are float32.

Positions: ``sinusoidal_positions`` (Vaswani et al. 2017) here; learned tables are an ``nn.Embed`` of the
model; rotary embeddings are applied inside attention (``gen_jax.nn.attention.apply_rope``).
"""
import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gen_jax.nn.attention import MultiHeadAttention
from gen_jax.nn.dropout import Dropout

NORMS = ('pre', 'post')
ACTIVATIONS = ('gelu', 'gelu_tanh', 'relu')
POSITIONS = ('learned', 'sinusoidal', 'rope', 'none')


def sinusoidal_positions(positions: jax.Array, dim: int, base: float = 10_000.0) -> jax.Array:
  """float32 [..., dim]: ``PE[p, 2i] = sin(p / base^(2i/dim))``, ``PE[p, 2i+1] = cos(p / base^(2i/dim))``
  (Vaswani et al. 2017, section 3.5; interleaved sin/cos), for integer ``positions`` of any shape."""
  if dim % 2:
    raise ValueError(f'sinusoidal positions need an even width; got {dim}.')
  inv = base ** (-jnp.arange(0, dim, 2, dtype=jnp.float32) / dim)           # [dim/2]
  ang = jnp.asarray(positions, jnp.float32)[..., None] * inv
  return jnp.stack([jnp.sin(ang), jnp.cos(ang)], axis=-1).reshape(*ang.shape[:-1], dim)


def activation(name: str):
  """'gelu' (exact, erf: BERT), 'gelu_tanh' (the tanh approximation: GPT-2's 'gelu_new'), 'relu'."""
  if name == 'gelu':
    return functools.partial(jax.nn.gelu, approximate=False)
  if name == 'gelu_tanh':
    return functools.partial(jax.nn.gelu, approximate=True)
  if name == 'relu':
    return jax.nn.relu
  raise ValueError(f'activation {name!r}; allowed: {", ".join(ACTIVATIONS)}.')


class MLP(nn.Module):
  """Dense(mlp_dim) -> activation -> Dense(width) -> dropout; submodules 'fc' and 'proj'."""
  mlp_dim: int
  activation: str = 'gelu_tanh'
  dropout_rate: float = 0.0
  init_stddev: float = 0.02
  out_init_stddev: float = 0.02
  use_bias: bool = True
  deterministic: bool = True
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    width = x.shape[-1]
    dense = functools.partial(nn.Dense, use_bias=self.use_bias, dtype=self.dtype, param_dtype=self.param_dtype)
    h = dense(self.mlp_dim, kernel_init=nn.initializers.normal(self.init_stddev), name='fc')(x)
    h = activation(self.activation)(h)
    h = dense(width, kernel_init=nn.initializers.normal(self.out_init_stddev), name='proj')(h)
    return Dropout(self.dropout_rate)(h, deterministic=self.deterministic)


class TransformerBlock(nn.Module):
  """One transformer layer (module docstring). Submodules: 'ln_attn', 'attn', ['ln_cross', 'cross'],
  'ln_mlp', 'mlp' (the layer norms follow their branch with norm='post').

  Call: ``x, cache = block(x, cache=None, mask=None, positions=None, context=None, context_mask=None,
  cache_index=None)`` with x [B, L, W]; ``mask`` bool broadcastable to [B, H, L, L] (padding); ``context``
  [B, Lc, Wc] and ``context_mask`` (broadcastable to [B, H, L, Lc]) for cross-attention; ``cache`` and
  ``cache_index`` the KV cache of the self-attention (``gen_jax.nn.attention.MultiHeadAttention``). The
  argument order makes the block an ``nn.scan`` body: (carry x, scanned cache, broadcast rest...).
  """
  num_heads: int
  mlp_dim: int
  dropout_rate: float = 0.0
  attention_dropout_rate: float = 0.0
  norm: str = 'pre'
  layer_norm_eps: float = 1e-5
  activation: str = 'gelu_tanh'
  causal: bool = False
  cross_attention: bool = False
  rope: bool = False
  rope_base: float = 10_000.0
  use_bias: bool = True
  implementation: str = 'reference'
  init_stddev: float = 0.02
  out_init_stddev: float = 0.02     # GPT-2: 0.02 / sqrt(2 * num_layers) for the residual projections
  deterministic: bool = True
  sow_weights: bool = False         # sow attention weights into 'intermediates'
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, cache=None, mask=None, positions=None, context=None, context_mask=None, cache_index=None):
    if self.norm not in NORMS:
      raise ValueError(f'norm {self.norm!r}; allowed: {", ".join(NORMS)}.')
    ln = functools.partial(nn.LayerNorm, epsilon=self.layer_norm_eps, dtype=self.dtype, param_dtype=self.param_dtype)
    drop = lambda h: Dropout(self.dropout_rate)(h, deterministic=self.deterministic)  # noqa: E731
    attn = functools.partial(MultiHeadAttention, num_heads=self.num_heads, use_bias=self.use_bias,
                             dropout_rate=self.attention_dropout_rate, implementation=self.implementation,
                             init_stddev=self.init_stddev, out_init_stddev=self.out_init_stddev, dtype=self.dtype,
                             param_dtype=self.param_dtype)
    pre = self.norm == 'pre'
    x = jnp.asarray(x, self.dtype)

    h = ln(name='ln_attn')(x) if pre else x
    h, cache = attn(rope=self.rope, rope_base=self.rope_base, name='attn')(
        h, mask=mask, causal=self.causal, positions=positions, cache=cache, cache_index=cache_index,
        deterministic=self.deterministic, return_weights=self.sow_weights)
    x = x + drop(h)
    if not pre:
      x = ln(name='ln_attn')(x)

    if self.cross_attention:
      if context is None:
        raise ValueError('this block has cross-attention: pass its context.')
      h = ln(name='ln_cross')(x) if pre else x
      h, _ = attn(name='cross')(h, context=context, mask=context_mask, deterministic=self.deterministic,
                                return_weights=self.sow_weights)
      x = x + drop(h)
      if not pre:
        x = ln(name='ln_cross')(x)

    h = ln(name='ln_mlp')(x) if pre else x
    h = MLP(self.mlp_dim, self.activation, self.dropout_rate, self.init_stddev, self.out_init_stddev, self.use_bias,
            self.deterministic, self.dtype, self.param_dtype, name='mlp')(h)
    x = x + h
    if not pre:
      x = ln(name='ln_mlp')(x)
    return x, cache


class Transformer(nn.Module):
  """``num_layers`` ``TransformerBlock``s (module docstring); ``block`` holds the block's fields as a tuple of
  (name, value) pairs (hashable), e.g. ``tuple(dict(num_heads=4, mlp_dim=512, causal=True).items())``.

  Call: ``x, cache = stack(x, cache=None, mask=None, positions=None, context=None, context_mask=None,
  cache_index=None)``; ``cache`` is {'k', 'v': [N, B, Lmax, H, D]} (every layer's KV cache, stacked).
  """
  num_layers: int
  block: tuple = ()
  scan: bool = False
  remat: bool = False

  @nn.compact
  def __call__(self, x, cache=None, mask=None, positions=None, context=None, context_mask=None, cache_index=None):
    kwargs = dict(self.block)
    cls = TransformerBlock
    if self.remat:
      cls = nn.remat(cls, prevent_cse=not self.scan)
    if self.scan:
      scanned = nn.scan(cls, variable_axes={'params': 0, 'intermediates': 0},
                        split_rngs={'params': True, 'dropout': True},
                        in_axes=(0, nn.broadcast, nn.broadcast, nn.broadcast, nn.broadcast, nn.broadcast),
                        length=self.num_layers)
      return scanned(**kwargs, name='layers')(x, cache, mask, positions, context, context_mask, cache_index)
    new = []
    for i in range(self.num_layers):
      layer_cache = None if cache is None else jax.tree.map(lambda c: c[i], cache)  # noqa: B023
      x, c = cls(**kwargs, name=f'layer_{i}')(x, layer_cache, mask, positions, context, context_mask, cache_index)
      new.append(c)
    if cache is None:
      return x, None
    return x, jax.tree.map(lambda *cs: jnp.stack(cs), *new)


def init_cache(num_layers: int, batch: int, max_len: int, num_heads: int, head_dim: int,
               dtype: Any = jnp.float32) -> dict:
  """An empty KV cache {'k', 'v': zeros [num_layers, batch, max_len, num_heads, head_dim]}."""
  shape = (num_layers, batch, max_len, num_heads, head_dim)
  return {'k': jnp.zeros(shape, dtype), 'v': jnp.zeros(shape, dtype)}


def stack_layers(params: dict, num_layers: int) -> dict:
  """A stack's parameters ``{'layer_0': p0, ...}`` -> ``{'layers': p}`` with every leaf stacked on a
  leading [num_layers] axis (the ``scan=True`` layout)."""
  layers = [params[f'layer_{i}'] for i in range(num_layers)]
  rest = {k: v for k, v in params.items() if not k.startswith('layer_')}
  return {**rest, 'layers': jax.tree.map(lambda *xs: jnp.stack(xs), *layers)}


def unstack_layers(params: dict) -> dict:
  """The inverse of ``stack_layers``."""
  stacked = params['layers']
  n = jax.tree.leaves(stacked)[0].shape[0]
  rest = {k: v for k, v in params.items() if k != 'layers'}
  return {**rest, **{f'layer_{i}': jax.tree.map(lambda x: x[i], stacked) for i in range(n)}}  # noqa: B023


def num_params(params: Any) -> int:
  """Number of scalars in a parameter tree."""
  return sum(math.prod(x.shape) for x in jax.tree.leaves(params))
