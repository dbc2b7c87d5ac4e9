"""Likelihoods and divergences of the autoencoder family, per example (nats).

All functions reduce over every axis but the first: inputs ``[B, ...]`` -> outputs ``[B]``.
"""
import math

import jax
import jax.numpy as jnp

LOG_2PI = math.log(2.0 * math.pi)


def _sum_per_example(x: jax.Array) -> jax.Array:
  return jnp.sum(x.reshape(x.shape[0], -1), axis=-1)


def bernoulli_nll(logits: jax.Array, x: jax.Array) -> jax.Array:
  """-log Bernoulli(x | sigmoid(logits)), summed over pixels; x in [0, 1] (exact for binary x)."""
  # log(1 + e^l) - x l, written stably.
  return _sum_per_example(jnp.logaddexp(0.0, logits) - x * logits)


def gaussian_nll(mean: jax.Array, x: jax.Array, log_scale: jax.Array | float = 0.0) -> jax.Array:
  """-log N(x | mean, exp(log_scale)^2), summed over pixels (a density: nats per example)."""
  log_scale = jnp.broadcast_to(log_scale, mean.shape)
  return _sum_per_example(0.5 * jnp.square((x - mean) * jnp.exp(-log_scale)) + log_scale + 0.5 * LOG_2PI)


def kl_diag_gaussian_std_normal(mean: jax.Array, logvar: jax.Array) -> jax.Array:
  """KL(N(mean, diag(exp(logvar))) || N(0, I)) in closed form, summed over latent dims: [B]."""
  return 0.5 * jnp.sum(jnp.square(mean) + jnp.exp(logvar) - 1.0 - logvar, axis=-1)


def diag_gaussian_log_prob(z: jax.Array, mean: jax.Array, logvar: jax.Array) -> jax.Array:
  """log N(z | mean, diag(exp(logvar))), summed over the last axis."""
  return -0.5 * jnp.sum(LOG_2PI + logvar + jnp.square(z - mean) * jnp.exp(-logvar), axis=-1)


def reparameterize(rng: jax.Array, mean: jax.Array, logvar: jax.Array) -> jax.Array:
  """z = mean + sigma * eps with eps ~ N(0, I): a differentiable sample of the posterior."""
  return mean + jnp.exp(0.5 * logvar) * jax.random.normal(rng, mean.shape, mean.dtype)
