"""Evaluation metrics of the autoencoder family: IWAE bound, active units, reconstruction errors.

Generic metrics (PSNR, bits/dim, AUROC, the IWAE reduction) come from ``gen_jax.eval``; this
module adds what needs the model: drawing the k importance samples in bounded memory.
"""
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gen_jax.eval import psnr
from gen_jax.families.autoencoders import latents, losses
from gen_jax.families.autoencoders.losses import data_range, reconstruction_terms
from gen_jax.families.autoencoders.models import Autoencoder

DEFAULT_CHUNK_ROWS = 4096  # decoder rows (samples x examples) per chunk when config.eval.iwae_chunk = 0


def iwae_chunk_size(k: int, batch: int, chunk: int = 0) -> int:
  """Importance samples per chunk: ``chunk`` if given, else enough for ~4,096 decoder rows."""
  if chunk <= 0:
    chunk = max(1, DEFAULT_CHUNK_ROWS // max(batch, 1))
  return max(1, min(int(chunk), int(k)))


def log_importance_weights(params: Any, model: Autoencoder, q: tuple, x: jax.Array, y: jax.Array | None,
                           rng: jax.Array, num: int, config: Any) -> jax.Array:
  """``num`` log weights log p(x|z) + log p(z) - log q(z|x) with z ~ q (exact samples): [num, B] nats."""
  m = config.model
  posterior, prior = m.get('posterior', 'gaussian'), m.get('prior', 'gaussian')
  b = x.shape[0]
  z = jax.vmap(lambda k: latents.posterior_sample(k, posterior, q))(jax.random.split(rng, num))  # [num, B, ...]
  log_q = jax.vmap(lambda zz: latents.posterior_log_prob(zz, posterior, q))(z)
  prior_params = model.apply({'params': params}, method=model.prior_params)
  log_pz = jax.vmap(lambda zz: latents.prior_log_prob(zz, prior, prior_params))(z)
  zf = z.reshape((num * b,) + z.shape[2:])
  yf = None if y is None else jnp.tile(y, num)
  out, log_scale = model.apply({'params': params}, zf, yf, method=model.decode)
  xf = jnp.broadcast_to(x[None], (num,) + x.shape).reshape((num * b,) + x.shape[1:])
  log_px = -reconstruction_terms(out, log_scale, xf, config).reshape(num, b)
  return log_px + log_pz - log_q


def iwae_log_likelihood(params: Any, model: Autoencoder, x: jax.Array, rng: jax.Array, k: int, config: Any,
                        y: jax.Array | None = None, chunk: int = 0) -> jax.Array:
  """The importance-weighted bound log (1/k) sum_i p(x, z_i) / q(z_i|x), z_i ~ q(z|x): [B] nats.

  A lower bound on log p(x) (log p(x|y) for a CVAE) that tightens as k grows (Burda et al. 2016);
  k = 1 is the one-sample ELBO. The k samples are drawn ``chunk`` at a time in a ``lax.scan``
  (default: ~4,096 decoder rows per chunk) and combined with a streaming logsumexp
  (acc <- logaddexp(acc, logsumexp(chunk))), so memory does not grow with k and float32 stays
  finite for k in the thousands. Samples that pad the last chunk get log weight -inf.
  """
  k = int(k)
  if k < 1:
    raise ValueError(f'iwae_log_likelihood needs k >= 1 samples, got {k}.')
  chunk = iwae_chunk_size(k, x.shape[0], chunk)
  num_chunks = -(-k // chunk)
  q = model.apply({'params': params}, x, y, method=model.encode)

  def body(acc, i):
    lw = log_importance_weights(params, model, q, x, y, jax.random.fold_in(rng, i), chunk, config)
    valid = (i * chunk + jnp.arange(chunk)) < k
    lw = jnp.where(valid[:, None], lw, -jnp.inf)
    return jnp.logaddexp(acc, jax.nn.logsumexp(lw, axis=0)), None

  init = jnp.full((x.shape[0],), -jnp.inf, jnp.float32)
  acc, _ = jax.lax.scan(body, init, jnp.arange(num_chunks))
  return acc - math.log(k)


def reconstruction_metrics(x_hat: jax.Array, x: jax.Array, config: Any) -> dict[str, jax.Array]:
  """Errors of a reconstruction ``x_hat`` of ``x`` [B, H, W, C]: ``mse`` (per pixel, squared data units),
  ``psnr`` (dB, peak = the data range) and, for data in [0, 1], ``bce`` (nats per image): each [B]."""
  lo, hi = data_range(config)
  out = {'mse': losses.mean_squared_error(x_hat, x), 'psnr': psnr(x_hat, x, hi - lo)}
  if (lo, hi) == (0.0, 1.0):
    out['bce'] = losses.binary_cross_entropy(x_hat, x)
  return out


def active_units(posterior_means: np.ndarray, threshold: float = 0.01) -> tuple[int, np.ndarray]:
  """Number of active latent units (Burda et al. 2016): A_u = Cov_x(E_q[z_u]) > ``threshold``.

  Args:
    posterior_means: E_q[z|x] over a data set, [N, D] (or [N, D, K] category probabilities of a
      categorical latent: a categorical unit's activity is the sum of its K variances).
    threshold: activity threshold (0.01 in Burda et al.).

  Returns:
    (count of active units, per-unit activity [D]).
  """
  m = np.asarray(posterior_means, np.float64)
  var = m.var(axis=0)
  if var.ndim == 2:
    var = var.sum(-1)
  return int((var > threshold).sum()), var
