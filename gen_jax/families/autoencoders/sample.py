"""Sampling, reconstruction and visualisation for the autoencoder family."""
from typing import Any

import jax
import jax.numpy as jnp

from gen_jax.families.autoencoders.step import eval_params, get_model


def decode_mean(model, params: Any, z: jax.Array, config: Any) -> jax.Array:
  """The mean of p(x|z) as an image in the data's range: sigmoid(logits) or the Gaussian mean."""
  out, _ = model.apply({'params': params}, z, method=model.decode)
  if config.model.get('likelihood', 'bernoulli') == 'bernoulli':
    return jax.nn.sigmoid(out)
  return out


def sample(state: Any, rng: jax.Array, num: int, config: Any) -> jax.Array:
  """``num`` images [num, H, W, C] decoded from z ~ N(0, I) (the decoder mean, EMA parameters)."""
  model = get_model(config)
  z = jax.random.normal(rng, (num, model.latent_dim), jnp.float32)
  return decode_mean(model, eval_params(state), z, config)


def reconstruct(state: Any, x: jax.Array, config: Any) -> jax.Array:
  """Decoder mean at the posterior mean: a deterministic reconstruction of ``x`` [B, H, W, C]."""
  model = get_model(config)
  params = eval_params(state)
  mean, _ = model.apply({'params': params}, x, method=model.encode)
  return decode_mean(model, params, mean, config)


def to_unit_range(x: jax.Array, config: Any) -> jax.Array:
  """Maps images from the data's scale to [0, 1] for display."""
  if config.dataset.get('scale', '01') == '-11':
    x = (x + 1.0) / 2.0
  return jnp.clip(x, 0.0, 1.0)


def visualize(state: Any, batch: dict, rng: jax.Array, config: Any) -> dict[str, jax.Array]:
  """Sample grid (64) and reconstructions (top row: inputs, bottom row: reconstructions)."""
  n = min(32, batch['image'].shape[0])
  x = batch['image'][:n]
  recon = reconstruct(state, x, config)
  pairs = jnp.stack([x.reshape((-1, 8) + x.shape[1:]), recon.reshape((-1, 8) + x.shape[1:])], axis=1)
  pairs = pairs.reshape((-1,) + x.shape[1:]) if n % 8 == 0 else jnp.concatenate([x, recon])
  return {'samples': to_unit_range(sample(state, rng, 64, config), config),
          'reconstructions': to_unit_range(pairs, config)}
