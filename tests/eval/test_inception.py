"""Inception-v3 FID network: structure only (random weights in the documented .npz format).

The real pytorch-fid weights cannot be fetched offline, so these tests check the weights-file
format (keys, shapes, parameter count), the PyTorch -> Flax layout mapping of one layer
against a numpy convolution, output shapes, and that the harness runs on this network.
They do NOT show that features match pytorch-fid's; see gen_jax/eval/inception.py.
"""
import dataclasses
import hashlib
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gen_jax.eval import harness
from gen_jax.eval import inception as inc
from gen_jax.eval.convert_inception_weights import convert
from gen_jax.eval.feature_net import FeatureNetError

# torchvision documents 27,161,264 parameters for Inception_V3_Weights.IMAGENET1K_V1 (1000 classes,
# AuxLogits included). AuxLogits: conv0 768->128 1x1 (+BN 2x128), conv1 128->768 5x5 (+BN 2x768),
# fc 768->1000.
TORCHVISION_PARAMS = 27_161_264
AUX_PARAMS = (768 * 128 + 2 * 128) + (128 * 768 * 25 + 2 * 768) + (768 * 1000 + 1000)


def _random_arrays(seed=0, num_classes=inc.FID_NUM_CLASSES):
  rng = np.random.default_rng(seed)
  arrays = {}
  for key, shape in inc.inception_param_spec(num_classes).items():
    if key.endswith('running_var'):
      arrays[key] = rng.uniform(0.5, 1.5, shape)
    elif key.endswith('conv.weight'):
      arrays[key] = rng.normal(size=shape) / math.sqrt(np.prod(shape[1:]))
    else:
      arrays[key] = 0.1 * rng.normal(size=shape)
  return {k: v.astype(np.float32) for k, v in arrays.items()}


@pytest.fixture(scope='module')
def weights_file(tmp_path_factory):
  path = tmp_path_factory.mktemp('inception') / 'random_fid_inception.npz'
  arrays = _random_arrays()
  arrays['Mixed_5b.branch1x1.bn.num_batches_tracked'] = np.array(0, np.int64)  # ignored, as in real files
  np.savez(path, **arrays)
  return str(path)


@pytest.fixture(scope='module')
def net(weights_file):
  return inc.load_inception_features(weights_file)


def test_param_spec_matches_torchvision_count():
  spec = inc.inception_param_spec(num_classes=1000)
  trainable = sum(int(np.prod(s)) for k, s in spec.items() if 'running' not in k)
  assert trainable + AUX_PARAMS == TORCHVISION_PARAMS
  assert len(inc.inception_param_spec()) == 94 * 5 + 2  # 94 BasicConv2d (conv + 4 BN arrays) + fc


def test_load_and_output_shapes(net, weights_file):
  assert net.feature_dim == 2048 and net.num_classes == 1008 and net.image_shape is None
  assert net.digest == hashlib.sha256(open(weights_file, 'rb').read()).hexdigest()
  for shape in [(3, 28, 28, 1), (2, 32, 32, 3)]:
    feats, logits = jax.eval_shape(net.apply_fn, net.params, jax.ShapeDtypeStruct(shape, jnp.float32))
    assert feats.shape == (shape[0], 2048) and logits.shape == (shape[0], 1008)
  with pytest.raises(FeatureNetError):
    net.check_images((2, 32, 32, 4))


def test_harness_runs_on_inception_features(net):
  # 75x75, the smallest valid input, keeps the forward pass fast on CPU (the real default is 299).
  net = dataclasses.replace(net, apply_fn=inc.FIDInceptionV3(resize=75).apply)
  rng = np.random.default_rng(1)
  ref = [{'image': rng.uniform(size=(4, 28, 28, 1)).astype(np.float32), 'mask': np.array([1, 1, 1, 0.])}
         for _ in range(3)]
  # FID itself is left out: its 2048 x 2048 eigen/singular value decompositions take ~10 s on 2 cores.
  out = harness.sample_quality(lambda r, n: jax.random.uniform(r, (n, 28, 28, 1)), 8, 4, net, ref,
                               rng=jax.random.key(0), kid_subsets=2,
                               metrics=('kid', 'precision_recall', 'classifier'))
  assert out['kid']['num_samples'] == 8 and out['kid']['num_reference'] == 9
  assert all(math.isfinite(v['value']) for v in out.values() if isinstance(v, dict))
  assert out['feature_net'] == 'inception_v3_fid' and out['feature_net_digest'] == net.digest
  feats, _ = net.apply_fn(net.params, jnp.asarray(ref[0]['image']))
  assert feats.shape == (4, 2048) and float(jnp.min(feats)) >= 0.0


def test_basic_conv_layout_matches_numpy_convolution():
  rng = np.random.default_rng(2)
  arrays = _random_arrays(seed=2)
  variables = inc.torch_state_to_variables(arrays)
  layer = 'Mixed_6b.branch7x7_2'  # a (1, 7) kernel with (0, 3) padding: catches a swapped H/W
  x = rng.normal(size=(2, 5, 9, 128)).astype(np.float32)
  got = inc.BasicConv(128, (1, 7), padding=(0, 3)).apply(
      {'params': variables['params']['Mixed_6b']['branch7x7_2'],
       'batch_stats': variables['batch_stats']['Mixed_6b']['branch7x7_2']}, x)
  w = arrays[f'{layer}.conv.weight'].astype(np.float64)  # [out, in, 1, 7] (OIHW)
  xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (3, 3), (0, 0)))
  conv = sum(np.einsum('nhwi,oi->nhwo', xp[:, :, j:j + 9, :], w[:, :, 0, j]) for j in range(7))
  g, b = arrays[f'{layer}.bn.weight'], arrays[f'{layer}.bn.bias']
  m, v = arrays[f'{layer}.bn.running_mean'], arrays[f'{layer}.bn.running_var']
  want = np.maximum((conv - m) / np.sqrt(v + 1e-3) * g + b, 0.0)
  np.testing.assert_allclose(np.asarray(got), want, rtol=2e-4, atol=2e-4)


def test_bad_files_are_rejected(tmp_path):
  arrays = _random_arrays(num_classes=0)
  del arrays['Mixed_7c.branch_pool.conv.weight']
  arrays['Conv2d_1a_3x3.conv.weight'] = arrays['Conv2d_1a_3x3.conv.weight'][:, :, :2]
  with pytest.raises(FeatureNetError, match='missing keys.*wrong shapes'):
    inc.torch_state_to_variables(arrays)
  with pytest.raises(FeatureNetError, match='convert_inception_weights'):
    inc.load_inception_features(str(tmp_path / 'absent.npz'))


def test_converter_round_trip_without_fc(tmp_path):
  src, dst = tmp_path / 'src.npz', tmp_path / 'dst.npz'
  arrays = _random_arrays(seed=3, num_classes=0)
  np.savez(src, **{**arrays, 'Conv2d_1a_3x3.bn.num_batches_tracked': np.array(7)})
  digest = convert(str(src), str(dst))
  with np.load(dst) as npz:
    assert set(npz.files) == set(arrays)
    np.testing.assert_array_equal(npz['Mixed_7c.branch_pool.conv.weight'], arrays['Mixed_7c.branch_pool.conv.weight'])
  net = inc.load_inception_features(str(dst), expected_sha256=digest)
  assert net.num_classes is None
  with pytest.raises(FeatureNetError, match='SHA-256'):
    inc.load_inception_features(str(dst), expected_sha256='0' * 64)
