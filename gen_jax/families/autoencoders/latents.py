"""Latent distributions of the autoencoder family: posteriors, priors and their KLs (nats).

Posteriors q(z|x) (``config.model.posterior``), with the encoder's output layout:
  'gaussian'     N(mean, diag(exp(logvar)))            params (mean [B, D], logvar [B, D])
  'laplace'      Laplace(loc, exp(log_scale)) per dim    params (loc [B, D], log_scale [B, D])
  'categorical'  D independent categoricals over K      params (logits [B, D, K],)
                 (one-hot z [B, D, K]; relaxed in training by Gumbel-softmax)
Priors p(z) (``config.model.prior``):
  'gaussian'     N(0, I)
  'laplace'      Laplace(0, 1) per dim
  'mog'          a learned mixture of M diagonal Gaussians (means [M, D], logvars [M, D], logits [M])
  'uniform'      uniform over the K categories of each of the D categoricals

KL(q || p) per example, [B]: in closed form for (gaussian, gaussian), (laplace, laplace) and
(categorical, uniform); otherwise the one-sample Monte Carlo estimate log q(z|x) - log p(z) at
the posterior sample z (unbiased). All log-densities sum over the latent dimensions: [B].
"""
import math
from typing import Any, Sequence

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

LOG_2PI = math.log(2.0 * math.pi)
LOG_2 = math.log(2.0)

POSTERIORS = ('gaussian', 'laplace', 'categorical')
PRIORS = ('gaussian', 'laplace', 'mog', 'uniform')
# posterior -> the priors it can be paired with.
COMPATIBLE_PRIORS = {'gaussian': ('gaussian', 'laplace', 'mog'), 'laplace': ('gaussian', 'laplace', 'mog'),
                     'categorical': ('uniform',)}
CLOSED_FORM = (('gaussian', 'gaussian'), ('laplace', 'laplace'), ('categorical', 'uniform'))

Params = Sequence[jax.Array]


# --- Gaussian ---------------------------------------------------------------------------------------

def reparameterize(rng: jax.Array, mean: jax.Array, logvar: jax.Array) -> jax.Array:
  """z = mean + sigma * eps with eps ~ N(0, I): a differentiable sample of N(mean, exp(logvar))."""
  return mean + jnp.exp(0.5 * logvar) * jax.random.normal(rng, mean.shape, mean.dtype)


def diag_gaussian_log_prob(z: jax.Array, mean: jax.Array, logvar: jax.Array) -> jax.Array:
  """log N(z | mean, diag(exp(logvar))), summed over the last axis."""
  return -0.5 * jnp.sum(LOG_2PI + logvar + jnp.square(z - mean) * jnp.exp(-logvar), axis=-1)


def kl_diag_gaussian_std_normal(mean: jax.Array, logvar: jax.Array) -> jax.Array:
  """KL(N(mean, diag(exp(logvar))) || N(0, I)) in closed form, summed over latent dims: [B]."""
  return 0.5 * jnp.sum(jnp.square(mean) + jnp.exp(logvar) - 1.0 - logvar, axis=-1)


# --- Laplace ----------------------------------------------------------------------------------------

def laplace_sample(rng: jax.Array, loc: jax.Array, log_scale: jax.Array) -> jax.Array:
  """Reparameterized Laplace(loc, b = exp(log_scale)) sample by the inverse CDF:
  z = loc - b sign(u) log(1 - 2|u|), u ~ U(-1/2, 1/2)."""
  eps = jnp.finfo(loc.dtype).eps
  u = jax.random.uniform(rng, loc.shape, loc.dtype, -0.5 + eps, 0.5 - eps)
  return loc - jnp.exp(log_scale) * jnp.sign(u) * jnp.log1p(-2.0 * jnp.abs(u))


def laplace_log_prob(z: jax.Array, loc: jax.Array | float = 0.0,
                     log_scale: jax.Array | float = 0.0) -> jax.Array:
  """log Laplace(z | loc, exp(log_scale)) = -|z - loc| / b - log(2 b), summed over the last axis."""
  return jnp.sum(-jnp.abs(z - loc) * jnp.exp(-log_scale) - log_scale - LOG_2, axis=-1)


