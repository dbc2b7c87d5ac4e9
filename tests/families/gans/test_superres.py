"""SRGAN-style super-resolution (``gans/superres.py``): the images it makes and scores, the step, bad
input; and the augmentation study's labelled subsets. Both studies' --tiny runs: test_studies_sr_augmentation.py."""
import numpy as np
import pytest

import jax
import jax.numpy as jnp

from gen_jax.core.errors import ConfigError
from gen_jax.families.gans import superres


def _tiny(scale=2, adv_weight=0.01, **overrides):
  c = superres.sr_config(scale)
  c.hr_shape, c.features, c.num_blocks, c.d_features, c.batch_size = (8, 8, 1), 8, 1, (8,), 4
  c.adv_weight = adv_weight
  c.update(overrides)
  superres.validate_sr_config(c)
  return c


def _digits(n=4, size=8, seed=0):
  """Smooth blobs in [0, 1] (so SSIM and PSNR are far from their extremes)."""
  rng = np.random.default_rng(seed)
  yy, xx = np.mgrid[:size, :size]
  c = rng.uniform(2, size - 2, size=(n, 2))
  img = np.exp(-((yy - c[:, :1, None]) ** 2 + (xx - c[:, 1:, None]) ** 2) / 6.0)
  return img[..., None].astype(np.float32)


def test_downsample_is_the_block_mean():
  hr = np.random.default_rng(0).uniform(size=(2, 8, 8, 1)).astype(np.float32)
  for s in (2, 4):
    expected = np.zeros((2, 8 // s, 8 // s, 1), np.float32)
    for i in range(8 // s):
      for j in range(8 // s):
        expected[:, i, j] = hr[:, i * s:(i + 1) * s, j * s:(j + 1) * s].mean(axis=(1, 2))
    np.testing.assert_allclose(np.asarray(superres.downsample(hr, s)), expected, rtol=1e-6)


@pytest.mark.parametrize('scale', [2, 4])
def test_untrained_generator_is_bicubic_and_has_the_right_shape(scale):
  """The output convolution starts at zero, so training starts from the bicubic baseline; the sub-pixel
  path upsamples h x w to (h scale) x (w scale)."""
  c = _tiny(scale)
  state = superres.init(jax.random.key(0), c)
  lr = superres.downsample(jnp.asarray(_digits()), scale)
  sr = superres.networks(c)[0].apply({'params': state.params['g']}, lr)
  assert sr.shape == (4, 8, 8, 1)
  np.testing.assert_allclose(np.asarray(sr), np.asarray(superres.bicubic(lr, scale)), atol=1e-6)


def test_image_scores_against_the_formula_and_skimage():
  metrics = pytest.importorskip('skimage.metrics')
  hr = np.pad(_digits(3, 16), ((0, 0), (0, 0), (0, 0), (0, 0)))
  sr = np.clip(hr + np.random.default_rng(1).normal(0, 0.05, hr.shape), 0, 1).astype(np.float32)
  got = superres.image_scores(jnp.asarray(sr), jnp.asarray(hr))
  mse = np.mean((sr.astype(np.float64) - hr) ** 2, axis=(1, 2, 3))
  np.testing.assert_allclose(np.asarray(got['psnr']), 10 * np.log10(1.0 / mse), rtol=1e-4)
  ref = [metrics.structural_similarity(a[..., 0], b[..., 0], data_range=1.0, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False) for a, b in zip(sr, hr)]
  np.testing.assert_allclose(np.asarray(got['ssim']), ref, atol=1e-4)


@pytest.mark.parametrize('adv_weight', [0.0, 0.05])
def test_step_is_pure_compiled_once_and_learns(adv_weight):
  """One compilation for all steps; same inputs, same outputs; D exists and is updated only with an
  adversarial weight; the content loss on a fixed batch goes down."""
  c = _tiny(adv_weight=adv_weight, lr_g=3e-3, lr_d=1e-3)
  state = superres.init(jax.random.key(0), c)
  assert set(state.params) == ({'g', 'd'} if adv_weight else {'g'})
  traces = []

  def counted(s, b, r):
    traces.append(1)
    return superres.make_train_step(c)(s, b, r)

  step = jax.jit(counted)
  batch = {'image': jnp.asarray(_digits())}
  key = jax.random.key(1)
  s1, m1 = step(state, batch, key)
  s1b, m1b = step(state, batch, key)
  assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(s1), jax.tree.leaves(s1b)))
  first = float(m1['content'])
  s = s1
  for _ in range(20):
    s, m = step(s, batch, key)
  assert len(traces) == 1
  assert int(s.step) == 21 and float(m['content']) < 0.7 * first
  assert all(np.isfinite(float(v)) for v in m.values())
  if adv_weight:
    assert {'d_loss', 'g_adv', 'd_grad_norm'} <= set(m)
    assert not np.allclose(jax.tree.leaves(s.params['d'])[0], jax.tree.leaves(state.params['d'])[0])
  else:
    assert 'd_loss' not in m


@pytest.mark.parametrize('field, value, message', [
    ('scale', 3, 'config.scale=3 is not a supported upsampling factor; allowed: 2, 4.'),
    ('hr_shape', (10, 10, 1), 'must be divisible by config.scale=4'),
    ('adv_weight', -1.0, 'config.adv_weight=-1.0 must be a number >= 0.0'),
    ('loss', 'vanilla', "config.loss='vanilla' is not allowed; allowed: minimax"),
    ('content', 'vgg', "config.content='vgg' is not allowed; allowed: l1, l2."),
    ('num_blocks', -1, 'config.num_blocks=-1 must be an integer >= 0'),
])
def test_bad_config_is_a_config_error(field, value, message):
  c = superres.sr_config(4)
  c[field] = value
  with pytest.raises(ConfigError, match=message.replace('(', r'\(').replace(')', r'\)').replace('.', r'\.')):
    superres.validate_sr_config(c)


def test_study_refuses_a_bad_scale_before_training(tmp_path):
  from tests import helpers
  study = helpers.load_script('experiments/gans/study_super_resolution.py')
  with pytest.raises(ConfigError, match='allowed: 2, 4'):
    study.run(str(tmp_path), scale=3, tiny=True)
  assert not (tmp_path / 'models').exists()


def test_labelled_subsets_are_balanced_distinct_and_seeded():
  from tests import helpers
  study = helpers.load_script('experiments/gans/study_augmentation.py')
  labels = np.random.default_rng(0).integers(0, 10, 600)
  a = study.labelled_subset(labels, 10, 0)
  assert len(a) == len(set(a.tolist())) == 100
  assert np.array_equal(np.bincount(labels[a], minlength=10), np.full(10, 10))
  assert np.array_equal(a, study.labelled_subset(labels, 10, 0))
  assert not np.array_equal(a, study.labelled_subset(labels, 10, 1))
  with pytest.raises(ValueError, match='fewer than --per_class=1000'):
    study.labelled_subset(labels, 1000, 0)
