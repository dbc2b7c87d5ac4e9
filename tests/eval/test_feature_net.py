"""The stored classifier feature nets: digests, loading errors, and their test accuracy.

Accuracies are recomputed here from the stored weights over the test split read through
gen_jax.data; the thresholds (97% mnist5k, 95% digits) are the issue's requirements.
"""
import hashlib
import json
import os
import shutil

import jax.numpy as jnp
import numpy as np
import pytest

from gen_jax.eval import feature_net as fn_lib
from tests.eval.conftest import load_split

MIN_ACCURACY = {'mnist5k': 0.97, 'digits': 0.95}
NUM_TEST = {'mnist5k': 1000, 'digits': 360}


@pytest.mark.parametrize('dataset', fn_lib.DATASETS)
def test_stored_weights_match_their_digest_and_are_small(dataset):
  path, meta_path = fn_lib.weights_paths(dataset)
  with open(path, 'rb') as f:
    blob = f.read()
  with open(meta_path) as f:
    meta = json.load(f)
  assert len(blob) < 2_000_000
  assert hashlib.sha256(blob).hexdigest() == meta['sha256']
  net = fn_lib.load_feature_net(dataset)
  assert net.digest == meta['sha256']
  assert meta['command'] == f'.venv/bin/python -m gen_jax.eval.train_feature_net --dataset={dataset}'
  assert net.feature_dim == 128 and net.num_classes == 10
  assert net.image_shape == tuple(meta['image_shape'])


@pytest.mark.parametrize('dataset', fn_lib.DATASETS)
def test_stored_feature_net_test_accuracy(dataset, eval_data_dir):
  net = fn_lib.load_feature_net(dataset)
  images, labels = load_split(dataset, eval_data_dir)
  assert images.shape[0] == NUM_TEST[dataset]
  feats, logits = net.apply_fn(net.params, jnp.asarray(images))
  assert feats.shape == (images.shape[0], 128) and logits.shape == (images.shape[0], 10)
  assert float(jnp.min(feats)) >= 0.0  # post-ReLU features
  accuracy = float(np.mean(np.argmax(np.asarray(logits), axis=1) == labels))
  assert accuracy >= MIN_ACCURACY[dataset]
  # The sidecar's number was measured on the same split by the training command.
  assert accuracy == pytest.approx(fn_lib.load_metadata(dataset)['test_accuracy'], abs=1.5 / images.shape[0])
  np.testing.assert_allclose(fn_lib.features(net.params, images[:7]), feats[:7], rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(fn_lib.logits(net.params, images[:7]), logits[:7], rtol=1e-5, atol=1e-5)


def _copy_weights(dataset, tmp_path):
  for p in fn_lib.weights_paths(dataset):
    shutil.copy(p, tmp_path / os.path.basename(p))
  return fn_lib.weights_paths(dataset, str(tmp_path))


def test_corrupt_weights_raise_naming_the_command(tmp_path):
  path, _ = _copy_weights('digits', tmp_path)
  blob = bytearray(open(path, 'rb').read())
  blob[-5] ^= 0xFF
  open(path, 'wb').write(bytes(blob))
  with pytest.raises(fn_lib.FeatureNetError, match='train_feature_net --dataset=digits'):
    fn_lib.load_feature_net('digits', str(tmp_path))


def test_missing_weights_raise_naming_the_command(tmp_path):
  with pytest.raises(fn_lib.FeatureNetError, match='train_feature_net --dataset=mnist5k'):
    fn_lib.load_feature_net('mnist5k', str(tmp_path))
  _, meta_path = _copy_weights('mnist5k', tmp_path)
  os.remove(fn_lib.weights_paths('mnist5k', str(tmp_path))[0])
  with pytest.raises(fn_lib.FeatureNetError, match='train_feature_net --dataset=mnist5k'):
    fn_lib.load_feature_net('mnist5k', str(tmp_path))
  assert os.path.exists(meta_path)


def test_unknown_dataset_points_to_inception():
  with pytest.raises(fn_lib.FeatureNetError, match='Inception'):
    fn_lib.load_feature_net('cifar10')


def test_image_shape_is_checked():
  net = fn_lib.load_feature_net('digits')
  with pytest.raises(fn_lib.FeatureNetError, match=r'\(8, 8, 1\)'):
    net.check_images((4, 28, 28, 1))


def test_to_unit_range():
  x = np.array([-1.5, -1.0, 0.0, 0.5, 1.0, 1.2], np.float32)
  np.testing.assert_allclose(fn_lib.to_unit_range(x, '-11'), [0.0, 0.0, 0.5, 0.75, 1.0, 1.0])
  np.testing.assert_allclose(fn_lib.to_unit_range(x, '01'), [0.0, 0.0, 0.0, 0.5, 1.0, 1.0])
  np.testing.assert_allclose(fn_lib.to_unit_range(np.array([0.0, 51.0, 255.0, 300.0]), 'none'),
                             [0.0, 0.2, 1.0, 1.0], rtol=1e-6)
  with pytest.raises(ValueError):
    fn_lib.to_unit_range(x, '0255')