def kl_laplace(loc: jax.Array, log_scale: jax.Array, prior_loc: jax.Array | float = 0.0,
               prior_log_scale: jax.Array | float = 0.0) -> jax.Array:
  """KL(Laplace(m1, b1) || Laplace(m2, b2)) in closed form, summed over the last axis:
  log(b2 / b1) + |m1 - m2| / b2 + (b1 / b2) exp(-|m1 - m2| / b1) - 1."""
  d = jnp.abs(loc - prior_loc)
  b1, b2 = jnp.exp(log_scale), jnp.exp(prior_log_scale)
  return jnp.sum(prior_log_scale - log_scale + d / b2 + (b1 / b2) * jnp.exp(-d / b1) - 1.0, axis=-1)


# --- Mixture of Gaussians prior -------------------------------------------------------------------

def mog_log_prob(z: jax.Array, means: jax.Array, logvars: jax.Array, logits: jax.Array) -> jax.Array:
  """log sum_m pi_m N(z | means[m], diag(exp(logvars[m]))); z [..., D], means/logvars [M, D],
  logits [M] (pi = softmax(logits)) -> [...]."""
  comp = diag_gaussian_log_prob(z[..., None, :], means, logvars)  # [..., M]
  return logsumexp(comp + jax.nn.log_softmax(logits), axis=-1)


def mog_sample(rng: jax.Array, num: int, means: jax.Array, logvars: jax.Array, logits: jax.Array) -> jax.Array:
  """``num`` samples [num, D] of the mixture: a component ~ Categorical(softmax(logits)), then its Gaussian."""
  k_comp, k_z = jax.random.split(rng)
  m = jax.random.categorical(k_comp, logits, shape=(num,))
  return reparameterize(k_z, means[m], logvars[m])


# --- Categorical / Gumbel-softmax ----------------------------------------------------------------

def gumbel_softmax_sample(rng: jax.Array, logits: jax.Array, tau: jax.Array | float,
                          hard: bool = False) -> jax.Array:
  """Relaxed one-hot sample softmax((logits + g) / tau), g ~ Gumbel(0, 1), over the last axis
  (Jang et al. 2017; Maddison et al. 2017). ``hard``: the one-hot argmax in the forward pass with the
  relaxed gradient (straight-through). As tau -> 0 the sample tends to the one-hot
  ``argmax(logits + g)``, which is distributed as Categorical(softmax(logits)) (Gumbel-max)."""
  g = jax.random.gumbel(rng, logits.shape, logits.dtype)
  y = jax.nn.softmax((logits + g) / tau, axis=-1)
  if hard:
    onehot = jax.nn.one_hot(jnp.argmax(y, axis=-1), logits.shape[-1], dtype=y.dtype)
    y = y + jax.lax.stop_gradient(onehot - y)
  return y


def categorical_sample(rng: jax.Array, logits: jax.Array) -> jax.Array:
  """An exact one-hot sample of Categorical(softmax(logits)) over the last axis (Gumbel-max)."""
  idx = jnp.argmax(logits + jax.random.gumbel(rng, logits.shape, logits.dtype), axis=-1)
  return jax.nn.one_hot(idx, logits.shape[-1], dtype=logits.dtype)


def categorical_log_prob(onehot: jax.Array, logits: jax.Array) -> jax.Array:
  """log q(z) of one-hot z [B, D, K] under independent categoricals ``logits`` [B, D, K]: [B]."""
  return jnp.sum(onehot * jax.nn.log_softmax(logits, axis=-1), axis=(-2, -1))


def kl_categorical_uniform(logits: jax.Array) -> jax.Array:
  """KL(Cat(softmax(logits)) || Uniform(K)) = sum_k q_k log q_k + log K, summed over D: [B]."""
  logq = jax.nn.log_softmax(logits, axis=-1)
  k = logits.shape[-1]
  return jnp.sum(jnp.sum(jnp.exp(logq) * logq, axis=-1) + math.log(k), axis=-1)


# --- Dispatch by config ---------------------------------------------------------------------------

def split_encoder_output(h: jax.Array, posterior: str, latent_dim: int, num_categories: int) -> tuple:
  """The encoder's flat output [B, P] as posterior parameters (see the module docstring)."""
  if posterior == 'categorical':
    return (h.reshape(h.shape[0], latent_dim, num_categories),)
  a, b = jnp.split(h, 2, axis=-1)
  return a, b


