"""Noise schedules: discrete-time (DDPM, T steps) and continuous-time (t in [0, 1]).

Conventions (as in Ho et al. 2020 and improved-diffusion, 0-indexed): timestep
``t in {0, ..., T-1}`` is the paper's ``t + 1``; ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps``
with ``abar_t = prod_{s<=t} (1 - beta_s)``; "t = -1" is the clean data (``abar = 1``).

* linear (Ho et al.): betas evenly spaced from ``beta_start`` to ``beta_end``, both scaled by
  ``1000 / T`` so that any T ends at the same noise level (T = 1000: 1e-4 .. 0.02).
* cosine (Nichol & Dhariwal 2021): ``abar(t) = f(t) / f(0)``, ``f(t) = cos^2((t + s) / (1 + s) * pi / 2)``,
  s = 0.008; ``beta_t = min(1 - abar((t+1)/T) / abar(t/T), 0.999)``.
* sigmoid (Chen 2023, "On the importance of noise scheduling"): ``abar(t) =
  (v_end - sigmoid((t (end - start) + start) / tau)) / (v_end - v_start)``, ``v = sigmoid(. / tau)``,
  defaults start=-3, end=3, tau=1; betas from abar as for cosine.
* custom: a user-supplied beta array (length T, values in (0, 1)).

Continuous time: ``continuous_alpha_bar(name, ...)`` returns ``abar(t)`` for t in [0, 1]; the
linear one is the VP SDE's ``exp(-int_0^t beta(s) ds)`` with ``beta(t) = beta_min + t (beta_max - beta_min)``,
``beta_min = 1000 beta_start = 0.1``, ``beta_max = 1000 beta_end = 20``.
"""
import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

SCHEDULES = ('linear', 'cosine', 'sigmoid', 'custom')
MAX_BETA = 0.999


# ----------------------------------------------------------------------------- beta arrays

