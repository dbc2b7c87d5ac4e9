"""Per-example losses of the autoencoder family (nats unless noted): decoder likelihoods,
reconstruction errors, the (denoising) autoencoder loss and the negative ELBO.

All functions reduce over every axis but the first: inputs ``[B, ...]`` -> outputs ``[B]``; every
function is pure (parameters, data and keys in; arrays out). The latent distributions and their KLs
live in ``latents.py``.
"""
import math
from typing import Any

import jax
import jax.numpy as jnp

from gen_jax.families.autoencoders import latents
from gen_jax.families.autoencoders.models import Autoencoder, data_shape, is_variational, model_kind
from gen_jax.families.autoencoders.noise import corrupt

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


def data_range(config: Any) -> tuple[float, float]:
  """(min, max) of the images the model sees: [0, 1], [-1, 1] or [0, 255] (scale 'none')."""
  return {'01': (0.0, 1.0), '-11': (-1.0, 1.0)}.get(config.dataset.get('scale', '01'), (0.0, 255.0))


def labels_of(batch: dict, config: Any) -> jax.Array | None:
  """The int32 labels [B] a conditional model needs (None for the others)."""
  return batch['label'] if model_kind(config.model.name) == 'cvae' else None


def likelihood(config: Any) -> str:
  return config.model.get('likelihood', 'bernoulli')


def reconstruction_terms(out: jax.Array, log_scale: jax.Array | None, x: jax.Array, config: Any) -> jax.Array:
  """-log p(x|z) [B] from the decoder output."""
  return reconstruction_nll(out, log_scale, x, likelihood(config),
                                   float(config.model.get('decoder_scale', 0.1)))


def gumbel_tau(step: jax.Array | int, config: Any) -> jax.Array:
  """Gumbel-softmax temperature max(tau_min, tau0 exp(-rate step)) (Jang et al. 2017)."""
  m = config.model
  tau0, tau_min = float(m.get('gumbel_tau', 1.0)), float(m.get('gumbel_tau_min', 0.5))
  rate = float(m.get('gumbel_anneal_rate', 0.0))
  return jnp.maximum(tau_min, tau0 * jnp.exp(-rate * jnp.asarray(step, jnp.float32)))


def kl_weight(step: jax.Array | int, config: Any) -> jax.Array:
  """beta * min(1, step / kl_warmup_steps): the KL weight (beta-VAE with linear KL warm-up)."""
  beta = float(config.model.get('beta', 1.0))
  warm = int(config.model.get('kl_warmup_steps', 0))
  if warm <= 0:
    return jnp.asarray(beta, jnp.float32)
  return beta * jnp.minimum(1.0, jnp.asarray(step, jnp.float32) / warm)


def autoencoder_terms(params: Any, model: Autoencoder, x: jax.Array, y: jax.Array | None, rng: jax.Array,
                      config: Any) -> dict[str, jax.Array]:
  """A (denoising) autoencoder: ``recon`` = -log p(x | z = enc(x~)) [B] with x~ the corrupted input
  (x itself unless the model is a DAE); also ``x_in`` (the encoder's input) and ``out``."""
  x_in = x
  if model_kind(config.model.name) == 'dae':
    x_in = corrupt(rng, x, config.model.noise, float(config.model.noise_level), data_range(config))
  (z,) = model.apply({'params': params}, x_in, y, method=model.encode)
  out, log_scale = model.apply({'params': params}, z, y, method=model.decode)
  return {'recon': reconstruction_terms(out, log_scale, x, config), 'x_in': x_in, 'out': out, 'z': z}


def negative_elbo(params: Any, model: Autoencoder, x: jax.Array, rng: jax.Array, config: Any,
                  y: jax.Array | None = None, relaxed: bool = False, tau: jax.Array | float = 1.0) -> dict:
  """Per-example negative ELBO and its terms (nats) with one posterior sample: dict of [B].

  ``recon`` = -log p(x|z), ``kl`` = KL(q(z|x) || p(z)) (closed form or one-sample MC, see
  ``latents.kl_divergence``), ``nelbo`` = recon + kl. A categorical latent is sampled exactly
  (one-hot, a true bound) unless ``relaxed``: then with Gumbel-softmax at temperature ``tau``
  (training). Also returns the posterior parameters ``q`` (a tuple) for the caller's diagnostics.
  """
  m = config.model
  posterior, prior = m.get('posterior', 'gaussian'), m.get('prior', 'gaussian')
  q = model.apply({'params': params}, x, y, method=model.encode)
  z = latents.posterior_sample(rng, posterior, q, tau, relaxed=relaxed, hard=bool(m.get('gumbel_hard', False)))
  out, log_scale = model.apply({'params': params}, z, y, method=model.decode)
  recon = reconstruction_terms(out, log_scale, x, config)
  prior_params = model.apply({'params': params}, method=model.prior_params)
  kl = latents.kl_divergence(posterior, prior, q, prior_params, z, m.get('kl', 'auto'))
  return {'recon': recon, 'kl': kl, 'nelbo': recon + kl, 'q': q}


def posterior_point(q: tuple, config: Any) -> jax.Array:
  """A deterministic code of x: the posterior mean (Gaussian), location (Laplace) or mode (one-hot
  argmax, categorical): [B, D] or [B, D, K]."""
  posterior = config.model.get('posterior', 'gaussian')
  if posterior == 'categorical':
    return jax.nn.one_hot(jnp.argmax(q[0], -1), q[0].shape[-1], dtype=q[0].dtype)
  return q[0]


def encode_point(params: Any, model: Autoencoder, x: jax.Array, y: jax.Array | None, config: Any) -> jax.Array:
  """The deterministic code used for reconstructions and features (AE: z; VAE: ``posterior_point``)."""
  q = model.apply({'params': params}, x, y, method=model.encode)
  return posterior_point(q, config) if is_variational(config.model.name) else q[0]


def decode_mean(params: Any, model: Autoencoder, z: jax.Array, y: jax.Array | None, config: Any) -> jax.Array:
  """E[x|z] in the data's range [B, H, W, C]: sigmoid(logits) (Bernoulli) or the Gaussian mean."""
  out, _ = model.apply({'params': params}, z, y, method=model.decode)
  return decoder_mean(out, likelihood(config))


def num_data_dims(config: Any) -> int:
  return math.prod(data_shape(config))
