"""Sampling, encoding, reconstruction, interpolation and visualisation for the autoencoder family.

All functions are pure and jit-able (``config`` is static: close over it or mark it static).
Images are [N, H, W, C] in the data's range; latents [N, D] (one-hot [N, D, K] if categorical).
"""
from typing import Any

import jax
import jax.numpy as jnp

from gen_jax.core.state import eval_params
from gen_jax.families.autoencoders import latents
from gen_jax.families.autoencoders.losses import data_range, decode_mean, encode_point
from gen_jax.families.autoencoders.models import get_model, is_variational, model_kind
from gen_jax.families.autoencoders.noise import corrupt


def sample_labels(num: int, config: Any) -> jax.Array | None:
  """Labels 0, 1, ..., C-1, 0, 1, ... [num] for a conditional model (so an 8- or 10-wide grid shows
  every class), None otherwise."""
  if model_kind(config.model.name) != 'cvae':
    return None
  return jnp.arange(num, dtype=jnp.int32) % int(config.model.get('num_classes', 10))


def sample_latents(state: Any, rng: jax.Array, num: int, config: Any) -> jax.Array:
  """``num`` draws of the prior p(z) (learned for a MoG prior). An AE/DAE has no prior: it gets
  N(0, I) latents, whose decodings show what the code space holds there, not samples of a model."""
  model = get_model(config)
  m = config.model
  if not is_variational(m.name):
    return jax.random.normal(rng, (num, model.latent_dim), jnp.float32)
  prior_params = model.apply({'params': eval_params(state)}, method=model.prior_params)
  return latents.prior_sample(rng, num, m.get('prior', 'gaussian'), prior_params, model.latent_dim,
                              model.num_categories)


def decode(state: Any, z: jax.Array, config: Any, labels: jax.Array | None = None) -> jax.Array:
  """E[x|z] [N, H, W, C] for latents ``z`` (and ``labels`` [N] for a CVAE), EMA parameters."""
  return decode_mean(eval_params(state), get_model(config), z, labels, config)


def sample(state: Any, rng: jax.Array, num: int, config: Any, labels: jax.Array | None = None) -> jax.Array:
  """``num`` images [num, H, W, C]: the decoder mean at z ~ p(z) (EMA parameters). A CVAE uses
  ``labels`` [num] when given, else cycles through the classes (see ``sample_labels``)."""
  if labels is None:
    labels = sample_labels(num, config)
  elif sample_labels(1, config) is None:
    raise ValueError(f'labels were given but {config.model.name!r} is unconditional; only a CVAE takes labels.')
  else:
    labels = jnp.asarray(labels, jnp.int32)
    if labels.shape != (num,):
      raise ValueError(f'labels must have shape ({num},), one per sample; got {labels.shape}.')
  return decode(state, sample_latents(state, rng, num, config), config, labels)


def encode(state: Any, x: jax.Array, config: Any, labels: jax.Array | None = None) -> jax.Array:
  """Deterministic codes of images ``x``: z = enc(x) for an AE/DAE, the posterior mean (Gaussian),
  location (Laplace) or one-hot mode (categorical) for a VAE: [N, D] or [N, D, K]."""
  return encode_point(eval_params(state), get_model(config), x, labels, config)


def posterior_means(state: Any, x: jax.Array, config: Any, labels: jax.Array | None = None) -> jax.Array:
  """E_q[z|x]: [N, D] (category probabilities [N, D, K] for a categorical latent; z for an AE)."""
  model = get_model(config)
  q = model.apply({'params': eval_params(state)}, x, labels, method=model.encode)
  if not is_variational(config.model.name):
    return q[0]
  return latents.posterior_mean(config.model.get('posterior', 'gaussian'), q)


def reconstruct(state: Any, x: jax.Array, config: Any, labels: jax.Array | None = None) -> jax.Array:
  """Decoder mean at the deterministic code of ``x`` [B, H, W, C] (for a DAE pass the noisy input)."""
  return decode(state, encode(state, x, config, labels), config, labels)


def interpolate(state: Any, x_a: jax.Array, x_b: jax.Array, num_steps: int, config: Any,
                labels: jax.Array | None = None) -> jax.Array:
  """Decodings along the straight line between the codes of ``x_a`` and ``x_b`` [B, H, W, C]:
  [B, num_steps, H, W, C] (t = 0 ... 1). For a categorical latent the line runs between one-hot
  codes, i.e. through mixtures of categories (decodable: the decoder is trained on relaxed codes)."""
  z_a, z_b = encode(state, x_a, config, labels), encode(state, x_b, config, labels)
  t = jnp.linspace(0.0, 1.0, num_steps)
  z = z_a[:, None] + (z_b - z_a)[:, None] * t.reshape((1, -1) + (1,) * (z_a.ndim - 1))
  b = z.shape[0]
  lab = None if labels is None else jnp.repeat(labels, num_steps)
  img = decode(state, z.reshape((b * num_steps,) + z.shape[2:]), config, lab)
  return img.reshape((b, num_steps) + img.shape[1:])


def to_unit_range(x: jax.Array, config: Any) -> jax.Array:
  """Maps images from the data's scale to [0, 1] for display."""
  lo, hi = data_range(config)
  return jnp.clip((x - lo) / (hi - lo), 0.0, 1.0)


def _interleave_rows(rows: list[jax.Array], width: int = 8) -> jax.Array:
  """Groups of ``width`` images from each array in turn: [len(rows) * n, H, W, C]."""
  n = rows[0].shape[0]
  if n % width:
    return jnp.concatenate(rows)
  stacked = jnp.stack([r.reshape((-1, width) + r.shape[1:]) for r in rows], axis=1)
  return stacked.reshape((-1,) + rows[0].shape[1:])


def visualize(state: Any, batch: dict, rng: jax.Array, config: Any) -> dict[str, jax.Array]:
  """Sample grid (64) and reconstructions: rows of 8 inputs, then their reconstructions (for a DAE:
  clean inputs, corrupted inputs, denoised outputs). Images in [0, 1]."""
  n = min(32, batch['image'].shape[0])
  x = batch['image'][:n]
  labels = batch['label'][:n] if model_kind(config.model.name) == 'cvae' else None
  if model_kind(config.model.name) == 'dae':
    rng, k_noise = jax.random.split(rng)
    noisy = corrupt(k_noise, x, config.model.noise, float(config.model.noise_level), data_range(config))
    rows = [x, noisy, reconstruct(state, noisy, config)]
  else:
    rows = [x, reconstruct(state, x, config, labels)]
  return {'samples': to_unit_range(sample(state, rng, 64, config), config),
          'reconstructions': to_unit_range(_interleave_rows(rows), config)}
