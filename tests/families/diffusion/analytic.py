"""Closed-form denoisers for Gaussian data x_0 ~ N(m, diag(s^2)): exact reference models for the tests.

With ``x_t = a x_0 + b z``: ``x_t ~ N(a m, a^2 s^2 + b^2)``, ``E[z | x_t] = b (x_t - a m) / (a^2 s^2 + b^2)``
and ``grad log p_t(x) = -(x - a m) / (a^2 s^2 + b^2)``.
"""
import math

import jax.numpy as jnp
import numpy as np

from gen_jax.families.diffusion.schedules import DiscreteSchedule


def bcast(v, x):
  return v.reshape(v.shape + (1,) * (x.ndim - v.ndim))


def discrete_eps_fn(s: DiscreteSchedule, mean, std):
  """``fn(x_t [B, D], t [B] int) -> E[eps | x_t]`` for the T-step schedule ``s`` (the optimal eps model)."""
  mean, std = jnp.asarray(mean, jnp.float32), jnp.asarray(std, jnp.float32)

  def fn(x, t):
    ac = bcast(s.alphas_cumprod[t], x)
    a, b = jnp.sqrt(ac), jnp.sqrt(1.0 - ac)
    return b * (x - a * mean) / (ac * std ** 2 + 1.0 - ac)
  return fn


def sde_score_fn(sde, mean, std):
  """``score(x [B, D], t [B]) = grad log p_t(x)`` of the SDE's marginal of N(mean, diag(std^2))."""
  mean, std = jnp.asarray(mean, jnp.float32), jnp.asarray(std, jnp.float32)

  def fn(x, t):
    a, b = sde.mean_std(t)
    a, b = bcast(a, x), bcast(b, x)
    return -(x - a * mean) / (a ** 2 * std ** 2 + b ** 2)
  return fn


def sde_marginal_logp(sde, mean, std, x, t: float) -> np.ndarray:
  """Exact ``log p_t(x)`` per example [B] (nats) of the marginal at time t."""
  a, b = (float(v) for v in sde.mean_std(jnp.float32(t)))
  var = a ** 2 * np.asarray(std, np.float64) ** 2 + b ** 2
  x = np.asarray(x, np.float64)
  return np.sum(-0.5 * (math.log(2 * math.pi) + np.log(var) + (x - a * np.asarray(mean)) ** 2 / var), axis=-1)


def gaussian_logp(mean, std, x) -> np.ndarray:
  """log N(x; mean, diag(std^2)) per example [B] (nats)."""
  x = np.asarray(x, np.float64)
  var = np.asarray(std, np.float64) ** 2
  return np.sum(-0.5 * (math.log(2 * math.pi) + np.log(var) + (x - np.asarray(mean)) ** 2 / var), axis=-1)


def sde_flow_nll(sde, mean, std, x, t_eps: float) -> np.ndarray:
  """The exact NLL [B] (nats) the probability-flow ODE assigns to x at t_eps, prior included.

  For Gaussian marginals the flow is affine per dimension, mapping quantiles:
  ``z = a_1 m + sqrt(v_1 / v_eps) (x - a_eps m)``; then ``log p(x) = log N(z; 0, prior_std^2) +
  0.5 sum log(v_1 / v_eps)``. This differs from the data density only through the prior mismatch at t=1.
  """
  std, mean, x = (np.asarray(v, np.float64) for v in (std, mean, x))
  a0, b0 = (float(v) for v in sde.mean_std(jnp.float32(t_eps)))
  a1, b1 = (float(v) for v in sde.mean_std(jnp.float32(1.0)))
  v0, v1 = a0 ** 2 * std ** 2 + b0 ** 2, a1 ** 2 * std ** 2 + b1 ** 2
  z = a1 * mean + np.sqrt(v1 / v0) * (x - a0 * mean)
  p = sde.prior_std ** 2
  logp = np.sum(-0.5 * (math.log(2 * math.pi * p) + z ** 2 / p) + 0.5 * np.log(v1 / v0), axis=-1)
  return -logp


def discrete_eps_fn_full_cov(s: DiscreteSchedule, mean, cov):
  """``E[eps | x_t]`` for correlated Gaussian data N(mean, cov) [D], [D, D]."""
  mean, cov = jnp.asarray(mean, jnp.float32), jnp.asarray(cov, jnp.float32)
  d = cov.shape[0]

  def fn(x, t):
    ac = s.alphas_cumprod[t][:, None, None]
    prec = jnp.linalg.inv(ac * cov + (1.0 - ac) * jnp.eye(d))
    return jnp.sqrt(1.0 - ac[:, :, 0]) * jnp.einsum('bij,bj->bi', prec, x - jnp.sqrt(ac[:, :, 0]) * mean)
  return fn
