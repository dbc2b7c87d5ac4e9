"""The importance-weighted bound: exact chunked streaming, >= ELBO, increasing in k, finite for k = 5000."""
import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from sklearn.datasets import load_digits

from gen_jax.core.config import base_config
from gen_jax.eval import iwae_bound
from gen_jax.families import autoencoders
from gen_jax.families.autoencoders import metrics
from gen_jax.core.state import eval_params
from gen_jax.families.autoencoders.losses import negative_elbo
from gen_jax.families.autoencoders.models import get_model


def _init(config, batch):
  """``autoencoders.init`` under jit (eager Flax/optax init costs seconds per model on CPU)."""
  return jax.jit(lambda r, b: autoencoders.init(r, config, b))(jax.random.key(0), batch)


def _config(**model):
  c = base_config()
  c.family = 'autoencoders'
  c.batch_size = 64
  c.num_train_steps = 400
  c.dataset.name = 'digits'
  c.model = ml_collections.ConfigDict(dict(name='mlp_vae', dtype='float32', data_shape=(8, 8, 1),
                                           mlp_hidden=(64, 32), latent_dim=4, likelihood='bernoulli'))
  c.model.update(model)
  c.optim.lr = 3e-3
  c.optim.ema_decay = 0.0
  c.eval = ml_collections.ConfigDict(dict(iwae_k=0, iwae_chunk=0))
  return c


def _digits():
  x = (load_digits().images / 16.0 > 0.5).astype(np.float32)[..., None]  # [1797, 8, 8, 1] binary
  return jnp.asarray(x[:1500]), jnp.asarray(x[1500:])


@functools.lru_cache(maxsize=None)
def _trained(**model):
  """A small VAE trained for 400 steps on binarized sklearn digits (fixed seeds: deterministic)."""
  c = _config(**model)
  train, test = _digits()
  state = _init(c, {'image': train[:2]})
  step = autoencoders.make_train_step(c)
  order = np.random.default_rng(0).integers(0, train.shape[0], size=(c.num_train_steps, c.batch_size))

  @jax.jit
  def train_all(state, idx):  # all steps in one lax.scan: no per-step dispatch
    return jax.lax.scan(lambda s, i: (step(s, {'image': train[i]}, jax.random.key(1))[0], None), state, idx)[0]

  return c, train_all(state, jnp.asarray(order)), test


def _iwae(c, state, x, k, seed=0, chunk=0):
  """IWAE-k [B] (nats); ``seed`` may be a list of seeds: then [len(seed), B]."""
  model = get_model(c)
  fn = lambda p, xx, r: metrics.iwae_log_likelihood(p, model, xx, r, k, c, chunk=chunk)  # noqa: E731
  if isinstance(seed, int):
    return np.asarray(jax.jit(fn)(eval_params(state), x, jax.random.key(seed)))
  keys = jnp.stack([jax.random.key(s) for s in seed])
  return np.asarray(jax.jit(jax.vmap(fn, in_axes=(None, None, 0)))(eval_params(state), x, keys))


def _mean_nelbo(c, state, x, num):
  """The negative ELBO averaged over ``num`` posterior samples per example and over examples."""
  m, params = get_model(c), eval_params(state)
  fn = jax.jit(jax.vmap(lambda r: negative_elbo(params, m, x, r, c)['nelbo']))
  return float(jnp.mean(fn(jax.random.split(jax.random.key(7), num))))


def test_chunked_streaming_logsumexp_equals_the_direct_bound():
  """k = 10 in chunks of 3 (the last chunk padded) equals gen_jax.eval.iwae_bound of the same 10 weights."""
  c, state, x = _trained()
  model, params = get_model(c), eval_params(state)
  rng = jax.random.key(3)
  got = _iwae(c, state, x, 10, seed=3, chunk=3)
  q = model.apply({'params': params}, x, None, method=model.encode)
  lw = jnp.concatenate([metrics.log_importance_weights(params, model, q, x, None, jax.random.fold_in(rng, i), 3, c)
                        for i in range(4)])[:10]  # [10, B]
  np.testing.assert_allclose(got, iwae_bound(lw, axis=0), rtol=1e-5)
  # k = 1 is a one-sample ELBO: its mean matches the negative ELBO's.
  nelbo = _mean_nelbo(c, state, x, 200)
  iw1 = _iwae(c, state, x, 1, seed=list(range(20)))
  assert abs(iw1.mean() + nelbo) < 0.3


@pytest.mark.parametrize('model', [dict(), dict(prior='mog', mog_components=3),
                                   dict(posterior='categorical', prior='uniform', num_categories=4)])
def test_iwae_bound_above_elbo_and_increasing_in_k(model):
  """On the 297 held-out digits: ELBO (averaged over 100 samples) < IWAE-10 < IWAE-100, and IWAE-5000
  (finite) > IWAE-10. (E[IWAE-k] grows with k but by ever smaller steps: beyond k ~ 100 the increments
  of this small model are below the Monte Carlo noise of a 297-example mean.)"""
  c, state, x = _trained(**model)
  elbo = -_mean_nelbo(c, state, x, 100)
  bounds = [float(_iwae(c, state, x, k).mean()) for k in (10, 100)]
  assert elbo < bounds[0] < bounds[1], (elbo, bounds)
  if not model:
    b5000 = _iwae(c, state, x, 5000)
    assert np.isfinite(b5000).all() and b5000.mean() > bounds[0], (b5000.mean(), bounds)


def test_iwae_finite_when_weights_under_and_overflow_exp():
  """Log weights of order -1e5 (a Gaussian decoder with std 0.001, untrained): exp underflows, the bound
  stays finite and between the mean and the max of the log weights."""
  c = _config(likelihood='gaussian', decoder_scale=0.001)
  _, x = _digits()
  state = _init(c, {'image': x[:2]})
  model, params = get_model(c), eval_params(state)
  b = _iwae(c, state, x[:8], 5000)
  lw = metrics.log_importance_weights(params, model, model.apply({'params': params}, x[:8], None,
                                                                 method=model.encode), x[:8], None,
                                      jax.random.key(9), 200, c)
  assert np.isfinite(b).all() and float(jnp.max(lw)) < -1e3
  assert np.all(b > np.asarray(jnp.mean(lw, 0)))
