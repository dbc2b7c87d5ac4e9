"""Every model's steps: pure, compiled once, finite; eval metrics; label exclusion; noise; config errors."""
import dataclasses
import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from gen_jax.core.errors import ConfigError
from gen_jax.families import autoencoders
from gen_jax.families.autoencoders import noise as noise_lib
from tests.contract import check_contract
from tests.families.autoencoders import tiny

MODEL_CASES = {
    'conv_ae': dict(name='conv_ae'),
    'mlp_ae_mse': dict(name='mlp_ae', likelihood='gaussian'),
    'conv_dae_gaussian': dict(name='conv_dae', noise='gaussian', noise_level=0.3),
    'mlp_dae_salt_pepper': dict(name='mlp_dae', noise='salt_pepper', noise_level=0.2),
    'mlp_dae_masking': dict(name='mlp_dae', noise='masking', noise_level=0.5),
    'conv_vae_learned_gaussian': dict(name='conv_vae', likelihood='gaussian', learn_scale=True),
    'mlp_vae_beta_warmup': dict(name='mlp_vae', beta=4.0, kl_warmup_steps=5),
    'mlp_vae_mog': dict(name='mlp_vae', prior='mog', mog_components=3),
    'mlp_vae_laplace': dict(name='mlp_vae', posterior='laplace', prior='laplace'),
    'mlp_vae_laplace_mc': dict(name='mlp_vae', posterior='laplace', prior='gaussian', kl='mc'),
    'mlp_vae_gumbel': dict(name='mlp_vae', posterior='categorical', prior='uniform', num_categories=4,
                           gumbel_anneal_rate=0.1),
    'conv_cvae': dict(name='conv_cvae', num_classes=10),
}


_init = tiny.init


def _config(**model):
  c = tiny.config('digits', **model)
  c.eval = ml_collections.ConfigDict(dict(iwae_k=0, iwae_chunk=0))
  return c


def _batch(n=8):
  rng = np.random.default_rng(0)
  return {'image': jnp.asarray(rng.uniform(size=(n, 8, 8, 1)).astype(np.float32)),
          'label': jnp.asarray(np.arange(n) % 10, jnp.int32), 'mask': jnp.ones(n)}


@dataclasses.dataclass
class _Info:  # the fields of gen_jax.data.DatasetInfo that validate_config reads
  name: str = 'digits'
  kind: str = 'image'
  element_spec: dict = dataclasses.field(default_factory=lambda: {'image': ((8, 8, 1), np.float32),
                                                                  'label': ((), np.int32)})
  num_classes: int | None = 10


@pytest.mark.parametrize('case', list(MODEL_CASES))
def test_contract(case):
  c = _config(**MODEL_CASES[case])
  _, out = check_contract(autoencoders, c, _batch(), _Info(), conditional='cvae' in c.model.name)
  want = {'recon', 'mse', 'psnr', 'bce'}
  if 'vae' in c.model.name:
    want |= {'nelbo', 'kl'}
    if c.model.likelihood == 'gaussian':  # a density: bits/dim; a Bernoulli decoder on grey levels is not one
      want |= {'bits_per_dim'}
  if 'dae' in c.model.name:
    want |= {'psnr_noisy'}
  assert set(out) == want


@pytest.mark.parametrize('case', ['conv_dae_gaussian', 'mlp_vae_gumbel', 'mlp_vae_mog', 'conv_cvae'])
def test_visualize(case):
  c = _config(**MODEL_CASES[case])
  batch = _batch(16)
  state = _init(c, batch)
  vis = jax.jit(lambda s, b, r: autoencoders.visualize(s, b, r, c))(state, batch, jax.random.key(5))
  rows = 3 if 'dae' in case else 2
  assert vis['samples'].shape == (64, 8, 8, 1) and vis['reconstructions'].shape == (16 * rows, 8, 8, 1)
  assert 0 <= float(vis['reconstructions'].min()) and float(vis['samples'].max()) <= 1
  np.testing.assert_allclose(vis['reconstructions'][:8], batch['image'][:8])  # first row: the inputs


def test_eval_reports_psnr_and_the_dae_input_psnr():
  c = _config(name='mlp_dae', noise='masking', noise_level=0.5)
  batch = _batch()
  state = _init(c, batch)
  out = jax.jit(autoencoders.make_eval_step(c))(state, batch, jax.random.key(2))
  noisy = noise_lib.corrupt(jax.random.key(2), batch['image'], 'masking', 0.5)
  x_hat = jax.jit(lambda s, x: autoencoders.reconstruct(s, x, c))(state, noisy)
  mse = np.mean((np.asarray(x_hat) - np.asarray(batch['image'])) ** 2, axis=(1, 2, 3))
  np.testing.assert_allclose(out['mse'], mse, rtol=1e-5)
  np.testing.assert_allclose(out['psnr'], -10 * np.log10(mse), rtol=1e-5)
  assert np.all(np.asarray(out['psnr_noisy']) < 100)


