"""Score SDEs (Song et al. 2021): VP, sub-VP and VE forward processes on t in [0, 1].

Forward SDE ``dx = f(x, t) dt + g(t) dw`` with Gaussian marginals ``x_t = m(t) x_0 + s(t) z``:
  VP:     f = -beta(t) x / 2, g = sqrt(beta(t)), beta(t) = beta_min + t (beta_max - beta_min);
          m = exp(-int beta / 2), s^2 = 1 - m^2 (the T -> inf limit of DDPM with beta(t) = T beta_t).
  sub-VP: same f; g = sqrt(beta(t) (1 - exp(-2 int beta))); s = 1 - m^2 (not its square root).
  VE:     f = 0, g = sigma(t) sqrt(2 log(sigma_max / sigma_min)), sigma(t) = sigma_min (sigma_max/sigma_min)^t;
          m = 1, s = sigma(t) (the T -> inf limit of SMLD / NCSN).
A network ``eps_theta(x_t, t)`` predicts z and gives the score ``grad log p_t(x) = -eps_theta / s(t)``;
training is continuous-time denoising score matching (``dsm_loss``). Shapes: x [B, ...], t [B].
"""
import dataclasses
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp

SDES = ('vp', 'subvp', 've')

ScoreFn = Callable[[jax.Array, jax.Array], jax.Array]


def expand_to(v: jax.Array, x: jax.Array) -> jax.Array:
  """[B] -> [B, 1, ..., 1] against x."""
  return v.reshape(v.shape + (1,) * (x.ndim - v.ndim))


