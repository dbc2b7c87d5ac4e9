"""The sample-quality harness end to end with the stored mnist5k feature net and real test images.

"Samplers" here are real test images, noise, or one class only, so the right answers are
known: the identical set gives FID 0 and precision = recall = 1 (every point lies in its own
k-NN ball), noise gives a large FID and no precision, one class gives ~0 class entropy.
"""
import dataclasses
import math

import jax
import ml_collections
import numpy as np
import pytest
from sklearn.metrics.pairwise import polynomial_kernel

from gen_jax import data as data_lib
from gen_jax.core.errors import ConfigError
from gen_jax.eval import config_eval, harness
from gen_jax.eval import sample_quality as sq
from gen_jax.eval.feature_net import load_feature_net
from tests.eval.conftest import data_config, load_split

FAST = dict(kid_subsets=10, is_splits=10)


@pytest.fixture(scope='module')
def net():
  return load_feature_net('mnist5k')


def _ref_iter(data_dir):
  return data_lib.make_eval_iterator(data_config('mnist5k', data_dir, batch_size=300))


def _cycling_sampler(images, labels=None, scale='01'):
  """sample_fn(rng, n[, labels]) returning the given images in order (with labels: matching class)."""
  state = {'pos': 0}
  by_class = None if labels is None else {c: np.flatnonzero(labels == c) for c in range(10)}

  def sample_fn(rng, n, wanted=None):
    if wanted is not None:
      r = np.random.default_rng(int(jax.random.randint(rng, (), 0, 2**30)))
      out = images[[r.choice(by_class[int(c)]) for c in wanted]]
    else:
      idx = (state['pos'] + np.arange(n)) % images.shape[0]
      state['pos'] += n
      out = images[idx]
    return 2.0 * out - 1.0 if scale == '-11' else out
  return sample_fn


def test_real_vs_real_is_perfect(net, mnist5k_test, eval_data_dir):
  images, _ = mnist5k_test
  out = harness.sample_quality(_cycling_sampler(images), 1000, 128, net, _ref_iter(eval_data_dir),
                               rng=jax.random.key(0), **FAST)
  assert abs(out['fid']['value']) < 1e-6 and out['fid']['stderr'] is None
  assert out['fid']['num_samples'] == 1000 and out['fid']['num_reference'] == 1000
  assert out['precision']['value'] == 1.0 and out['recall']['value'] == 1.0
  # Unbiased MMD^2 of a set with itself: 2 (mean off-diagonal k - mean k) = -2 (mean diag k - mean off k) / m.
  f = np.asarray(net.features(images), np.float64)
  k = polynomial_kernel(f, degree=3, gamma=1.0 / f.shape[1], coef0=1.0)
  m = f.shape[0]
  mean_off = (k.sum() - np.trace(k)) / (m * (m - 1))
  assert out['kid']['value'] == pytest.approx(-2.0 * (np.trace(k) / m - mean_off) / m, rel=1e-4)
  assert out['kid']['stderr'] is None  # every subset is the whole set
  assert out['class_entropy']['value'] == pytest.approx(out['reference_class_entropy']['value'], abs=1e-6)
  assert out['class_entropy']['value'] > math.log(10) - 0.01
  assert out['inception_score']['value'] > 8.0  # confident classifier, balanced classes
  assert out['reference_accuracy']['value'] >= 0.97
  assert out['feature_net'] == 'mnist5k_classifier' and out['feature_net_digest'] == net.digest


def test_scale_minus_one_one_is_mapped(net, mnist5k_test, eval_data_dir):
  images, _ = mnist5k_test
  out = harness.sample_quality(_cycling_sampler(images, scale='-11'), 1000, 250, net, _ref_iter(eval_data_dir),
                               rng=jax.random.key(0), metrics=('fid',), sample_scale='-11')
  assert abs(out['fid']['value']) < 1e-3 and set(out) == {'fid', 'feature_net', 'feature_net_digest'}