def test_excluded_labels_get_zero_weight():
  """The loss with exclude_labels equals the loss on the other rows alone: excluded rows change nothing."""
  c = _config(name='mlp_ae', exclude_labels=(3, 5))
  batch = _batch(10)
  state = _init(c, batch)
  _, m = jax.jit(autoencoders.make_train_step(c))(state, batch, jax.random.key(1))
  keep = np.isin(np.asarray(batch['label']), [3, 5], invert=True)
  sub = {k: v[keep] for k, v in batch.items()}
  c_all = _config(name='mlp_ae')
  _, m_sub = jax.jit(autoencoders.make_train_step(c_all))(state, sub, jax.random.key(1))
  np.testing.assert_allclose(float(m['loss']), float(m_sub['loss']), rtol=1e-5)
  np.testing.assert_allclose(float(m['grad_norm']), float(m_sub['grad_norm']), rtol=1e-4)
  assert float(m['used_fraction']) == pytest.approx(0.8)


def test_kl_warmup_and_gumbel_temperature_schedules():
  from gen_jax.families.autoencoders.losses import gumbel_tau, kl_weight
  c = _config(name='mlp_vae', beta=2.0, kl_warmup_steps=10, gumbel_tau=1.0, gumbel_tau_min=0.5,
              gumbel_anneal_rate=0.1)
  np.testing.assert_allclose([float(kl_weight(s, c)) for s in (0, 5, 10, 50)], [0.0, 1.0, 2.0, 2.0])
  np.testing.assert_allclose([float(gumbel_tau(s, c)) for s in (0, 5, 100)], [1.0, math.exp(-0.5), 0.5], rtol=1e-6)


def test_noise_corruptions():
  x = jnp.full((4, 64, 64, 1), 0.5)
  for level in (0.1, 0.4):
    sp = np.asarray(noise_lib.corrupt(jax.random.key(0), x, 'salt_pepper', level))
    assert abs((sp != 0.5).mean() - level) < 0.01 and set(np.unique(sp)) == {0.0, 0.5, 1.0}
    assert abs((sp == 1.0).mean() - level / 2) < 0.01
    mk = np.asarray(noise_lib.corrupt(jax.random.key(1), x, 'masking', level))
    assert abs((mk == 0.0).mean() - level) < 0.01 and set(np.unique(mk)) == {0.0, 0.5}
  g = np.asarray(noise_lib.corrupt(jax.random.key(2), x, 'gaussian', 0.1))
  assert abs(g.std() - 0.1) < 0.005 and g.min() >= 0 and g.max() <= 1
  g2 = np.asarray(noise_lib.corrupt(jax.random.key(2), x * 2 - 1, 'gaussian', 3.0, (-1.0, 1.0)))
  assert g2.min() == -1.0 and g2.max() == 1.0


@pytest.mark.parametrize('change, match', [
    (dict(name='vq_vae'), 'allowed: conv_ae'),
    (dict(posterior='student'), 'posterior'),
    (dict(posterior='categorical', prior='gaussian'), 'not a prior for posterior'),
    (dict(prior='mog', mog_components=0), 'mog_components'),
    (dict(name='conv_dae'), 'noise'),
    (dict(name='conv_dae', noise='masking', noise_level=1.5), 'noise_level'),
    (dict(name='conv_cvae', num_classes=7), 'num_classes'),
    (dict(exclude_labels=(11,)), 'exclude_labels'),
    (dict(likelihood='poisson'), 'likelihood'),
    (dict(latent_dim=0), 'latent_dim'),
    (dict(features=(4, 8, 16, 32)), 'divisible'),
])
def test_validate_config_errors(change, match):
  c = _config(**change)
  with pytest.raises(ConfigError, match=match):
    autoencoders.validate_config(c, _Info())


def test_validate_config_rejects_iwae_for_autoencoders_and_labels_without_labels():
  c = _config(name='conv_ae')
  c.eval.iwae_k = 10
  with pytest.raises(ConfigError, match='needs a VAE'):
    autoencoders.validate_config(c, _Info())
  info = _Info(element_spec={'image': ((8, 8, 1), np.float32)}, num_classes=None)
  with pytest.raises(ConfigError, match='labelled'):
    autoencoders.validate_config(_config(name='mlp_cvae', num_classes=10), info)


def test_sample_takes_labels_for_a_cvae_only():
  """``sample(..., labels=)`` decodes the given classes for a CVAE (cycling 0..9 when omitted);
  an unconditional model refuses labels."""
  c = _config(**MODEL_CASES['conv_cvae'])
  state = _init(c, _batch(8))
  rng = jax.random.key(3)
  cycle = autoencoders.sample(state, rng, 10, c)
  np.testing.assert_array_equal(np.asarray(autoencoders.sample(state, rng, 10, c, labels=jnp.arange(10))),
                                np.asarray(cycle))
  sevens = autoencoders.sample(state, rng, 10, c, labels=jnp.full((10,), 7))
  np.testing.assert_array_equal(np.asarray(sevens[7]), np.asarray(cycle[7]))  # same z, same label
  assert not np.allclose(np.asarray(sevens[0]), np.asarray(cycle[0]))  # same z, label 7 instead of 0
  with pytest.raises(ValueError, match=r'shape \(10,\)'):
    autoencoders.sample(state, rng, 10, c, labels=jnp.zeros((4,), jnp.int32))
  plain = _config(**MODEL_CASES['conv_dae_gaussian'])
  with pytest.raises(ValueError, match='only a CVAE takes labels'):
    autoencoders.sample(_init(plain, _batch(8)), rng, 10, plain, labels=jnp.arange(10))