def linear_betas(num_timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> np.ndarray:
  """[T] float64 linear betas, scaled by 1000/T (T = 1000 gives Ho et al.'s 1e-4 .. 0.02)."""
  scale = 1000.0 / num_timesteps
  return np.minimum(np.linspace(scale * beta_start, scale * beta_end, num_timesteps, dtype=np.float64), MAX_BETA)


def cosine_alpha_bar(t: Any, s: float = 0.008) -> Any:
  """Continuous cosine ``abar(t)`` for t in [0, 1] (numpy or jax); abar(0) = 1, abar(1) = 0."""
  xp = jnp if isinstance(t, jax.Array) else np
  f0 = math.cos(s / (1.0 + s) * math.pi / 2.0) ** 2
  return xp.cos((t + s) / (1.0 + s) * math.pi / 2.0) ** 2 / f0


def sigmoid_alpha_bar(t: Any, start: float = -3.0, end: float = 3.0, tau: float = 1.0) -> Any:
  """Continuous sigmoid ``abar(t)`` for t in [0, 1] (numpy or jax); abar(0) = 1, abar(1) = 0."""
  xp = jnp if isinstance(t, jax.Array) else np
  sig = lambda z: 1.0 / (1.0 + xp.exp(-z))  # noqa: E731
  v_start, v_end = sig(start / tau), sig(end / tau)
  return (v_end - sig((t * (end - start) + start) / tau)) / (v_end - v_start)


def betas_from_alpha_bar(alpha_bar: Callable, num_timesteps: int, max_beta: float = MAX_BETA) -> np.ndarray:
  """[T] float64 ``beta_t = min(1 - abar((t+1)/T) / abar(t/T), max_beta)`` (Nichol & Dhariwal eq. 17)."""
  t = np.arange(num_timesteps, dtype=np.float64)
  a0, a1 = alpha_bar(t / num_timesteps), alpha_bar((t + 1) / num_timesteps)
  return np.minimum(1.0 - a1 / a0, max_beta)


def make_betas(name: str, num_timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02,
               cosine_s: float = 0.008, sigmoid_start: float = -3.0, sigmoid_end: float = 3.0,
               sigmoid_tau: float = 1.0, betas: Sequence[float] | None = None) -> np.ndarray:
  """The [T] float64 betas of a named schedule (``SCHEDULES``); ``betas`` is the array for 'custom'."""
  if name == 'linear':
    return linear_betas(num_timesteps, beta_start, beta_end)
  if name == 'cosine':
    return betas_from_alpha_bar(lambda t: cosine_alpha_bar(t, cosine_s), num_timesteps)
  if name == 'sigmoid':
    return betas_from_alpha_bar(lambda t: sigmoid_alpha_bar(t, sigmoid_start, sigmoid_end, sigmoid_tau),
                                num_timesteps)
  if name == 'custom':
    b = np.asarray(betas, np.float64)
    if b.ndim != 1 or not np.all((b > 0) & (b < 1)):
      raise ValueError(f'custom betas must be a 1-D array with values in (0, 1); got {b!r}.')
    return b
  raise ValueError(f'unknown schedule {name!r}; allowed: {", ".join(SCHEDULES)}.')


# ----------------------------------------------------------------------------- discrete schedule

@struct.dataclass
class DiscreteSchedule:
  """All per-timestep constants of a T-step Gaussian diffusion, as [T] float32 arrays (a pytree).

  Built from numpy on the host; samplers and ``respace`` read the values (``np.asarray``), so close over
  a schedule in jitted code rather than passing it as a traced argument.

  Posterior ``q(x_{t-1} | x_t, x_0) = N(coef1_t x_0 + coef2_t x_t, posterior_variance_t)`` with
  ``posterior_variance_t = beta_t (1 - abar_{t-1}) / (1 - abar_t)`` (0 at t = 0; its log is clipped
  to the value at t = 1, as in improved-diffusion).
  """
  betas: jax.Array
  alphas_cumprod: jax.Array
  alphas_cumprod_prev: jax.Array
  sqrt_alphas_cumprod: jax.Array
  sqrt_one_minus_alphas_cumprod: jax.Array
  sqrt_recip_alphas_cumprod: jax.Array
  sqrt_recipm1_alphas_cumprod: jax.Array
  posterior_variance: jax.Array
  posterior_log_variance_clipped: jax.Array
  posterior_mean_coef1: jax.Array
  posterior_mean_coef2: jax.Array

  @property
  def num_timesteps(self) -> int:
    return int(self.betas.shape[0])


def schedule_from_betas(betas: np.ndarray) -> DiscreteSchedule:
  """Builds every constant in float64 numpy from [T] betas and stores them as float32."""
  b = np.asarray(betas, np.float64)
  a = 1.0 - b
  ac = np.cumprod(a)
  ac_prev = np.append(1.0, ac[:-1])
  post_var = b * (1.0 - ac_prev) / (1.0 - ac)
  post_log = np.log(np.append(post_var[1], post_var[1:])) if len(b) > 1 else np.log(np.maximum(post_var, 1e-20))
  with jax.ensure_compile_time_eval():  # concrete constants even when built inside a jitted function
    return _to_schedule(b, ac, ac_prev, a, post_var, post_log)


def _to_schedule(b, ac, ac_prev, a, post_var, post_log) -> DiscreteSchedule:
  f32 = lambda v: jnp.asarray(v, jnp.float32)  # noqa: E731
  return DiscreteSchedule(
      betas=f32(b), alphas_cumprod=f32(ac), alphas_cumprod_prev=f32(ac_prev),
      sqrt_alphas_cumprod=f32(np.sqrt(ac)), sqrt_one_minus_alphas_cumprod=f32(np.sqrt(1.0 - ac)),
      sqrt_recip_alphas_cumprod=f32(np.sqrt(1.0 / ac)), sqrt_recipm1_alphas_cumprod=f32(np.sqrt(1.0 / ac - 1.0)),
      posterior_variance=f32(post_var), posterior_log_variance_clipped=f32(post_log),
      posterior_mean_coef1=f32(b * np.sqrt(ac_prev) / (1.0 - ac)),
      posterior_mean_coef2=f32((1.0 - ac_prev) * np.sqrt(a) / (1.0 - ac)))


def make_schedule(name: str, num_timesteps: int, **kwargs) -> DiscreteSchedule:
  """``schedule_from_betas(make_betas(name, num_timesteps, **kwargs))``."""
  return schedule_from_betas(make_betas(name, num_timesteps, **kwargs))


def schedule_from_config(d: Any) -> DiscreteSchedule:
  """The discrete schedule described by ``config.diffusion`` (schedule, num_timesteps, beta_*, betas...)."""
  return make_schedule(
      d.get('schedule', 'linear'), int(d.get('num_timesteps', 1000)), beta_start=d.get('beta_start', 1e-4),
      beta_end=d.get('beta_end', 0.02), cosine_s=d.get('cosine_s', 0.008),
      sigmoid_start=d.get('sigmoid_start', -3.0), sigmoid_end=d.get('sigmoid_end', 3.0),
      sigmoid_tau=d.get('sigmoid_tau', 1.0), betas=d.get('betas', None))


def spaced_timesteps(num_timesteps: int, num_steps: int, spacing: str = 'linspace') -> np.ndarray:
  """Increasing int32 subsequence of ``num_steps`` timesteps of ``range(T)`` for fast samplers.

  'linspace': evenly spaced from 0 to T-1 inclusive (rounded); 'trailing': ``round(T - k T / S) - 1``
  (ends at T-1, Lin et al. 2024); 'leading': ``k * (T // S)`` (DDIM's uniform stride, starts at 0).
  ``num_steps == T`` gives ``0 .. T-1`` for every spacing.
  """
  if not 1 <= num_steps <= num_timesteps:
    raise ValueError(f'num_steps={num_steps} must lie in [1, T={num_timesteps}].')
  if spacing == 'linspace':
    ts = np.round(np.linspace(0, num_timesteps - 1, num_steps))
  elif spacing == 'trailing':
    ts = np.round(np.arange(num_timesteps, 0, -num_timesteps / num_steps))[::-1] - 1
  elif spacing == 'leading':
    ts = np.arange(num_steps) * (num_timesteps // num_steps)
  else:
    raise ValueError(f'unknown timestep spacing {spacing!r}; allowed: linspace, trailing, leading.')
  ts = np.unique(ts.astype(np.int32))
  if len(ts) != num_steps:
    raise ValueError(f'{spacing} spacing of {num_steps} steps over T={num_timesteps} repeats timesteps.')
  return ts


def respace(schedule: DiscreteSchedule, timesteps: np.ndarray) -> DiscreteSchedule:
  """The schedule of the sub-chain on ``timesteps`` (Nichol & Dhariwal sec. 4): same abar at those steps,
  ``beta'_i = 1 - abar[tau_i] / abar[tau_{i-1}]``. Index i of the result is timestep ``timesteps[i]``."""
  ac = np.asarray(schedule.alphas_cumprod, np.float64)[np.asarray(timesteps)]
  prev = np.append(1.0, ac[:-1])
  return schedule_from_betas(1.0 - ac / prev)


# ----------------------------------------------------------------------------- q(x_t | x_0) and posterior

def extract(a: jax.Array, t: jax.Array, x_shape: tuple) -> jax.Array:
  """``a[t]`` for int ``t`` [B], reshaped to [B, 1, ..., 1] to broadcast against ``x_shape``."""
  return a[t].reshape((t.shape[0],) + (1,) * (len(x_shape) - 1))


def q_mean_variance(s: DiscreteSchedule, x0: jax.Array, t: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
  """``q(x_t | x_0)``: mean ``sqrt(abar_t) x0``, variance and log-variance ``1 - abar_t`` (broadcastable)."""
  mean = extract(s.sqrt_alphas_cumprod, t, x0.shape) * x0
  var = extract(1.0 - s.alphas_cumprod, t, x0.shape)
  return mean, var, jnp.log(var)


def q_sample(s: DiscreteSchedule, x0: jax.Array, t: jax.Array, noise: jax.Array) -> jax.Array:
  """A draw of ``x_t ~ q(x_t | x_0)`` with the given standard-normal ``noise`` (same shape as x0)."""
  return (extract(s.sqrt_alphas_cumprod, t, x0.shape) * x0
          + extract(s.sqrt_one_minus_alphas_cumprod, t, x0.shape) * noise)


def q_posterior_mean_variance(s: DiscreteSchedule, x0: jax.Array, x_t: jax.Array,
                              t: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
  """``q(x_{t-1} | x_t, x_0)``: mean [B, ...], variance and clipped log-variance (broadcastable)."""
  mean = extract(s.posterior_mean_coef1, t, x_t.shape) * x0 + extract(s.posterior_mean_coef2, t, x_t.shape) * x_t
  return (mean, extract(s.posterior_variance, t, x_t.shape),
          extract(s.posterior_log_variance_clipped, t, x_t.shape))


def snr(s: DiscreteSchedule, t: jax.Array) -> jax.Array:
  """Signal-to-noise ratio ``abar_t / (1 - abar_t)`` at int timesteps ``t`` [B] -> [B]."""
  ac = s.alphas_cumprod[t]
  return ac / (1.0 - ac)


# ----------------------------------------------------------------------------- continuous time

def continuous_alpha_bar(name: str, beta_start: float = 1e-4, beta_end: float = 0.02, cosine_s: float = 0.008,
                         sigmoid_start: float = -3.0, sigmoid_end: float = 3.0, sigmoid_tau: float = 1.0,
                         betas: Sequence[float] | None = None) -> Callable[[jax.Array], jax.Array]:
  """``abar(t)`` for continuous t in [0, 1] (jnp, elementwise); abar(0) = 1 for every schedule.

  'custom' interpolates ``log abar`` piecewise-linearly through ``(t_i = (i+1)/T, abar_i)`` and (0, 1).
  """
  if name == 'linear':
    b0, b1 = 1000.0 * beta_start, 1000.0 * beta_end
    return lambda t: jnp.exp(-(b0 * t + 0.5 * (b1 - b0) * t ** 2))
  if name == 'cosine':
    return lambda t: cosine_alpha_bar(jnp.asarray(t, jnp.float32), cosine_s)
  if name == 'sigmoid':
    return lambda t: sigmoid_alpha_bar(jnp.asarray(t, jnp.float32), sigmoid_start, sigmoid_end, sigmoid_tau)
  if name == 'custom':
    b = np.asarray(betas, np.float64)
    grid = np.arange(len(b) + 1, dtype=np.float64) / len(b)
    log_ac = np.append(0.0, np.cumsum(np.log1p(-b)))
    g, la = jnp.asarray(grid, jnp.float32), jnp.asarray(log_ac, jnp.float32)
    return lambda t: jnp.exp(jnp.interp(t, g, la))
  raise ValueError(f'unknown schedule {name!r}; allowed: {", ".join(SCHEDULES)}.')
