"""VAE math against independent computations (scipy, Monte Carlo, closed forms).

The train-step purity / single-compilation checks of every model are in test_steps.py."""
import math

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from gen_jax.families.autoencoders import latents, losses
from gen_jax.families import autoencoders
from tests.families.autoencoders import tiny


def test_kl_closed_form_matches_monte_carlo():
  rng = np.random.default_rng(0)
  mean = rng.normal(size=(3, 5))
  logvar = rng.normal(scale=0.5, size=(3, 5))
  kl = np.asarray(latents.kl_diag_gaussian_std_normal(jnp.asarray(mean), jnp.asarray(logvar)))
  sd = np.exp(0.5 * logvar)
  z = mean + sd * rng.normal(size=(400_000, 3, 5))
  log_q = stats.norm.logpdf(z, mean, sd).sum(-1)
  log_p = stats.norm.logpdf(z).sum(-1)
  diff = log_q - log_p
  mc, se = diff.mean(0), diff.std(0) / math.sqrt(diff.shape[0])
  assert np.all(np.abs(kl - mc) < 5 * se + 1e-3), (kl, mc, se)


def test_likelihoods_match_scipy():
  rng = np.random.default_rng(1)
  x = (rng.uniform(size=(4, 3, 3, 1)) > 0.5).astype(np.float32)
  logits = rng.normal(size=x.shape).astype(np.float32)
  want = -stats.bernoulli.logpmf(x, 1 / (1 + np.exp(-logits))).reshape(4, -1).sum(-1)
  np.testing.assert_allclose(losses.bernoulli_nll(jnp.asarray(logits), jnp.asarray(x)), want, rtol=1e-5)
  mean = rng.normal(size=x.shape).astype(np.float32)
  xs = rng.normal(size=x.shape).astype(np.float32)
  want = -stats.norm.logpdf(xs, mean, 0.3).reshape(4, -1).sum(-1)
  np.testing.assert_allclose(losses.gaussian_nll(jnp.asarray(mean), jnp.asarray(xs), math.log(0.3)), want,
                             rtol=1e-5)


def test_reparameterized_sample_moments():
  mean = jnp.array([[1.5, -2.0]])
  logvar = jnp.log(jnp.array([[0.25, 4.0]]))
  z = jax.vmap(lambda k: latents.reparameterize(k, mean, logvar))(jax.random.split(jax.random.key(0), 200_000))
  z = np.asarray(z)[:, 0]
  np.testing.assert_allclose(z.mean(0), [1.5, -2.0], atol=0.02)
  np.testing.assert_allclose(z.var(0), [0.25, 4.0], rtol=0.02)


_init = tiny.init


def _config(**model):
  return tiny.config('mnist5k', **model)


def test_bits_per_dim_conversion():
  c = _config()
  c.dataset.binarize = 'sample'  # binary pixels under a Bernoulli decoder: a discrete likelihood
  x = (np.random.default_rng(0).uniform(size=(8, 8, 8, 1)) > 0.5).astype(np.float32)
  batch = {'image': jnp.asarray(x), 'mask': jnp.ones(8)}
  state = _init(c, batch)
  out = jax.jit(autoencoders.make_eval_step(c))(state, batch, jax.random.key(2))
  np.testing.assert_allclose(out['bits_per_dim'], out['nelbo'] / (64 * math.log(2)), rtol=1e-6)
  # Cross-entropy on grey levels is not a normalised likelihood: no bits/dim at all.
  grey = _config()
  assert 'bits_per_dim' not in jax.jit(autoencoders.make_eval_step(grey))(state, batch, jax.random.key(2))
  np.testing.assert_allclose(out['nelbo'], out['recon'] + out['kl'], rtol=1e-6)
  # Dequantized data under a Gaussian decoder: discrete NLL = continuous NLL + D ln 256.
  c2 = _config(likelihood='gaussian', decoder_scale=0.1)
  c2.dataset.dequantize = 'uniform'
  out2 = jax.jit(autoencoders.make_eval_step(c2))(state, batch, jax.random.key(2))
  np.testing.assert_allclose(out2['bits_per_dim'], (out2['nelbo'] + 64 * math.log(256)) / (64 * math.log(2)),
                             rtol=1e-6)
