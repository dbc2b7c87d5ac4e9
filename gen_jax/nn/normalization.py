"""Pixel normalisation and the minibatch standard-deviation layer (Karras et al. 2018, ProGAN;
StyleGAN2's grouped form).

``pixel_norm(x)``: each feature vector (the last axis) divided by its root mean square.
``minibatch_stddev(x, group_size, num_features)``: appends the average standard deviation of the
features over groups of examples, which lets a discriminator see the variety of a batch (a batch
of identical samples, mode collapse, is then easy to detect).
"""
import jax
import jax.numpy as jnp


def pixel_norm(x: jax.Array, eps: float = 1e-8) -> jax.Array:
  """``x / sqrt(mean(x^2 over the last axis) + eps)`` for any [..., C]."""
  return x * jax.lax.rsqrt(jnp.mean(jnp.square(x.astype(jnp.float32)), axis=-1, keepdims=True) + eps).astype(x.dtype)


def minibatch_stddev(x: jax.Array, group_size: int = 4, num_features: int = 1, eps: float = 1e-8) -> jax.Array:
  """Appends ``num_features`` minibatch-std channels to ``x`` [N, H, W, C] (or features [N, C]).

  The batch is split into groups of ``G = min(group_size, N)`` examples, example ``n`` belonging to
  group ``n % (N / G)`` (StyleGAN2's layout: groups are strided over the batch). The C channels are
  split into ``num_features`` blocks of ``C / num_features``. For each group and block the standard
  deviation over the G members (biased, plus ``eps`` under the square root) is averaged over the
  block's channels and all positions; that value becomes a constant extra channel of every member.
  ``N`` must be divisible by G and C by ``num_features``. Returns [N, H, W, C + num_features]
  ([N, C + num_features] for features).
  """
  flat = x.ndim == 2
  if flat:
    x = x[:, None, None, :]
  n, h, w, c = x.shape
  g = min(group_size, n)
  if n % g or c % num_features:
    raise ValueError(f'minibatch_stddev: batch {n} must be divisible by the group size {g} and channels {c} by '
                     f'num_features {num_features}.')
  m = n // g
  y = x.astype(jnp.float32).reshape(g, m, h, w, num_features, c // num_features)
  y = jnp.sqrt(jnp.var(y, axis=0) + eps)        # [M, H, W, F, C/F]
  y = jnp.mean(y, axis=(1, 2, 4))               # [M, F]
  y = jnp.tile(y, (g, 1))                       # [N, F]: example n gets group n % M
  y = jnp.broadcast_to(y[:, None, None, :], (n, h, w, num_features)).astype(x.dtype)
  out = jnp.concatenate([x, y], axis=-1)
  return out[:, 0, 0, :] if flat else out
