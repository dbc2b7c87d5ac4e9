"""GroupNorm with a hand-written backward pass (one pass of statistics, no autodiff graph).

``group_norm(x, scale, bias, num_groups, eps)`` normalises ``x`` [..., H, W, C] (any leading axes,
channels last) over each group of ``C / num_groups`` channels and all spatial positions, then applies
the per-channel ``scale`` and ``bias`` [C]. It equals ``flax.linen.GroupNorm`` (same parameters,
``use_fast_variance``) to float32 precision, forward and backward (tests/nn/test_group_norm.py).

Why: autodiff of the textbook formula keeps the centred input, the variance and several broadcasts
alive for the backward pass and emits a dozen elementwise passes over the activation. The closed-form
gradient needs only the normalised activation ``xhat`` and the per-group reciprocal std:

  g    = dy * scale
  dx   = rstd * (g - mean(g) - xhat * mean(g * xhat))      (means over the group's elements)
  dscale = sum(dy * xhat),  dbias = sum(dy)                (sums over batch and positions)

Statistics are computed in float32 whatever the input dtype (bfloat16 activations keep float32
accuracy in the mean and variance).
"""
from functools import partial
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


def _grouped(x: jax.Array, num_groups: int) -> jax.Array:
  """[B, ..., C] -> [B, positions, G, C/G] (float32)."""
  b, c = x.shape[0], x.shape[-1]
  return x.astype(jnp.float32).reshape(b, -1, num_groups, c // num_groups)


def _stats(xg: jax.Array, eps: float) -> tuple[jax.Array, jax.Array]:
  """Per-(example, group) mean and reciprocal std of ``xg`` [B, P, G, K]: [B, 1, G, 1] each."""
  mean = jnp.mean(xg, axis=(1, 3), keepdims=True)
  mean_sq = jnp.mean(jnp.square(xg), axis=(1, 3), keepdims=True)
  var = jnp.maximum(mean_sq - jnp.square(mean), 0.0)
  return mean, jax.lax.rsqrt(var + eps)


@partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def group_norm(x: jax.Array, scale: jax.Array, bias: jax.Array, num_groups: int, eps: float = 1e-6) -> jax.Array:
  """GroupNorm of ``x`` [B, ..., C] with per-channel ``scale``, ``bias`` [C]; output in ``x.dtype``."""
  y, _ = _forward(x, scale, bias, num_groups, eps)
  return y


def _forward(x, scale, bias, num_groups, eps):
  xg = _grouped(x, num_groups)
  mean, rstd = _stats(xg, eps)
  xhat = ((xg - mean) * rstd).reshape(x.shape)
  y = xhat * scale.astype(jnp.float32) + bias.astype(jnp.float32)
  return y.astype(x.dtype), (xhat, rstd)


def _fwd(x, scale, bias, num_groups, eps):
  y, (xhat, rstd) = _forward(x, scale, bias, num_groups, eps)
  return y, (xhat.astype(x.dtype), rstd, scale)


def _bwd(num_groups, eps, res, dy):
  del eps
  xhat, rstd, scale = res
  dy32 = dy.astype(jnp.float32)
  xhat32 = xhat.astype(jnp.float32)
  reduce_axes = tuple(range(dy.ndim - 1))
  dscale = jnp.sum(dy32 * xhat32, axis=reduce_axes).astype(scale.dtype)
  dbias = jnp.sum(dy32, axis=reduce_axes).astype(scale.dtype)
  g = _grouped(dy32 * scale.astype(jnp.float32), num_groups)
  xg = _grouped(xhat32, num_groups)
  mean_g = jnp.mean(g, axis=(1, 3), keepdims=True)
  mean_gx = jnp.mean(g * xg, axis=(1, 3), keepdims=True)
  dx = (rstd * (g - mean_g - xg * mean_gx)).reshape(dy.shape).astype(dy.dtype)
  return dx, dscale, dbias


group_norm.defvjp(_fwd, _bwd)


class GroupNorm(nn.Module):
  """Drop-in for ``flax.linen.GroupNorm(num_groups, epsilon=1e-6)`` on channels-last inputs: the same
  parameters (``scale`` ones, ``bias`` zeros, shape [C]), the hand-written backward of ``group_norm``."""
  num_groups: int = 32
  epsilon: float = 1e-6
  dtype: Any = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    c = x.shape[-1]
    if c % self.num_groups:
      raise ValueError(f'GroupNorm: {c} channels do not split into {self.num_groups} groups.')
    scale = self.param('scale', nn.initializers.ones, (c,), jnp.float32)
    bias = self.param('bias', nn.initializers.zeros, (c,), jnp.float32)
    if self.dtype is not None:
      x = x.astype(self.dtype)
    return group_norm(x, scale, bias, self.num_groups, self.epsilon)