@dataclasses.dataclass(frozen=True)
class SDE:
  """A forward SDE; ``kind`` in SDES. Hashable, so it can be closed over by jitted functions."""
  kind: str = 'vp'
  beta_min: float = 0.1
  beta_max: float = 20.0
  sigma_min: float = 0.01
  sigma_max: float = 50.0

  # -- coefficients, t: [B] (or scalar) float
  def beta(self, t: jax.Array) -> jax.Array:
    return self.beta_min + t * (self.beta_max - self.beta_min)

  def sigma(self, t: jax.Array) -> jax.Array:
    return self.sigma_min * (self.sigma_max / self.sigma_min) ** t

  def log_mean_coeff(self, t: jax.Array) -> jax.Array:
    """log m(t) = -int_0^t beta / 2 (VP, sub-VP); 0 for VE."""
    if self.kind == 've':
      return jnp.zeros_like(t)
    return -0.25 * t ** 2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

  def mean_std(self, t: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(m(t), s(t)) of the marginal ``q(x_t | x_0) = N(m x_0, s^2 I)``, each shaped like t."""
    if self.kind == 've':
      return jnp.ones_like(t), self.sigma(t)
    lmc = self.log_mean_coeff(t)
    if self.kind == 'vp':
      return jnp.exp(lmc), jnp.sqrt(-jnp.expm1(2.0 * lmc))
    return jnp.exp(lmc), -jnp.expm1(2.0 * lmc)

  def diffusion(self, t: jax.Array) -> jax.Array:
    """g(t), shaped like t."""
    if self.kind == 'vp':
      return jnp.sqrt(self.beta(t))
    if self.kind == 'subvp':
      return jnp.sqrt(self.beta(t) * -jnp.expm1(-2.0 * self.beta_min * t - (self.beta_max - self.beta_min) * t ** 2))
    return self.sigma(t) * math.sqrt(2.0 * math.log(self.sigma_max / self.sigma_min))

  def drift(self, x: jax.Array, t: jax.Array) -> jax.Array:
    """f(x, t) [B, ...]."""
    if self.kind == 've':
      return jnp.zeros_like(x)
    return -0.5 * expand_to(self.beta(t), x) * x

  def marginal(self, x0: jax.Array, t: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(mean [B, ...], std [B, 1, ..., 1]) of q(x_t | x_0)."""
    m, s = self.mean_std(t)
    return expand_to(m, x0) * x0, expand_to(s, x0)

  @property
  def prior_std(self) -> float:
    return self.sigma_max if self.kind == 've' else 1.0

  def prior_sample(self, rng: jax.Array, shape: tuple) -> jax.Array:
    """x_1 ~ N(0, prior_std^2 I)."""
    return self.prior_std * jax.random.normal(rng, shape, jnp.float32)

  def prior_logp(self, z: jax.Array) -> jax.Array:
    """log N(z; 0, prior_std^2 I) per example [B], nats."""
    d = math.prod(z.shape[1:])
    sq = jnp.sum(jnp.square(z.reshape(z.shape[0], -1)), axis=-1)
    return -0.5 * d * math.log(2.0 * math.pi * self.prior_std ** 2) - 0.5 * sq / self.prior_std ** 2

  def discretize(self, x: jax.Array, t: jax.Array, dt: float) -> tuple[jax.Array, jax.Array]:
    """One forward step of length dt ending at t: ``x_t = x_{t-dt} + f + G z`` -> (f [B, ...], G [B]).

    VP: DDPM's step with ``beta = min(beta(t) dt, 0.999)`` (f = (sqrt(1 - beta) - 1) x, G = sqrt(beta)); VE: SMLD's
    (f = 0, G = sqrt(sigma(t)^2 - sigma(t - dt)^2), with sigma(t - dt) = 0 when t < dt / 2); sub-VP: Euler-Maruyama.
    """
    if self.kind == 'vp':
      b = jnp.minimum(self.beta(t) * dt, 0.999)  # as DDPM's betas: valid for any number of steps
      return (jnp.sqrt(1.0 - expand_to(b, x)) - 1.0) * x, jnp.sqrt(b)
    if self.kind == 've':
      prev = jnp.where(t > 0.5 * dt, self.sigma(jnp.maximum(t - dt, 0.0)), 0.0)
      return jnp.zeros_like(x), jnp.sqrt(self.sigma(t) ** 2 - prev ** 2)
    return self.drift(x, t) * dt, self.diffusion(t) * math.sqrt(dt)

  def reverse_drift(self, x: jax.Array, t: jax.Array, score: jax.Array,
                    probability_flow: bool = False) -> jax.Array:
    """Drift of the reverse-time SDE ``f - g^2 score`` or of the probability-flow ODE ``f - g^2 score / 2``."""
    g2 = expand_to(self.diffusion(t) ** 2, x)
    return self.drift(x, t) - (0.5 if probability_flow else 1.0) * g2 * score


def sde_from_config(d: Any) -> SDE:
  """The SDE of ``config.diffusion`` (sde, beta_min, beta_max, sigma_min, sigma_max)."""
  return SDE(kind=d.get('sde', 'vp'), beta_min=float(d.get('beta_min', 0.1)), beta_max=float(d.get('beta_max', 20.0)),
             sigma_min=float(d.get('sigma_min', 0.01)), sigma_max=float(d.get('sigma_max', 50.0)))


def network_inputs(sde: SDE, x: jax.Array, t: jax.Array) -> tuple[jax.Array, jax.Array]:
  """What the denoiser sees: ``(x / sqrt(1 + s(t)^2) for VE else x, 999 t)``; the VE input scaling
  keeps the network's inputs O(1) at large noise levels."""
  if sde.kind == 've':
    _, s = sde.mean_std(t)
    x = x / expand_to(jnp.sqrt(1.0 + s ** 2), x)
  return x, 999.0 * t


def make_score_fn(sde: SDE, model_fn: Callable[[jax.Array, jax.Array], jax.Array]) -> ScoreFn:
  """``score(x, t) = -eps_theta(x, t) / s(t)`` from a noise-predicting ``model_fn(x_in, cond)``."""
  def score_fn(x, t):
    x_in, cond = network_inputs(sde, x, t)
    _, s = sde.mean_std(t)
    return -model_fn(x_in, cond) / expand_to(s, x)
  return score_fn


def dsm_loss(sde: SDE, eps_fn: Callable[[jax.Array, jax.Array], jax.Array], x0: jax.Array, rng: jax.Array,
             t_eps: float = 1e-5, likelihood_weighting: bool = False) -> jax.Array:
  """Continuous-time denoising score matching, per example [B] (mean over data dimensions).

  ``t ~ U(t_eps, 1)``, ``x_t = m x_0 + s z``; loss ``|eps_theta(x_t, t) - z|^2``, i.e. the score loss
  with weighting ``lambda(t) = s(t)^2``; with ``likelihood_weighting`` ``lambda(t) = g(t)^2`` (Song et al.
  2021b: the loss bounds the NLL). ``eps_fn(x_t, t)`` handles the network's input conventions.
  """
  k_t, k_z = jax.random.split(rng)
  t = jax.random.uniform(k_t, (x0.shape[0],), jnp.float32, t_eps, 1.0)
  z = jax.random.normal(k_z, x0.shape, jnp.float32)
  mean, std = sde.marginal(x0, t)
  err = jnp.mean(jnp.square(eps_fn(mean + std * z, t) - z).reshape(x0.shape[0], -1), axis=-1)
  if likelihood_weighting:
    _, s = sde.mean_std(t)
    err = err * sde.diffusion(t) ** 2 / s ** 2
  return err


def tweedie_denoise(sde: SDE, score_fn: ScoreFn, x: jax.Array, t: jax.Array) -> jax.Array:
  """``E[x_0 | x_t] = (x_t + s^2 score) / m`` (Tweedie's formula), [B, ...]."""
  m, s = sde.mean_std(t)
  return (x + expand_to(s ** 2, x) * score_fn(x, t)) / expand_to(m, x)
