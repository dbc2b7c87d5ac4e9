"""Input corruptions of the denoising autoencoder (``config.model.noise``, ``config.model.noise_level``).

  'gaussian'     x + level * eps, eps ~ N(0, I) (level: standard deviation in data units), clipped
                 to the data range
  'salt_pepper'  each pixel, with probability ``level``, set to the range's min or max (equally likely)
  'masking'      each pixel, with probability ``level``, set to the range's min (zero for [0, 1] data)
  'none'         identity
"""
import jax
import jax.numpy as jnp

NOISES = ('gaussian', 'salt_pepper', 'masking')


def corrupt(rng: jax.Array, x: jax.Array, noise: str, level: float | jax.Array,
            data_range: tuple[float, float] = (0.0, 1.0)) -> jax.Array:
  """A corrupted copy of images ``x`` [B, H, W, C] (same shape and dtype); see the module docstring."""
  lo, hi = data_range
  if noise == 'none':
    return x
  if noise == 'gaussian':
    return jnp.clip(x + level * jax.random.normal(rng, x.shape, x.dtype), lo, hi)
  k_hit, k_val = jax.random.split(rng)
  hit = jax.random.uniform(k_hit, x.shape) < level
  if noise == 'salt_pepper':
    value = jnp.where(jax.random.bernoulli(k_val, 0.5, x.shape), hi, lo).astype(x.dtype)
  elif noise == 'masking':
    value = jnp.full_like(x, lo)
  else:
    raise ValueError(f'unknown noise {noise!r}; allowed: {", ".join(NOISES)}, none.')
  return jnp.where(hit, value, x)
