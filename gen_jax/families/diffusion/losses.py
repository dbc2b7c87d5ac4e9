"""Training losses and variational-bound terms of discrete-time diffusion (all in nats unless named).

* ``simple_loss``: per-example mean squared error on the parameterization's target, with
  optional min-SNR-gamma weighting (Hang et al. 2023).
* ``vlb_term``: the variational-bound term ``L_t`` at timestep t: ``KL(q(x_{t-1}|x_t,x_0) || p(x_{t-1}|x_t))``
  for t > 0 and the decoder NLL ``-log p(x_0 | x_1)`` at t = 0 (discretized or continuous Gaussian).
* ``prior_kl``: ``L_T = KL(q(x_T | x_0) || N(0, I))``.
Shapes: data [B, ...]; per-example results [B] (summed over data dimensions unless named *_mean).
"""
import math

import jax
import jax.numpy as jnp
from jax.scipy.special import ndtr

from gen_jax.eval.likelihood import bits_per_dim
from gen_jax.families.diffusion import predictions as pred
from gen_jax.families.diffusion.schedules import DiscreteSchedule, q_mean_variance, q_posterior_mean_variance

WEIGHTINGS = ('none', 'min_snr')
DECODERS = ('discretized', 'gaussian')


def sum_except_batch(x: jax.Array) -> jax.Array:
  return jnp.sum(x.reshape(x.shape[0], -1), axis=-1)


def mean_except_batch(x: jax.Array) -> jax.Array:
  return jnp.mean(x.reshape(x.shape[0], -1), axis=-1)


def normal_kl(mean1: jax.Array, logvar1: jax.Array, mean2: jax.Array, logvar2: jax.Array) -> jax.Array:
  """Elementwise ``KL(N(mean1, e^logvar1) || N(mean2, e^logvar2))`` in nats (broadcasting)."""
  return 0.5 * (-1.0 + logvar2 - logvar1 + jnp.exp(logvar1 - logvar2)
                + jnp.square(mean1 - mean2) * jnp.exp(-logvar2))


def gaussian_log_likelihood(x: jax.Array, mean: jax.Array, log_var: jax.Array) -> jax.Array:
  """Elementwise log density ``log N(x; mean, e^log_var)`` in nats."""
  return -0.5 * (math.log(2.0 * math.pi) + log_var + jnp.square(x - mean) * jnp.exp(-log_var))


def discretized_gaussian_log_likelihood(x: jax.Array, mean: jax.Array, log_scale: jax.Array,
                                        num_levels: int = 256) -> jax.Array:
  """Elementwise log-probability (nats) of the bin of ``x`` under a Gaussian discretized to ``num_levels``
  levels on [-1, 1] (Ho et al. 2020, eq. 13): bins of half-width ``1 / (num_levels - 1)`` around
  ``2k / (num_levels - 1) - 1``; the edge bins extend to -inf / +inf. ``x`` must lie on that grid.
  Probabilities are floored at 1e-12 as in Ho et al. (zero gradient in the far tails, never NaN)."""
  half = 1.0 / (num_levels - 1)
  inv_std = jnp.exp(-log_scale)
  upper = (x - mean + half) * inv_std
  lower = (x - mean - half) * inv_std
  cdf_upper = ndtr(upper)
  one_minus_cdf_lower = ndtr(-lower)
  # Phi(upper) - Phi(lower), on the side of the mean where it does not cancel in float32.
  delta = jnp.where(lower > 0, ndtr(-lower) - ndtr(-upper), cdf_upper - ndtr(lower))
  edge = 1.0 - half  # x below -edge is the lowest bin, above +edge the highest
  prob = jnp.where(x < -edge, cdf_upper, jnp.where(x > edge, one_minus_cdf_lower, delta))
  return jnp.log(jnp.maximum(prob, 1e-12))


