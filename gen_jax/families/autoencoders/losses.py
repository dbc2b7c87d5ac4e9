"""Likelihoods and reconstruction errors of the autoencoder family, per example (nats unless noted).

All functions reduce over every axis but the first: inputs ``[B, ...]`` -> outputs ``[B]``.
The latent distributions and their KLs live in ``latents.py`` (re-exported here for old imports).
"""
import math

import jax
import jax.numpy as jnp

from gen_jax.families.autoencoders.latents import (diag_gaussian_log_prob, kl_diag_gaussian_std_normal,  # noqa: F401
                                                   reparameterize)

LOG_2PI = math.log(2.0 * math.pi)
LIKELIHOODS = ('bernoulli', 'gaussian')


def _sum_per_example(x: jax.Array) -> jax.Array:
  return jnp.sum(x.reshape(x.shape[0], -1), axis=-1)


def bernoulli_nll(logits: jax.Array, x: jax.Array) -> jax.Array:
  """-log Bernoulli(x | sigmoid(logits)), summed over pixels; x in [0, 1] (exact for binary x).

  For grey-level x in [0, 1] this is the binary cross-entropy (the usual 'BCE' loss), which is
  not a normalised likelihood of continuous data.
  """
  # log(1 + e^l) - x l, written stably.
  return _sum_per_example(jnp.logaddexp(0.0, logits) - x * logits)


def gaussian_nll(mean: jax.Array, x: jax.Array, log_scale: jax.Array | float = 0.0) -> jax.Array:
  """-log N(x | mean, exp(log_scale)^2), summed over pixels (a density: nats per example)."""
  log_scale = jnp.broadcast_to(log_scale, mean.shape)
  return _sum_per_example(0.5 * jnp.square((x - mean) * jnp.exp(-log_scale)) + log_scale + 0.5 * LOG_2PI)


def mean_squared_error(x_hat: jax.Array, x: jax.Array) -> jax.Array:
  """Mean over pixels of (x_hat - x)^2, in squared data units: [B]."""
  return jnp.mean(jnp.square(x_hat - x).reshape(x.shape[0], -1), axis=-1)


def binary_cross_entropy(p: jax.Array, x: jax.Array, eps: float = 1e-6) -> jax.Array:
  """-[x log p + (1 - x) log(1 - p)] summed over pixels (nats), p clipped to [eps, 1 - eps]: [B].

  For images in [0, 1] only (a Gaussian decoder's mean is clipped into the unit interval)."""
  p = jnp.clip(p, eps, 1.0 - eps)
  return _sum_per_example(-(x * jnp.log(p) + (1.0 - x) * jnp.log1p(-p)))


def reconstruction_nll(out: jax.Array, log_scale: jax.Array | None, x: jax.Array, likelihood: str,
                       decoder_scale: float = 0.1) -> jax.Array:
  """-log p(x|z) per example [B] from the decoder output ``out`` (logits or means) [B, H, W, C].

  A Gaussian decoder uses the learned per-pixel ``log_scale`` when there is one, else the fixed
  standard deviation ``decoder_scale`` (then the NLL is a scaled squared error plus a constant).
  """
  if likelihood == 'bernoulli':
    return bernoulli_nll(out, x)
  ls = log_scale if log_scale is not None else math.log(decoder_scale)
  return gaussian_nll(out, x, ls)


def decoder_mean(out: jax.Array, likelihood: str) -> jax.Array:
  """E[x|z] in the data's range: sigmoid(logits) for Bernoulli, the mean for Gaussian."""
  return jax.nn.sigmoid(out) if likelihood == 'bernoulli' else out