def encoder_output_dim(posterior: str, latent_dim: int, num_categories: int) -> int:
  """P, the size of the encoder's last layer for a posterior."""
  return latent_dim * num_categories if posterior == 'categorical' else 2 * latent_dim


def posterior_sample(rng: jax.Array, posterior: str, params: Params, tau: jax.Array | float = 1.0,
                     relaxed: bool = False, hard: bool = False) -> jax.Array:
  """A reparameterized sample of q(z|x): [B, D] (or one-hot [B, D, K] for 'categorical'; relaxed
  with Gumbel-softmax at temperature ``tau`` when ``relaxed``, exact otherwise)."""
  if posterior == 'gaussian':
    return reparameterize(rng, *params)
  if posterior == 'laplace':
    return laplace_sample(rng, *params)
  if relaxed:
    return gumbel_softmax_sample(rng, params[0], tau, hard)
  return categorical_sample(rng, params[0])


def posterior_mean(posterior: str, params: Params) -> jax.Array:
  """E_q[z]: the mean (Gaussian), location (Laplace) or probabilities (categorical, [B, D, K])."""
  if posterior == 'categorical':
    return jax.nn.softmax(params[0], axis=-1)
  return params[0]


def posterior_log_prob(z: jax.Array, posterior: str, params: Params) -> jax.Array:
  """log q(z|x) at z: [B] (z one-hot for 'categorical')."""
  if posterior == 'gaussian':
    return diag_gaussian_log_prob(z, *params)
  if posterior == 'laplace':
    return laplace_log_prob(z, *params)
  return categorical_log_prob(z, params[0])


def prior_log_prob(z: jax.Array, prior: str, prior_params: dict[str, Any]) -> jax.Array:
  """log p(z): [B] (z one-hot [B, D, K] for 'uniform')."""
  if prior == 'gaussian':
    return -0.5 * jnp.sum(LOG_2PI + jnp.square(z), axis=-1)
  if prior == 'laplace':
    return laplace_log_prob(z)
  if prior == 'mog':
    return mog_log_prob(z, prior_params['means'], prior_params['logvars'], prior_params['logits'])
  d, k = z.shape[-2:]
  return jnp.full(z.shape[:-2], -d * math.log(k), z.dtype)


def prior_sample(rng: jax.Array, num: int, prior: str, prior_params: dict[str, Any], latent_dim: int,
                 num_categories: int = 0) -> jax.Array:
  """``num`` samples of p(z): [num, D] (one-hot [num, D, K] for 'uniform')."""
  if prior == 'gaussian':
    return jax.random.normal(rng, (num, latent_dim), jnp.float32)
  if prior == 'laplace':
    return jax.random.laplace(rng, (num, latent_dim), jnp.float32)
  if prior == 'mog':
    return mog_sample(rng, num, prior_params['means'], prior_params['logvars'], prior_params['logits'])
  return categorical_sample(rng, jnp.zeros((num, latent_dim, num_categories), jnp.float32))


def has_closed_form_kl(posterior: str, prior: str) -> bool:
  return (posterior, prior) in CLOSED_FORM


def kl_divergence(posterior: str, prior: str, params: Params, prior_params: dict[str, Any],
                  z: jax.Array | None = None, estimator: str = 'auto') -> jax.Array:
  """KL(q(z|x) || p(z)) per example [B], nats.

  ``estimator='auto'``: closed form where one exists (see ``CLOSED_FORM``), else the one-sample
  Monte Carlo estimate log q(z) - log p(z) at the posterior sample ``z`` (which must then be given;
  for 'categorical' it must be an exact one-hot sample). ``'mc'`` forces the Monte Carlo estimate.
  """
  if estimator == 'auto' and has_closed_form_kl(posterior, prior):
    if posterior == 'gaussian':
      return kl_diag_gaussian_std_normal(*params)
    if posterior == 'laplace':
      return kl_laplace(*params)
    return kl_categorical_uniform(params[0])
  if z is None:
    raise ValueError(f'KL({posterior} || {prior}) has no closed form here: pass the posterior sample z.')
  return posterior_log_prob(z, posterior, params) - prior_log_prob(z, prior, prior_params)