def to_pixel_grid(x: jax.Array, dequantized: bool, num_levels: int = 256) -> jax.Array:
  """Maps data in [-1, 1] to the decoder's grid ``2k / (L - 1) - 1``: floor of the dequantized bin
  (``y = 2 (k + u) / L - 1``) or the nearest level for non-dequantized data."""
  if dequantized:
    k = jnp.floor((x + 1.0) * num_levels / 2.0)
  else:
    k = jnp.round((x + 1.0) * (num_levels - 1) / 2.0)
  return 2.0 * jnp.clip(k, 0, num_levels - 1) / (num_levels - 1) - 1.0


def min_snr_weight(snr: jax.Array, gamma: float, parameterization: str) -> jax.Array:
  """Min-SNR-gamma loss weight [B] for the parameterization's MSE (Hang et al. 2023):
  eps: ``min(snr, g) / snr``; x0: ``min(snr, g)``; v: ``min(snr, g) / (snr + 1)``."""
  clipped = jnp.minimum(snr, gamma)
  if parameterization == 'eps':
    return clipped / snr
  if parameterization == 'x0':
    return clipped
  return clipped / (snr + 1.0)


def simple_loss(mean_out: jax.Array, target: jax.Array, weight: jax.Array | None = None) -> jax.Array:
  """Per-example mean squared error over data dimensions [B], times ``weight`` [B] if given."""
  mse = mean_except_batch(jnp.square(mean_out - target))
  return mse if weight is None else weight * mse


def prior_kl(s: DiscreteSchedule, x0: jax.Array) -> jax.Array:
  """``L_T = KL(q(x_T | x_0) || N(0, I))`` per example, nats [B] (no parameters; tiny for a good schedule)."""
  t = jnp.full((x0.shape[0],), s.num_timesteps - 1, jnp.int32)
  mean, _, log_var = q_mean_variance(s, x0, t)
  return sum_except_batch(normal_kl(mean, jnp.broadcast_to(log_var, mean.shape), 0.0, 0.0))


def decoder_nll(x0: jax.Array, mean: jax.Array, log_var: jax.Array, decoder: str) -> jax.Array:
  """``-log p(x_0 | x_1)`` per example [B] in nats: discretized (images on the 256-level grid) or a density."""
  log_var = jnp.broadcast_to(log_var, mean.shape)
  if decoder == 'discretized':
    ll = discretized_gaussian_log_likelihood(x0, mean, 0.5 * log_var)
  elif decoder == 'gaussian':
    ll = gaussian_log_likelihood(x0, mean, log_var)
  else:
    raise ValueError(f'unknown decoder {decoder!r}; allowed: {", ".join(DECODERS)}.')
  return -sum_except_batch(ll)


def vlb_term(s: DiscreteSchedule, out: jax.Array, x0: jax.Array, x_t: jax.Array, t: jax.Array,
             parameterization: str, variance: str, decoder: str = 'discretized',
             clip_denoised: bool = False) -> jax.Array:
  """``L_t`` per example [B] in nats: the posterior KL for t > 0, the decoder NLL for t = 0."""
  p = pred.p_mean_variance(s, out, x_t, t, parameterization, variance, clip_denoised)
  true_mean, _, true_log_var = q_posterior_mean_variance(s, x0, x_t, t)
  kl = sum_except_batch(normal_kl(true_mean, jnp.broadcast_to(true_log_var, x0.shape), p['mean'],
                                  jnp.broadcast_to(p['log_variance'], x0.shape)))
  nll = decoder_nll(x0, p['mean'], p['log_variance'], decoder)
  return jnp.where(t == 0, nll, kl)


def hybrid_vlb_term(s: DiscreteSchedule, out: jax.Array, x0: jax.Array, x_t: jax.Array, t: jax.Array,
                    parameterization: str, decoder: str) -> jax.Array:
  """``L_t`` in bits per dimension [B] with the mean output frozen (stop-gradient), so that it trains
  only the learned variance (improved DDPM's L_hybrid = L_simple + lambda L_vlb)."""
  mean_out, var_out = pred.split_output(out, 'learned_range')
  frozen = jnp.concatenate([jax.lax.stop_gradient(mean_out), var_out], axis=-1)
  nats = vlb_term(s, frozen, x0, x_t, t, parameterization, 'learned_range', decoder)
  return bits_per_dim(nats, math.prod(x0.shape[1:]))

