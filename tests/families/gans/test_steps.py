"""The family contract for every genuinely different code path (points / images, conditional,
StyleGAN, ProGAN; each with a different loss and set of regularisers), what the step does with the
state, and every refused config."""
import jax
import numpy as np
import optax
import pytest

from gen_jax.core.errors import ConfigError
from gen_jax.families import gans
from tests.contract import check_contract
from tests.families.gans import tiny

CASES = {
    # points: the MLP GAN with WGAN-GP, two critic updates per step, PacGAN and minibatch std
    'mlp_points_wgan_gp': ('mlp', 'toy2d/8gaussians', {'gan.loss': 'wgan', 'gan.gp_weight': 10.0, 'gan.n_critic': 2,
                                                       'gan.pac': 2, 'model.minibatch_std': True}),
    # images: a conditional DCGAN (projection D) with batch norm, hinge loss, spectral norm, lazy R1 (lax.cond) and ADA
    'dcgan_conditional_hinge_sn_r1_ada': ('dcgan', 'digits', {
        'model.num_classes': 10, 'gan.loss': 'hinge', 'gan.spectral_norm': True, 'gan.r1_gamma': 1.0,
        'gan.r1_every': 2, 'gan.augment': 'color,translation,cutout', 'gan.ada_target': 0.6, 'gan.ada_images': 100}),
    # StyleGAN with style mixing and path-length regularisation on every step (lazy regularisation's lax.cond is
    # the DCGAN case's R1 path; R1 itself too)
    'stylegan_pl': ('stylegan', 'digits', {'gan.pl_weight': 2.0, 'gan.pl_every': 1}),
    # ProGAN growing 4 -> 8 inside the step, least squares with drift
    'progan_lsgan_drift': ('progan', 'digits', {'gan.loss': 'lsgan', 'gan.drift_weight': 0.001}),
}


def _adam_count(opt_state):
  return [int(s.count) for s in jax.tree.leaves(opt_state, is_leaf=lambda x: isinstance(x, optax.ScaleByAdamState))
          if isinstance(s, optax.ScaleByAdamState)][0]


@pytest.mark.parametrize('case', list(CASES))
def test_contract(case):
  name, dataset, overrides = CASES[case]
  c = tiny.config(name, dataset, **overrides)
  points = dataset.startswith('toy2d')
  batch = tiny.point_batch() if points else tiny.image_batch()
  info = tiny.points_info() if points else tiny.Info()
  conditional = bool(c.model.num_classes)
  steps = 4 if name == 'progan' else 2        # progan: into the fade-in of stage 1 (stable_steps = 2)
  # StyleGAN's and ProGAN's `sample` run end to end in tests/test_experiments.py (their experiments' tiny variants);
  # the labels checks of `sample` are the same code for every model (the conditional DCGAN case)
  sample = name not in ('stylegan', 'progan')
  state, ev = check_contract(gans, c, batch, info, steps=steps, conditional=conditional, sample=sample)
  assert set(ev) == {'d_real', 'd_fake', 'd_loss', 'g_loss'}
  # one generator update per step, n_critic discriminator updates
  assert _adam_count(state.opt_state['g']) == steps
  assert _adam_count(state.opt_state['d']) == steps * c.gan.n_critic
  extra = state.extra or {}
  assert set(extra) == {'mlp': set(), 'dcgan': {'g_stats', 'ema_g_stats', 'd_sn', 'ada_p'},
                        'stylegan': {'w_avg', 'pl_mean'}, 'progan': set()}[name]
  if name == 'stylegan':
    assert float(np.abs(extra['w_avg']).sum()) > 0 and float(extra['pl_mean']) > 0
  if name == 'dcgan':   # the EMA generator keeps batch statistics of its own
    a, b = jax.tree.leaves(extra['g_stats']), jax.tree.leaves(extra['ema_g_stats'])
    assert any(not np.allclose(x, y) for x, y in zip(a, b))