def test_noise_is_far_from_real(net, eval_data_dir, mnist5k_test):
  def noise(rng, n):
    return jax.random.uniform(rng, (n, 28, 28, 1))
  out = harness.sample_quality(noise, 500, 250, net, _ref_iter(eval_data_dir), rng=jax.random.key(1), **FAST)
  images, _ = mnist5k_test
  half = harness.sample_quality(_cycling_sampler(images[:500]), 500, 250, net, _ref_iter(eval_data_dir),
                                rng=jax.random.key(1), metrics=('fid', 'precision_recall'))
  assert out['fid']['value'] > 20 * max(half['fid']['value'], 1.0)
  assert out['precision']['value'] < 0.05 and out['recall']['value'] < 0.05
  assert out['kid']['value'] > 10 * out['kid']['stderr']


def test_streaming_fid_equals_one_shot(net, mnist5k_test, eval_data_dir):
  images, _ = mnist5k_test
  # A fresh apply function: jit caches are shared by every jax.jit of the same function object.
  apply_fn = net.apply_fn
  net = dataclasses.replace(net, apply_fn=lambda p, x: apply_fn(p, x))
  extract = harness.make_feature_extractor(net, 96)  # 600 = 6 full batches + one of 24
  gen = harness.generated_features(_cycling_sampler(images[:600]), 600, 96, extract, net,
                                   rng=jax.random.key(0), metrics=('fid', 'kid'))
  ref = harness.reference_features(_ref_iter(eval_data_dir), extract, net, metrics=('fid', 'kid'))
  assert gen.features.shape == (600, 128) and ref.features.shape == (1000, 128)
  mu, sigma = sq.finalize_stats(gen.stats)
  mu1, sigma1 = sq.gaussian_stats(gen.features)
  np.testing.assert_allclose(mu, mu1, rtol=1e-10, atol=1e-10)
  np.testing.assert_allclose(sigma, sigma1, rtol=1e-8, atol=1e-8)
  streamed = harness.compare_feature_sets(gen, ref, ('fid',))['fid']['value']
  one_shot = sq.frechet_distance(*sq.gaussian_stats(gen.features), *sq.gaussian_stats(ref.features))
  assert streamed == pytest.approx(one_shot, rel=1e-8)
  # One compilation of the feature net for 6 full batches, a short one and 300-row reference batches.
  assert extract.jitted._cache_size() == 1


def test_fid_only_keeps_no_feature_vectors(net, mnist5k_test):
  images, _ = mnist5k_test
  extract = harness.make_feature_extractor(net, 100)
  gen = harness.generated_features(_cycling_sampler(images), 300, 100, extract, net, rng=jax.random.key(0),
                                   metrics=('fid',))
  assert gen.features is None and gen.logits is None and gen.num == 300


def test_conditional_accuracy_and_mode_collapse(net, mnist5k_test, eval_data_dir):
  images, labels = mnist5k_test
  ref = harness.reference_features(_ref_iter(eval_data_dir), harness.make_feature_extractor(net, 200), net)
  labels_fn = lambda r, n: jax.random.randint(r, (n,), 0, 10)  # noqa: E731
  good = harness.sample_quality(_cycling_sampler(images, labels), 400, 200, net, ref, rng=jax.random.key(2),
                                labels_fn=labels_fn, metrics=('classifier',))
  assert good['conditional_accuracy']['value'] >= 0.95
  assert good['conditional_accuracy']['num_samples'] == 400
  ignores_labels = harness.sample_quality(lambda r, n, y: images[:n], 400, 200, net, ref, rng=jax.random.key(2),
                                          labels_fn=labels_fn, metrics=('classifier',))
  assert ignores_labels['conditional_accuracy']['value'] < 0.3
  zeros = images[labels == 0]
  collapsed = harness.sample_quality(lambda r, n: zeros[:n], 90, 90, net, ref, rng=jax.random.key(3),
                                     metrics=('classifier',))
  assert collapsed['class_entropy']['value'] < 0.3 < math.log(10) - 0.05 < good['class_entropy']['value']
  assert collapsed['inception_score']['value'] < 1.5
  assert collapsed['class_entropy']['max_value'] == pytest.approx(math.log(10))


def test_unknown_metric_raises(net, mnist5k_test):
  images, _ = mnist5k_test
  with pytest.raises(ValueError, match='unknown sample-quality metrics'):
    harness.sample_quality(_cycling_sampler(images), 10, 10, net, [], rng=jax.random.key(0), metrics=('is',))


