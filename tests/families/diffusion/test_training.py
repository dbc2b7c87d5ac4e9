"""The family contract: init, pure train / eval steps that compile once, losses, the VLB, config validation."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gen_jax.core.errors import ConfigError
from gen_jax.data import DatasetInfo
from gen_jax.families import diffusion as fam
from gen_jax.families.diffusion import likelihood, losses
from gen_jax.families.diffusion import schedules as sch
from tests import contract, helpers
from tests.families.diffusion import analytic

TOY = 'experiments/diffusion/ddpm_toy2d.py'
MNIST = 'experiments/diffusion/ddpm_mnist5k.py'
SDE = 'experiments/diffusion/score_sde_mnist5k.py'
POINTS_INFO = DatasetInfo('toy2d/8gaussians', 'points', {'x': ((2,), np.float32), 'label': ((), np.int32)},
                          1000, 100, 8)


def image_info(shape=(8, 8, 1)):
  return DatasetInfo('digits', 'image', {'image': (shape, np.float32), 'label': ((), np.int32)}, 1000, 100, 10)


def toy_config(*variants, **overrides):
  c = helpers.load_config(TOY, ','.join(('tiny', '8gaussians') + variants))
  for k, v in overrides.items():
    node = c
    *path, last = k.split('.')
    for p in path:
      node = node[p]
    node[last] = v
  return c


def points_batch(n=64, seed=0):
  rng = np.random.default_rng(seed)
  label = rng.integers(0, 8, n)
  ang = 2 * np.pi * label / 8
  x = np.stack([np.cos(ang), np.sin(ang)], -1) * 2 + 0.1 * rng.normal(size=(n, 2))
  return {'x': jnp.asarray(x, jnp.float32), 'label': jnp.asarray(label, jnp.int32), 'mask': jnp.ones(n)}


def check_contract(config, batch, steps=3):
  """The shared family-contract checks (tests/contract.py) on points or images."""
  info = POINTS_INFO if 'x' in batch else image_info(batch['image'].shape[1:])
  return contract.check_contract(fam, config, batch, info, steps=steps,
                                 conditional=bool(config.model.get('num_classes', 0)))


@pytest.mark.parametrize('variants,overrides', [
    ((), {}),
    (('v',), {'diffusion.loss_weighting': 'min_snr'}),
    ((), {'diffusion.parameterization': 'x0', 'diffusion.schedule': 'sigmoid'}),
    (('hybrid', 'cfg'), {'model.dropout': 0.1}),
    ((), {'diffusion.formulation': 'sde', 'diffusion.sde': 've', 'diffusion.ode_bpd': True,
          'diffusion.ode_rtol': 1e-3, 'diffusion.ode_atol': 1e-3, 'sample.sampler': 'pc', 'sample.steps': 10}),
])
def test_mlp_contract(variants, overrides):
  c = toy_config(*variants, **overrides)
  state, ev = check_contract(c, points_batch())
  if c.diffusion.formulation == 'discrete' or c.diffusion.ode_bpd:
    assert 'bits_per_dim' in ev
  x = jax.jit(lambda s, r: fam.sample(s, r, 16, c))(state, jax.random.key(3))
  assert x.shape == (16, 2) and np.isfinite(np.asarray(x)).all()


def test_unet_contract_hybrid_cfg_dropout():
  """A tiny class-conditional UNet with a learned variance and dropout on 8x8 images, end to end."""
  c = helpers.load_config(MNIST, 'tiny,hybrid,cfg')
  c.model.data_shape = (8, 8, 1)
  c.model.attn_resolutions = (4,)
  c.model.dropout = 0.1
  c.sample.sampler = 'ddim'
  c.sample.steps = 4
  x = jax.random.uniform(jax.random.key(0), (8, 8, 8, 1), minval=-1, maxval=1)
  batch = {'image': x, 'label': jnp.arange(8) % 10, 'mask': jnp.ones(8)}
  state, ev = check_contract(c, batch, steps=2)
  assert {'bits_per_dim', 'prior_bpd', 'decoder_bpd', 'vb_bits_per_dim'} <= set(ev)
  out = fam.get_model(c).apply({'params': state.params}, x, jnp.zeros(8), jnp.zeros(8, jnp.int32))
  assert out.shape == (8, 8, 8, 2)  # 2C channels: mean and variance interpolation
  vis = jax.jit(lambda s, r: fam.visualize(s, batch, r, c))(state, jax.random.key(1))
  img = np.asarray(vis['samples'])
  assert img.shape == (16, 8, 8, 1) and img.min() >= 0 and img.max() <= 1


def test_training_learns_a_toy_density():
  """A few hundred Adam steps of the tiny MLP on 8 Gaussians lower the loss clearly."""
  c = toy_config(**{'num_train_steps': 300, 'optim.warmup_steps': 10, 'batch_size': 256})
  state = fam.init(jax.random.key(0), c, None)
  step = jax.jit(fam.make_train_step(c))
  losses_ = []
  for i in range(300):
    state, m = step(state, points_batch(256, seed=i), jax.random.key(0))
    losses_.append(float(m['loss']))
  assert np.mean(losses_[-30:]) < 0.75 * np.mean(losses_[:10])


def test_hybrid_vb_term_only_trains_the_variance():
  s = sch.make_schedule('cosine', 10)
  k = jax.random.split(jax.random.key(0), 3)
  x0, noise, out = jax.random.normal(k[0], (4, 3)), jax.random.normal(k[1], (4, 3)), jax.random.normal(k[2], (4, 6))
  t = jnp.array([0, 3, 6, 9])
  x_t = sch.q_sample(s, x0, t, noise)
  g = jax.grad(lambda o: jnp.sum(losses.hybrid_vlb_term(s, o, x0, x_t, t, 'eps', 'gaussian')))(out)
  assert np.all(np.asarray(g[:, :3]) == 0) and np.any(np.asarray(g[:, 3:]) != 0)


def test_min_snr_weights():
  snr = jnp.array([0.1, 5.0, 100.0])
  np.testing.assert_allclose(losses.min_snr_weight(snr, 5.0, 'eps'), [1.0, 1.0, 0.05], rtol=1e-6)
  np.testing.assert_allclose(losses.min_snr_weight(snr, 5.0, 'x0'), [0.1, 5.0, 5.0], rtol=1e-6)
  np.testing.assert_allclose(losses.min_snr_weight(snr, 5.0, 'v'), [0.1 / 1.1, 5 / 6, 5 / 101], rtol=1e-6)


def expected_vlb_gaussian(s, mean, std, x0):
  """E[VLB | x0] per example [B] in closed form, for data N(mean, std^2) and its exact eps model with the
  fixed-small variance. With k_t = sqrt(abar) std^2 / (abar std^2 + 1 - abar), the error of the exact
  x0-prediction is e = (x0 - mean)(1 - k sqrt(abar)) - k sqrt(1 - abar) z, so E[e^2 | x0] is known and
  KL_t = coef1_t^2 E[e^2] / (2 beta~_t); decoder 0.5 log(2 pi s0^2) + E[e_0^2] / (2 s0^2); prior closed form."""
  b = np.asarray(sch.make_betas('linear', s.num_timesteps), np.float64)
  ac = np.cumprod(1 - b)[:, None, None]
  ac_prev = np.append(1.0, np.cumprod(1 - b)[:-1])[:, None, None]
  b = b[:, None, None]
  x0 = np.asarray(x0, np.float64)[None]
  k = np.sqrt(ac) * std ** 2 / (ac * std ** 2 + 1 - ac)
  err2 = (x0 - mean) ** 2 * (1 - k * np.sqrt(ac)) ** 2 + k ** 2 * (1 - ac)   # [T, B, D]
  coef1 = b * np.sqrt(ac_prev) / (1 - ac)
  beta_tilde = b * (1 - ac_prev) / (1 - ac)
  kl = 0.5 * coef1[1:] ** 2 * err2[1:] / beta_tilde[1:]
  dec_var = beta_tilde[1]  # the clipped log-variance at t = 0
  dec = 0.5 * np.log(2 * np.pi * dec_var) + 0.5 * err2[0] / dec_var
  aT = ac[-1]
  prior = 0.5 * ((1 - aT) + aT * x0[0] ** 2 - 1 - np.log(1 - aT))
  return kl.sum(axis=(0, 2)) + dec.sum(-1) + prior.sum(-1)


def test_vlb_of_the_exact_model_matches_its_closed_form():
  """For Gaussian data and its exact eps model, the Monte Carlo VLB matches the closed-form expectation
  per example, lies above the true NLL, and the K-sample estimate is unbiased for the full sum."""
  mean, std = np.array([0.5, -0.3]), np.array([0.4, 0.9])
  s = sch.make_schedule('linear', 1000)
  fn = analytic.discrete_eps_fn(s, mean, std)
  x0 = jnp.asarray(mean + std * np.random.default_rng(0).normal(size=(4096, 2)), jnp.float32)
  full = np.asarray(likelihood.vlb_terms(s, fn, x0, jax.random.key(0), 'eps', 'fixed_small', 'gaussian')['total'])
  ref = expected_vlb_gaussian(s, mean, std, x0)
  diff = full - ref
  assert abs(diff.mean()) < 4 * diff.std() / math.sqrt(len(diff)) + 1e-3, (diff.mean(), diff.std())
  nll = -analytic.gaussian_logp(mean, std, x0)
  assert 0 < (ref - nll).mean() < 1.5  # a bound, loose mostly at small t with fixed variances
  est = np.array([likelihood.vlb_terms(s, fn, x0, jax.random.key(i), 'eps', 'fixed_small', 'gaussian',
                                       num_sampled=8)['total'] for i in range(1, 5)]) - ref
  assert abs(est.mean()) < 4 * est.std() / math.sqrt(est.size) + 1e-3, (est.mean(), est.std())


def test_vlb_discretized_decoder_on_pixels():
  """With a perfect x0 prediction at t=0 the discretized decoder puts almost all mass on the pixel's bin,
  and random pixels under the null model cost at most about 8 bits."""
  s = sch.make_schedule('linear', 20)
  x = losses.to_pixel_grid(jax.random.uniform(jax.random.key(0), (4, 4, 4, 1), minval=-1, maxval=1), False)
  zero = lambda x_t, t: jnp.zeros_like(x_t)  # noqa: E731
  vlb = likelihood.vlb_terms(s, zero, x, jax.random.key(1), 'eps', 'fixed_small', 'discretized')
  bpd = np.asarray(vlb['total']) / (16 * math.log(2))
  assert np.all(np.isfinite(bpd)) and np.all(bpd > 0)


def test_validate_config_messages():
  c = toy_config()
  fam.validate_config(c, POINTS_INFO)
  for field, value, needle in [('model.name', 'unet', 'UNet needs images'), ('model.name', 'transformer', 'allowed'),
                               ('model.data_shape', (3,), 'data_shape'), ('diffusion.schedule', 'quad', 'allowed'),
                               ('diffusion.parameterization', 'score', 'allowed'), ('sample.sampler', 'pc', 'allowed'),
                               ('sample.steps', 10_000, 'exceeds'), ('sample.guidance_scale', 3.0, 'class-conditional'),
                               ('diffusion.decoder', 'discretized', '8-bit'), ('model.num_classes', 5, '8 classes')]:
    bad = toy_config(**{field: value})
    with pytest.raises(ConfigError, match=needle):
      fam.validate_config(bad, POINTS_INFO)
  img = helpers.load_config(MNIST, 'tiny')
  fam.validate_config(img, image_info((28, 28, 1)))
  img.dataset.scale = '01'
  with pytest.raises(ConfigError, match='-11'):
    fam.validate_config(img, image_info((28, 28, 1)))
  img = helpers.load_config(MNIST, 'tiny')
  img.model.ch_mult = (1, 2, 2, 2)
  with pytest.raises(ConfigError, match='divisible by 8'):
    fam.validate_config(img, image_info((28, 28, 1)))
  sde = helpers.load_config(SDE, 'tiny')
  fam.validate_config(sde, image_info((28, 28, 1)))
  sde.diffusion.parameterization = 'v'
  with pytest.raises(ConfigError, match='eps'):
    fam.validate_config(sde, image_info((28, 28, 1)))


def test_classifier_free_guidance_combines_the_two_passes():
  c = toy_config('cfg')
  state = fam.init(jax.random.key(0), c, None)
  # give the zero-initialised output layer weights so that the label matters
  params = jax.tree.map(lambda p: p + 0.1 * jax.random.normal(jax.random.key(1), p.shape), state.params)
  model = fam.get_model(c)
  x, t, label = jax.random.normal(jax.random.key(2), (5, 2)), jnp.arange(5.0), jnp.arange(5) % 8
  cond = model.apply({'params': params}, x, t, label)
  null = model.apply({'params': params}, x, t, jnp.full((5,), 8))
  guided = fam.make_model_fn(model, params, label, 3.0, null_label=8)(x, t)
  np.testing.assert_allclose(guided, null + 3.0 * (cond - null), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(fam.make_model_fn(model, params, label, 1.0, null_label=8)(x, t), cond, rtol=1e-6)
  bad = toy_config('cfg', **{'diffusion.label_dropout': 0.0})
  with pytest.raises(ConfigError, match='label_dropout'):
    fam.validate_config(bad, POINTS_INFO)