def test_train_metrics_name_both_players():
  c = tiny.config('mlp', 'toy2d/8gaussians', **{'gan.loss': 'wgan', 'gan.gp_weight': 10.0, 'gan.drift_weight': 0.1})
  batch = tiny.point_batch()
  state = tiny.init(c, batch)
  _, m = jax.jit(gans.make_train_step(c))(state, batch, jax.random.key(0))
  assert set(m) == {'loss', 'grad_norm', 'd_loss', 'g_loss', 'd_real', 'd_fake', 'd_grad_norm', 'g_grad_norm', 'gp',
                    'drift'}
  np.testing.assert_allclose(m['loss'], m['d_loss'] + m['g_loss'], rtol=1e-6)
  np.testing.assert_allclose(m['grad_norm'] ** 2, m['d_grad_norm'] ** 2 + m['g_grad_norm'] ** 2, rtol=1e-5)
  np.testing.assert_allclose(m['d_loss'], m['d_fake'] - m['d_real'], rtol=1e-5, atol=1e-6)   # WGAN: d(G(z)) - d(x)


def test_stylegan_discriminator_never_sees_the_generator_border(monkeypatch):
  """6x6 digits on an 8x8 canvas: the real images reach D padded with the background, so StyleGAN's fakes
  must too (cropped, then padded), or D separates them by the border alone. A generator whose output differs
  only outside the 6x6 data must give the same losses, logits and updates."""
  from gen_jax.families.gans import networks   # pylint: disable=import-outside-toplevel
  c = tiny.config('stylegan', **{'model.data_shape': (6, 6, 1)})
  rng = np.random.default_rng(0)
  batch = {'image': jax.numpy.asarray(rng.uniform(-1, 1, (8, 6, 6, 1)).astype(np.float32)),
           'label': jax.numpy.zeros(8, jax.numpy.int32), 'mask': jax.numpy.ones(8)}
  state = tiny.init(c, batch)
  nets = networks.get_networks(c)
  border = np.asarray(networks.to_canvas(jax.numpy.zeros((1, 6, 6, 1)), nets)) != 0
  assert border.sum() == 64 - 36
  key = jax.random.key(3)
  want_state, want = jax.jit(gans.make_train_step(c))(jax.tree.map(jax.numpy.copy, state), batch, key)
  generate = networks.generate

  def bright_border(*args, **kwargs):
    x, stats, aux = generate(*args, **kwargs)
    return x + 5.0 * border, stats, aux

  monkeypatch.setattr(networks, 'generate', bright_border)
  got_state, got = jax.jit(gans.make_train_step(c))(state, batch, key)
  for k in ('d_loss', 'g_loss', 'd_real', 'd_fake'):
    np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-6, err_msg=k)
  for a, b in zip(jax.tree.leaves(got_state.params), jax.tree.leaves(want_state.params)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_samples_of_requested_classes_and_truncation_only_for_stylegan():
  c = tiny.config('mlp', 'toy2d/8gaussians', **{'model.num_classes': 8})
  state = tiny.init(c, tiny.point_batch())
  labels = gans.sampling.sample_labels(10, c)
  np.testing.assert_array_equal(labels, np.arange(10) % 8)
  c.sample.label = 3
  np.testing.assert_array_equal(gans.sampling.sample_labels(4, c), [3, 3, 3, 3])
  with pytest.raises(ValueError, match='shape'):
    gans.sample(state, jax.random.key(0), 4, c, labels=np.zeros(3, np.int32))


ERRORS = [
    ({'model.name': 'biggan'}, 'digits', r"config.model.name='biggan' is not a GAN; allowed: mlp, dcgan, stylegan, progan"),
    ({'gan.loss': 'wasserstein'}, 'digits', r"config.gan.loss='wasserstein' is not allowed; allowed: minimax, "
                                            r"nonsaturating, lsgan, hinge, wgan"),
    ({'gan.n_critic': 0}, 'digits', r'config.gan.n_critic=0 must be an integer >= 1'),
    ({'gan.n_critic': 3}, 'digits', r'batch_size=8 must be divisible by config.gan.n_critic=3'),
    ({'gan.loss': 'wgan'}, 'digits', r'needs a Lipschitz constraint'),
    ({'model.num_classes': 10}, 'toy2d/moons', None),   # checked below against a dataset without labels
    ({'sample.truncation_psi': 1.5}, 'digits', r'config.sample.truncation_psi=1.5 must be a number in \[0.0, 1.0\]'),
    ({'sample.truncation_psi': 0.7}, 'digits', r'only config.model.name="stylegan" has one'),
    ({'gan.augment': 'rotate'}, 'digits', r"config.gan.augment='rotate' is not an augmentation; allowed: color, "
                                          r'translation, cutout'),
    ({'gan.pl_weight': 2.0}, 'digits', r'needs a mapping network'),
    ({'gan.pac': 3}, 'digits', r'config.gan.pac=3 must divide'),
    ({'gan.ada_target': 0.6}, 'digits', r'set config.gan.augment'),
    ({'model.g_features': (8, 8, 8, 8)}, 'digits', r'the DCGAN generator halves the image 4 times'),
    ({'model.upsample': 'bilinear'}, 'digits', r"config.model.upsample='bilinear' is not allowed; allowed: transpose, nearest"),
]


@pytest.mark.parametrize('overrides,dataset,message', ERRORS, ids=[next(iter(e[0])) + f'={list(e[0].values())[0]}'
                                                                     for e in ERRORS])
def test_validate_config_errors(overrides, dataset, message):
  c = tiny.config('dcgan', 'digits', **overrides)
  info = tiny.Info()
  if message is None:   # a conditional model on a dataset without labels
    info = tiny.Info(name='unlabelled', element_spec={'image': ((8, 8, 1), np.float32)}, num_classes=None)
    message = r"config.model.num_classes=10 needs a labelled dataset, and 'unlabelled' has no labels"
  with pytest.raises(ConfigError, match=message) as e:
    gans.validate_config(c, info)
  assert '\n' not in str(e.value)


@pytest.mark.parametrize('name,overrides,message', [
    ('stylegan', {'model.resolution': 12}, r'config.model.resolution=12 must be a power of two >= 4'),
    ('progan', {'model.resolution': 4, 'model.channels': (8,)}, r'config.model.resolution=4 is smaller than the \(8, 8\) '
                                                                r'images'),
    ('progan', {'model.channels': (8, 8, 8)}, r'config.model.channels=\(8, 8, 8\) must give one width per resolution 4 '
                                              r'... 8: 2 values'),
    ('progan', {'model.stable_steps': 15, 'model.fade_steps': 10}, r'reaches 8x8 at step 25, after the run ends '
                                                                   r'\(config.num_train_steps=20\)'),
    ('stylegan', {'model.mbstd_group': 3}, r'the minibatch-std layer groups 3 examples'),
    ('mlp', {'gan.augment': 'color'}, r"config.gan.augment='color' augments images; 'toy2d/8gaussians' holds points"),
    ('dcgan', {}, r"config.model.name='dcgan' generates images; 'toy2d/8gaussians' holds points"),
    ('mlp', {'model.num_classes': 8, 'gan.pac': 2}, r'not defined for a conditional GAN'),
])
def test_model_specific_errors(name, overrides, message):
  points = name in ('mlp',) or (name == 'dcgan' and not overrides)
  c = tiny.config(name, 'toy2d/8gaussians' if points else 'digits', **overrides)
  if name == 'dcgan':
    c.model.data_shape = (2,)
  with pytest.raises(ConfigError, match=message):
    gans.validate_config(c, tiny.points_info() if points else tiny.Info())


def test_describe_nonfinite_names_the_player():
  c = tiny.config('dcgan')
  msg = gans.describe_nonfinite({'loss': float('nan'), 'd_loss': float('nan'), 'g_loss': 1.0, 'd_grad_norm': float('inf'),
                                 'g_grad_norm': 2.0}, c)
  assert 'd_grad_norm, d_loss' in msg and 'the discriminator)' in msg and 'config.gan.r1_gamma' in msg
