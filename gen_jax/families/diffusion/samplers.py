"""Discrete-time samplers, each one compiled loop (``lax.scan``): DDPM ancestral, DDIM, DDIM inversion.

All take a model function ``model_fn(x_t [B, ...], t [B] int32) -> raw output`` (a network, a
classifier-free-guided pair from ``models.make_model_fn``, or an analytic denoiser), the
``DiscreteSchedule`` it was trained with, and return arrays [B, ...] in the data's scale.

Randomness: ``rng`` splits into a key for x_T ~ N(0, I) and ``num_steps`` keys, the k-th used at
the k-th step from the noisy end, identically in both samplers, so DDIM with all T steps and
eta = 1 reproduces DDPM (fixed-small variance) path for path.
"""
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from gen_jax.families.diffusion import predictions as pred
from gen_jax.families.diffusion.schedules import DiscreteSchedule, respace, spaced_timesteps

ModelFn = Callable[[jax.Array, jax.Array], jax.Array]


def _start(rng: jax.Array, shape: tuple, num_steps: int, x_T: jax.Array | None):
  k_init, k_loop = jax.random.split(rng)
  x = jax.random.normal(k_init, shape, jnp.float32) if x_T is None else x_T
  return x, jax.random.split(k_loop, num_steps)


def ddpm_sample(model_fn: ModelFn, s: DiscreteSchedule, shape: tuple, rng: jax.Array, parameterization: str = 'eps',
                variance: str = 'fixed_small', num_steps: int = 0, spacing: str = 'linspace',
                clip_denoised: bool = False, x_T: jax.Array | None = None) -> jax.Array:
  """Ancestral sampling ``x_{t-1} ~ p(x_{t-1} | x_t)`` from x_T ~ N(0, I) (Ho et al. 2020, alg. 2).

  ``num_steps`` in (0, T) samples the respaced chain on ``spaced_timesteps`` (Nichol & Dhariwal
  sec. 4; the learned variance interpolates the respaced betas); 0 or T: all T steps.
  ``shape`` = (B, ...); returns x_0 [B, ...].
  """
  T = s.num_timesteps
  steps = T if not num_steps or num_steps >= T else num_steps
  ts = spaced_timesteps(T, steps, spacing)
  sr = s if steps == T else respace(s, ts)
  ts = jnp.asarray(ts)
  x, keys = _start(rng, shape, steps, x_T)
  b = shape[0]

  def body(x, inp):
    i, key = inp
    idx = jnp.full((b,), i, jnp.int32)
    p = pred.p_mean_variance(sr, model_fn(x, jnp.full((b,), ts[i], jnp.int32)), x, idx, parameterization,
                             variance, clip_denoised)
    noise = jax.random.normal(key, x.shape, jnp.float32)
    return p['mean'] + (i > 0) * jnp.exp(0.5 * p['log_variance']) * noise, None

  x, _ = jax.lax.scan(body, x, (jnp.arange(steps)[::-1], keys))
  return x


def _ddim_levels(s: DiscreteSchedule, num_steps: int, spacing: str):
  T = s.num_timesteps
  ts = spaced_timesteps(T, min(num_steps or T, T), spacing)
  ac = np.asarray(s.alphas_cumprod, np.float64)[ts]
  ac_prev = np.append(1.0, ac[:-1])
  return jnp.asarray(ts), jnp.asarray(ac, jnp.float32), jnp.asarray(ac_prev, jnp.float32)


def ddim_sample(model_fn: ModelFn, s: DiscreteSchedule, shape: tuple, rng: jax.Array, parameterization: str = 'eps',
                num_steps: int = 50, eta: float = 0.0, spacing: str = 'linspace', clip_denoised: bool = False,
                x_T: jax.Array | None = None, variance: str = 'fixed_small') -> jax.Array:
  """DDIM (Song et al. 2021, eq. 12) on ``num_steps`` spaced timesteps; ``eta = 0``: deterministic,
  ``eta = 1``: the DDPM posterior noise. ``x_{prev} = sqrt(a') x0 + sqrt(1 - a' - sigma^2) eps + sigma z`` with
  ``sigma = eta sqrt((1 - a') / (1 - a)) sqrt(1 - a / a')``. ``variance`` only tells how to split a
  2C-channel output. Returns x_0 [B, ...]."""
  ts, ac, ac_prev = _ddim_levels(s, num_steps, spacing)
  steps = ts.shape[0]
  x, keys = _start(rng, shape, steps, x_T)
  b = shape[0]
  bc = lambda v: v.reshape((1,) * len(shape))  # noqa: E731

  def body(x, inp):
    i, key = inp
    t = jnp.full((b,), ts[i], jnp.int32)
    mean_out, _ = pred.split_output(model_fn(x, t), variance)
    x0, eps = pred.predict_x0_eps(s, x, t, mean_out, parameterization, clip_denoised)
    a, a_prev = bc(ac[i]), bc(ac_prev[i])
    sigma = eta * jnp.sqrt((1.0 - a_prev) / (1.0 - a)) * jnp.sqrt(1.0 - a / a_prev)
    mean = jnp.sqrt(a_prev) * x0 + jnp.sqrt(jnp.maximum(1.0 - a_prev - sigma ** 2, 0.0)) * eps
    return mean + sigma * jax.random.normal(key, x.shape, jnp.float32), None

  x, _ = jax.lax.scan(body, x, (jnp.arange(steps)[::-1], keys))
  return x


def ddim_invert(model_fn: ModelFn, s: DiscreteSchedule, x0: jax.Array, parameterization: str = 'eps',
                num_steps: int = 50, spacing: str = 'linspace', variance: str = 'fixed_small') -> jax.Array:
  """Deterministic DDIM encoding x_0 [B, ...] -> x_T [B, ...], the eta = 0 update run forwards:
  ``x_{t_i} = sqrt(a_i) x0_hat + sqrt(1 - a_i) eps_theta(x_{t_{i-1}}, t_i)``. ``ddim_sample(..., x_T=...)``
  with the same steps maps it back to x_0 up to the O(1/num_steps) error of the discretised ODE."""
  ts, ac, ac_prev = _ddim_levels(s, num_steps, spacing)
  b = x0.shape[0]
  bc = lambda v: v.reshape((1,) * x0.ndim)  # noqa: E731

  def body(x, i):
    t = jnp.full((b,), ts[i], jnp.int32)
    mean_out, _ = pred.split_output(model_fn(x, t), variance)
    _, eps = pred.predict_x0_eps(s, x, t, mean_out, parameterization)
    a, a_cur = bc(ac[i]), bc(ac_prev[i])
    x0_hat = (x - jnp.sqrt(1.0 - a_cur) * eps) / jnp.sqrt(a_cur)
    return jnp.sqrt(a) * x0_hat + jnp.sqrt(1.0 - a) * eps, None

  x, _ = jax.lax.scan(body, x0, jnp.arange(ts.shape[0]))
  return x