def _config(data_dir, **eval_fields):
  c = ml_collections.ConfigDict()
  c.dataset = ml_collections.ConfigDict(dict(name='mnist5k', data_dir=data_dir, eval_split='test', scale='-11',
                                             binarize='none', dequantize='uniform'))
  c.eval = config_eval.default_eval_config(**eval_fields)
  return c


def test_config_entry_point(mnist5k_test, eval_data_dir):
  images, _ = mnist5k_test
  cfg = _config(eval_data_dir, metrics=config_eval.ALL_METRICS, num_samples=1000, sample_batch_size=250,
                kid_subsets=5)
  config_eval.validate_eval_config(cfg)
  out = config_eval.evaluate_sample_quality(cfg, _cycling_sampler(images, scale='-11'), jax.random.key(0))
  # The reference is read at scale '01' without dequantization whatever the model used.
  assert abs(out['fid']['value']) < 1e-3 and out['precision']['value'] == 1.0
  assert {'fid', 'kid', 'precision', 'recall', 'inception_score', 'class_entropy'} <= set(out)
  assert config_eval.evaluate_sample_quality(_config(eval_data_dir, metrics=('nll',)), None, None) == {}


@pytest.mark.parametrize('fields,match', [
    (dict(metrics=('nll', 'fidd')), 'unknown entries'),
    (dict(num_samples=0), 'num_samples'),
    (dict(metrics=('fid',), feature_net='resnet'), 'feature_net'),
    (dict(metrics=('fid',), feature_net='inception:/nonexistent/inception.npz'), 'convert_inception_weights'),
])
def test_config_validation(fields, match, eval_data_dir):
  with pytest.raises(ConfigError, match=match):
    config_eval.validate_eval_config(_config(eval_data_dir, **fields))


def test_config_validation_dataset_without_feature_net(eval_data_dir):
  cfg = _config(eval_data_dir, metrics=('nll', 'fid'))
  cfg.dataset.name = 'cifar10'
  with pytest.raises(ConfigError, match='inception'):
    config_eval.validate_eval_config(cfg)


def test_real_data_floor_digits(eval_data_dir):
  from gen_jax.eval.real_data_floor import real_data_floor
  floor = real_data_floor('digits', data_dir=eval_data_dir, kid_subsets=5)
  images, _ = load_split('digits', eval_data_dir)
  noise = harness.sample_quality(lambda r, n: jax.random.uniform(r, (n, 8, 8, 1)), 360, 360,
                                 load_feature_net('digits'), _digits_ref(eval_data_dir), rng=jax.random.key(0),
                                 metrics=('fid',))
  assert floor['fid']['num_samples'] == 1437 and floor['fid']['num_reference'] == images.shape[0]
  assert floor['fid']['value'] < 0.05 * noise['fid']['value']
  assert floor['precision']['value'] > 0.6 and floor['recall']['value'] > 0.6


def _digits_ref(data_dir):
  return data_lib.make_eval_iterator(data_config('digits', data_dir, batch_size=100))


# ------------------------------------------------------------------ likelihood summaries


def test_likelihood_summary_uniform_density_is_8_bits():
  d = 28 * 28
  for scale, cont_nll in (('01', 0.0), ('-11', d * math.log(2.0)), ('none', d * math.log(256.0))):
    out = harness.likelihood_summary(np.full((5,), cont_nll), d, scale, dequantized=True)
    assert out['bits_per_dim']['value'] == pytest.approx(8.0)
    assert out['bits_per_dim']['num_samples'] == 5


def test_likelihood_summary_discrete_nll_and_mask():
  d = 64
  nll = np.array([d * math.log(2.0), 3 * d * math.log(2.0), 1e9])
  out = harness.likelihood_summary(nll, d, '01', dequantized=False, mask=np.array([1, 1, 0]))
  assert out['bits_per_dim']['value'] == pytest.approx(2.0)
  assert out['bits_per_dim']['stderr'] == pytest.approx(np.std([1.0, 3.0], ddof=1) / math.sqrt(2))
  assert out['nll_nats']['num_samples'] == 2
  with pytest.raises(ValueError):
    harness.likelihood_summary(nll, d, '0255', dequantized=False)
