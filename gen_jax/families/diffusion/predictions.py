"""From a denoiser's raw output to predictions of (x_0, eps, v) and the reverse step p(x_{t-1} | x_t).

Parameterizations (what the network's first C output channels predict):
  'eps': the noise ``eps`` (Ho et al. 2020);
  'x0':  the clean data ``x_0``;
  'v':   ``v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0`` (Salimans & Ho 2022).
Variances of ``p(x_{t-1} | x_t) = N(mu_theta, sigma_t^2)``:
  'fixed_small':   the posterior variance ``beta~_t`` (lower bound of Ho et al.);
  'fixed_large':   ``beta_t`` (with ``beta~_1`` at t = 0, as in improved-diffusion);
  'learned_range': the network outputs 2C channels; the last C, ``v in [-1, 1]``, interpolate
                   ``log sigma^2 = (v+1)/2 log beta_t + (1 - (v+1)/2) log beta~_t`` (Nichol & Dhariwal).
Shapes: ``x_t`` [B, ...]; ``t`` int32 [B]; outputs [B, ...] or broadcastable [B, 1, ..., 1].
"""
import jax
import jax.numpy as jnp

from gen_jax.families.diffusion.schedules import DiscreteSchedule, extract, q_posterior_mean_variance

PARAMETERIZATIONS = ('eps', 'x0', 'v')
VARIANCES = ('fixed_small', 'fixed_large', 'learned_range')


def output_channels(data_channels: int, variance: str) -> int:
  """Channels the denoiser must output: C, or 2C with a learned variance."""
  return 2 * data_channels if variance == 'learned_range' else data_channels


def split_output(out: jax.Array, variance: str) -> tuple[jax.Array, jax.Array | None]:
  """``(mean_out [B, ..., C], var_out [B, ..., C] or None)`` from the raw output (channels last)."""
  if variance == 'learned_range':
    c = out.shape[-1] // 2
    return out[..., :c], out[..., c:]
  return out, None


def training_target(parameterization: str, s: DiscreteSchedule, x0: jax.Array, eps: jax.Array,
                    t: jax.Array) -> jax.Array:
  """What the network regresses: eps, x0 or v (same shape as x0)."""
  if parameterization == 'eps':
    return eps
  if parameterization == 'x0':
    return x0
  if parameterization == 'v':
    return extract(s.sqrt_alphas_cumprod, t, x0.shape) * eps - extract(s.sqrt_one_minus_alphas_cumprod, t,
                                                                        x0.shape) * x0
  raise ValueError(f'unknown parameterization {parameterization!r}; allowed: {", ".join(PARAMETERIZATIONS)}.')


def eps_from_x0(s: DiscreteSchedule, x_t: jax.Array, t: jax.Array, x0: jax.Array) -> jax.Array:
  """``eps = (x_t / sqrt(abar) - x0) / sqrt(1/abar - 1)``."""
  return ((extract(s.sqrt_recip_alphas_cumprod, t, x_t.shape) * x_t - x0)
          / extract(s.sqrt_recipm1_alphas_cumprod, t, x_t.shape))


def x0_from_eps(s: DiscreteSchedule, x_t: jax.Array, t: jax.Array, eps: jax.Array) -> jax.Array:
  """``x0 = x_t / sqrt(abar) - sqrt(1/abar - 1) eps``."""
  return (extract(s.sqrt_recip_alphas_cumprod, t, x_t.shape) * x_t
          - extract(s.sqrt_recipm1_alphas_cumprod, t, x_t.shape) * eps)


def predict_x0_eps(s: DiscreteSchedule, x_t: jax.Array, t: jax.Array, mean_out: jax.Array,
                   parameterization: str, clip_denoised: bool = False) -> tuple[jax.Array, jax.Array]:
  """``(pred_x0, pred_eps)`` implied by the network's prediction; with ``clip_denoised`` x0 is clipped
  to [-1, 1] and eps recomputed from the clipped x0 (so DDIM stays consistent)."""
  if parameterization == 'eps':
    eps = mean_out
    x0 = x0_from_eps(s, x_t, t, eps)
  elif parameterization == 'x0':
    x0 = mean_out
    eps = eps_from_x0(s, x_t, t, x0)
  elif parameterization == 'v':
    a, b = extract(s.sqrt_alphas_cumprod, t, x_t.shape), extract(s.sqrt_one_minus_alphas_cumprod, t, x_t.shape)
    x0 = a * x_t - b * mean_out
    eps = b * x_t + a * mean_out
  else:
    raise ValueError(f'unknown parameterization {parameterization!r}; allowed: {", ".join(PARAMETERIZATIONS)}.')
  if clip_denoised:
    x0 = jnp.clip(x0, -1.0, 1.0)
    eps = eps_from_x0(s, x_t, t, x0)
  return x0, eps


def model_variance(s: DiscreteSchedule, t: jax.Array, x_shape: tuple, variance: str,
                   var_out: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
  """``(sigma_t^2, log sigma_t^2)`` of p(x_{t-1} | x_t); broadcastable (fixed) or [B, ...] (learned)."""
  if variance == 'fixed_small':
    return (extract(s.posterior_variance, t, x_shape), extract(s.posterior_log_variance_clipped, t, x_shape))
  if variance == 'fixed_large':
    large = jnp.concatenate([s.posterior_variance[1:2], s.betas[1:]])
    return extract(large, t, x_shape), jnp.log(extract(large, t, x_shape))
  if variance == 'learned_range':
    min_log = extract(s.posterior_log_variance_clipped, t, x_shape)
    max_log = extract(jnp.log(s.betas), t, x_shape)
    frac = (var_out + 1.0) / 2.0
    log_var = frac * max_log + (1.0 - frac) * min_log
    return jnp.exp(log_var), log_var
  raise ValueError(f'unknown variance {variance!r}; allowed: {", ".join(VARIANCES)}.')


def p_mean_variance(s: DiscreteSchedule, out: jax.Array, x_t: jax.Array, t: jax.Array, parameterization: str,
                    variance: str, clip_denoised: bool = False) -> dict[str, jax.Array]:
  """The reverse step ``p(x_{t-1} | x_t)`` from a raw model output ``out``.

  Returns a dict with 'mean' [B, ...] (the posterior mean at the predicted x0), 'variance' and
  'log_variance' (broadcastable), 'pred_x0' and 'pred_eps' [B, ...].
  """
  mean_out, var_out = split_output(out, variance)
  x0, eps = predict_x0_eps(s, x_t, t, mean_out, parameterization, clip_denoised)
  mean, _, _ = q_posterior_mean_variance(s, x0, x_t, t)
  var, log_var = model_variance(s, t, x_t.shape, variance, var_out)
  return {'mean': mean, 'variance': var, 'log_variance': log_var, 'pred_x0': x0, 'pred_eps': eps}
