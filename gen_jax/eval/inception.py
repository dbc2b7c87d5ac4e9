"""Inception-v3 "FID network" in Flax, loaded from a user-supplied local weights file.

Nothing is downloaded. The network is the one of pytorch-fid (``fid_inception_v3``): the
TF-slim Inception-v3 graph of 2015-12-05 (``inception-2015-12-05.tgz``) as ported to
PyTorch in ``pt_inception-2015-12-05-6726825d.pth``, whose pool3 features define the FID
of the literature. It differs from torchvision's Inception-v3 in four places: the
average pools of the A, C and E_1 blocks exclude padding from the average
(``count_include_pad=False``), the pool branch of the last block (Mixed_7c, "E_2") uses a
3x3 max pool, and the classifier has 1008 outputs.

Weights file format (``.npz``, written by ``gen_jax.eval.convert_inception_weights``):
  one array per entry of the PyTorch ``state_dict`` of pytorch-fid's ``fid_inception_v3()``,
  named by its state_dict key and kept in PyTorch layout, float32:
    ``<layer>.conv.weight``        [out, in, kh, kw]  (OIHW; conv layers have no bias)
    ``<layer>.bn.weight``, ``.bn.bias``, ``.bn.running_mean``, ``.bn.running_var``  [out]
    ``fc.weight`` [1008, 2048], ``fc.bias`` [1008]   (optional: enables logits / IS)
  for ``<layer>`` in ``inception_param_spec()`` (e.g. ``Conv2d_1a_3x3``,
  ``Mixed_5b.branch5x5_2``, ``Mixed_7c.branch3x3dbl_3b``); ``*.num_batches_tracked`` and
  any ``AuxLogits.*`` entries are ignored. Batch norm uses eps = 0.001.

Forward pass (pytorch-fid's defaults): images [N, H, W, C] in [0, 1] (C = 1 is repeated
to RGB) -> bilinear resize to 299x299 (half-pixel centres, no antialiasing, like
``F.interpolate(..., align_corners=False)``) -> 2x - 1 -> network -> global average pool
-> features [N, 2048] (and logits [N, 1008] when ``fc`` is present).

Caveat: this module is tested structurally only (shapes, key mapping, random weights);
it could not be checked against the real weights offline. Before reporting numbers, check
that the features of a few images match pytorch-fid's to ~1e-4.
"""
from __future__ import annotations

import os
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gen_jax.eval.feature_net import FeatureNet, FeatureNetError, sha256_hex

BN_EPS = 1e-3
FID_NUM_CLASSES = 1008
FEATURE_DIM = 2048
_PAD = lambda p: ((p[0], p[0]), (p[1], p[1]))  # noqa: E731


class BasicConv(nn.Module):
  """Conv (no bias) + inference batch norm (eps 1e-3) + ReLU, as torchvision's BasicConv2d."""
  features: int
  kernel: tuple[int, int]
  strides: int = 1
  padding: tuple[int, int] = (0, 0)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = nn.Conv(self.features, self.kernel, (self.strides, self.strides), padding=_PAD(self.padding),
                use_bias=False, name='conv')(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=BN_EPS, name='bn')(x)
    return nn.relu(x)


def _avg_pool_3x3(x: jax.Array) -> jax.Array:
  """3x3 stride-1 average pool over the valid (unpadded) pixels only (TF semantics)."""
  return nn.avg_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3x3_s2(x: jax.Array) -> jax.Array:
  return nn.max_pool(x, (3, 3), (2, 2), padding='VALID')


class InceptionA(nn.Module):
  pool_features: int

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv(64, (1, 1), name='branch1x1')(x)
    b5 = BasicConv(48, (1, 1), name='branch5x5_1')(x)
    b5 = BasicConv(64, (5, 5), padding=(2, 2), name='branch5x5_2')(b5)
    b3 = BasicConv(64, (1, 1), name='branch3x3dbl_1')(x)
    b3 = BasicConv(96, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(b3)
    b3 = BasicConv(96, (3, 3), padding=(1, 1), name='branch3x3dbl_3')(b3)
    bp = BasicConv(self.pool_features, (1, 1), name='branch_pool')(_avg_pool_3x3(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv(384, (3, 3), strides=2, name='branch3x3')(x)
    bd = BasicConv(64, (1, 1), name='branch3x3dbl_1')(x)
    bd = BasicConv(96, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(bd)
    bd = BasicConv(96, (3, 3), strides=2, name='branch3x3dbl_3')(bd)
    return jnp.concatenate([b3, bd, _max_pool_3x3_s2(x)], axis=-1)


class InceptionC(nn.Module):
  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c7 = self.channels_7x7
    b1 = BasicConv(192, (1, 1), name='branch1x1')(x)
    b7 = BasicConv(c7, (1, 1), name='branch7x7_1')(x)
    b7 = BasicConv(c7, (1, 7), padding=(0, 3), name='branch7x7_2')(b7)
    b7 = BasicConv(192, (7, 1), padding=(3, 0), name='branch7x7_3')(b7)
    bd = BasicConv(c7, (1, 1), name='branch7x7dbl_1')(x)
    bd = BasicConv(c7, (7, 1), padding=(3, 0), name='branch7x7dbl_2')(bd)
    bd = BasicConv(c7, (1, 7), padding=(0, 3), name='branch7x7dbl_3')(bd)
    bd = BasicConv(c7, (7, 1), padding=(3, 0), name='branch7x7dbl_4')(bd)
    bd = BasicConv(192, (1, 7), padding=(0, 3), name='branch7x7dbl_5')(bd)
    bp = BasicConv(192, (1, 1), name='branch_pool')(_avg_pool_3x3(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  @nn.compact
  def __call__(self, x):
    b3 = BasicConv(192, (1, 1), name='branch3x3_1')(x)
    b3 = BasicConv(320, (3, 3), strides=2, name='branch3x3_2')(b3)
    b7 = BasicConv(192, (1, 1), name='branch7x7x3_1')(x)
    b7 = BasicConv(192, (1, 7), padding=(0, 3), name='branch7x7x3_2')(b7)
    b7 = BasicConv(192, (7, 1), padding=(3, 0), name='branch7x7x3_3')(b7)
    b7 = BasicConv(192, (3, 3), strides=2, name='branch7x7x3_4')(b7)
    return jnp.concatenate([b3, b7, _max_pool_3x3_s2(x)], axis=-1)


class InceptionE(nn.Module):
  pool: str  # 'avg' (Mixed_7b, FIDInceptionE_1) or 'max' (Mixed_7c, FIDInceptionE_2)

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv(320, (1, 1), name='branch1x1')(x)
    b3 = BasicConv(384, (1, 1), name='branch3x3_1')(x)
    b3 = jnp.concatenate([BasicConv(384, (1, 3), padding=(0, 1), name='branch3x3_2a')(b3),
                          BasicConv(384, (3, 1), padding=(1, 0), name='branch3x3_2b')(b3)], axis=-1)
    bd = BasicConv(448, (1, 1), name='branch3x3dbl_1')(x)
    bd = BasicConv(384, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(bd)
    bd = jnp.concatenate([BasicConv(384, (1, 3), padding=(0, 1), name='branch3x3dbl_3a')(bd),
                          BasicConv(384, (3, 1), padding=(1, 0), name='branch3x3dbl_3b')(bd)], axis=-1)
    if self.pool == 'avg':
      pooled = _avg_pool_3x3(x)
    else:
      pooled = nn.max_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)))
    bp = BasicConv(192, (1, 1), name='branch_pool')(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class FIDInceptionV3(nn.Module):
  """pytorch-fid's FID Inception-v3: images [N, H, W, C] in [0, 1] -> (pool3 [N, 2048], logits).

  Attributes:
    resize: side length the input is bilinearly resized to (299 as in pytorch-fid; None
      keeps the input size, which must then be at least 75x75).
    num_classes: logits of the ``fc`` layer (1008), or 0 for features only.
  """
  resize: int | None = 299
  num_classes: int = FID_NUM_CLASSES

  @nn.compact
  def __call__(self, images: jax.Array) -> tuple[jax.Array, jax.Array | None]:
    x = jnp.asarray(images, jnp.float32)
    if x.shape[-1] == 1:
      x = jnp.repeat(x, 3, axis=-1)
    if self.resize:
      x = jax.image.resize(x, (x.shape[0], self.resize, self.resize, 3), 'bilinear', antialias=False)
    x = 2.0 * x - 1.0
    x = BasicConv(32, (3, 3), strides=2, name='Conv2d_1a_3x3')(x)
    x = BasicConv(32, (3, 3), name='Conv2d_2a_3x3')(x)
    x = BasicConv(64, (3, 3), padding=(1, 1), name='Conv2d_2b_3x3')(x)
    x = _max_pool_3x3_s2(x)
    x = BasicConv(80, (1, 1), name='Conv2d_3b_1x1')(x)
    x = BasicConv(192, (3, 3), name='Conv2d_4a_3x3')(x)
    x = _max_pool_3x3_s2(x)
    x = InceptionA(32, name='Mixed_5b')(x)
    x = InceptionA(64, name='Mixed_5c')(x)
    x = InceptionA(64, name='Mixed_5d')(x)
    x = InceptionB(name='Mixed_6a')(x)
    for name, c7 in (('Mixed_6b', 128), ('Mixed_6c', 160), ('Mixed_6d', 160), ('Mixed_6e', 192)):
      x = InceptionC(c7, name=name)(x)
    x = InceptionD(name='Mixed_7a')(x)
    x = InceptionE('avg', name='Mixed_7b')(x)
    x = InceptionE('max', name='Mixed_7c')(x)
    feats = jnp.mean(x, axis=(1, 2))
    logits = nn.Dense(self.num_classes, name='fc')(feats) if self.num_classes else None
    return feats, logits


# ---------------------------------------------------------------------------------------------
# The weights-file format: the PyTorch state_dict layout of pytorch-fid's network.


def _conv_table() -> list[tuple[str, int, int, tuple[int, int]]]:
  """(layer, in channels, out channels, (kh, kw)) of every BasicConv, in PyTorch naming."""
  t = [('Conv2d_1a_3x3', 3, 32, (3, 3)), ('Conv2d_2a_3x3', 32, 32, (3, 3)), ('Conv2d_2b_3x3', 32, 64, (3, 3)),
       ('Conv2d_3b_1x1', 64, 80, (1, 1)), ('Conv2d_4a_3x3', 80, 192, (3, 3))]
  for name, cin, pool in (('Mixed_5b', 192, 32), ('Mixed_5c', 256, 64), ('Mixed_5d', 288, 64)):
    t += [(f'{name}.branch1x1', cin, 64, (1, 1)), (f'{name}.branch5x5_1', cin, 48, (1, 1)),
          (f'{name}.branch5x5_2', 48, 64, (5, 5)), (f'{name}.branch3x3dbl_1', cin, 64, (1, 1)),
          (f'{name}.branch3x3dbl_2', 64, 96, (3, 3)), (f'{name}.branch3x3dbl_3', 96, 96, (3, 3)),
          (f'{name}.branch_pool', cin, pool, (1, 1))]
  t += [('Mixed_6a.branch3x3', 288, 384, (3, 3)), ('Mixed_6a.branch3x3dbl_1', 288, 64, (1, 1)),
        ('Mixed_6a.branch3x3dbl_2', 64, 96, (3, 3)), ('Mixed_6a.branch3x3dbl_3', 96, 96, (3, 3))]
  for name, c7 in (('Mixed_6b', 128), ('Mixed_6c', 160), ('Mixed_6d', 160), ('Mixed_6e', 192)):
    t += [(f'{name}.branch1x1', 768, 192, (1, 1)), (f'{name}.branch7x7_1', 768, c7, (1, 1)),
          (f'{name}.branch7x7_2', c7, c7, (1, 7)), (f'{name}.branch7x7_3', c7, 192, (7, 1)),
          (f'{name}.branch7x7dbl_1', 768, c7, (1, 1)), (f'{name}.branch7x7dbl_2', c7, c7, (7, 1)),
          (f'{name}.branch7x7dbl_3', c7, c7, (1, 7)), (f'{name}.branch7x7dbl_4', c7, c7, (7, 1)),
          (f'{name}.branch7x7dbl_5', c7, 192, (1, 7)), (f'{name}.branch_pool', 768, 192, (1, 1))]
  t += [('Mixed_7a.branch3x3_1', 768, 192, (1, 1)), ('Mixed_7a.branch3x3_2', 192, 320, (3, 3)),
        ('Mixed_7a.branch7x7x3_1', 768, 192, (1, 1)), ('Mixed_7a.branch7x7x3_2', 192, 192, (1, 7)),
        ('Mixed_7a.branch7x7x3_3', 192, 192, (7, 1)), ('Mixed_7a.branch7x7x3_4', 192, 192, (3, 3))]
  for name, cin in (('Mixed_7b', 1280), ('Mixed_7c', 2048)):
    t += [(f'{name}.branch1x1', cin, 320, (1, 1)), (f'{name}.branch3x3_1', cin, 384, (1, 1)),
          (f'{name}.branch3x3_2a', 384, 384, (1, 3)), (f'{name}.branch3x3_2b', 384, 384, (3, 1)),
          (f'{name}.branch3x3dbl_1', cin, 448, (1, 1)), (f'{name}.branch3x3dbl_2', 448, 384, (3, 3)),
          (f'{name}.branch3x3dbl_3a', 384, 384, (1, 3)), (f'{name}.branch3x3dbl_3b', 384, 384, (3, 1)),
          (f'{name}.branch_pool', cin, 192, (1, 1))]
  return t


def inception_param_spec(num_classes: int = FID_NUM_CLASSES) -> dict[str, tuple[int, ...]]:
  """{PyTorch state_dict key: shape} of the weights file (``fc.*`` only if num_classes > 0)."""
  spec: dict[str, tuple[int, ...]] = {}
  for layer, cin, cout, (kh, kw) in _conv_table():
    spec[f'{layer}.conv.weight'] = (cout, cin, kh, kw)
    for field in ('weight', 'bias', 'running_mean', 'running_var'):
      spec[f'{layer}.bn.{field}'] = (cout,)
  if num_classes:
    spec['fc.weight'] = (num_classes, FEATURE_DIM)
    spec['fc.bias'] = (num_classes,)
  return spec


def _is_ignored(key: str) -> bool:
  return key.endswith('num_batches_tracked') or key.startswith('AuxLogits.')


def _set(tree: dict, path: Sequence[str], value: np.ndarray) -> None:
  for p in path[:-1]:
    tree = tree.setdefault(p, {})
  tree[path[-1]] = value


def torch_state_to_variables(arrays: dict[str, np.ndarray]) -> dict:
  """Maps a {state_dict key: PyTorch-layout array} dict to Flax variables of FIDInceptionV3.

  Conv kernels OIHW -> HWIO; ``bn.weight/bias`` -> params ``bn/scale``, ``bn/bias``;
  ``bn.running_mean/var`` -> batch_stats ``bn/mean``, ``bn/var``; ``fc.weight`` [C, 2048] ->
  ``fc/kernel`` [2048, C]. Raises FeatureNetError listing missing keys or wrong shapes.
  """
  arrays = {k: v for k, v in arrays.items() if not _is_ignored(k)}
  num_classes = arrays['fc.weight'].shape[0] if 'fc.weight' in arrays else 0
  spec = inception_param_spec(num_classes)
  missing = sorted(set(spec) - set(arrays))
  unexpected = sorted(set(arrays) - set(spec))
  wrong = [f'{k}: {tuple(arrays[k].shape)} (expected {s})' for k, s in spec.items()
           if k in arrays and tuple(arrays[k].shape) != s]
  if missing or unexpected or wrong:
    parts = [f'{len(missing)} missing keys (e.g. {missing[:3]})' if missing else '',
             f'{len(unexpected)} unexpected keys (e.g. {unexpected[:3]})' if unexpected else '',
             f'wrong shapes: {wrong[:3]}' if wrong else '']
    raise FeatureNetError('not a pytorch-fid Inception-v3 state dict: ' + '; '.join(p for p in parts if p)
                          + '. See gen_jax/eval/inception.py for the format.')
  variables: dict = {'params': {}, 'batch_stats': {}}
  for key, value in arrays.items():
    v = np.asarray(value, np.float32)
    *layer, module, field = key.split('.')
    path = layer + [module]
    if key.startswith('fc.'):
      _set(variables['params'], ['fc', 'kernel' if field == 'weight' else 'bias'], v.T if field == 'weight' else v)
    elif module == 'conv':
      _set(variables['params'], path + ['kernel'], v.transpose(2, 3, 1, 0))
    elif field in ('weight', 'bias'):
      _set(variables['params'], path + ['scale' if field == 'weight' else 'bias'], v)
    else:
      _set(variables['batch_stats'], path + ['mean' if field == 'running_mean' else 'var'], v)
  return variables


def load_inception_features(path: str, *, resize: int | None = 299,
                            expected_sha256: str | None = None) -> FeatureNet:
  """Loads pytorch-fid's Inception-v3 from a local ``.npz`` (format in the module docstring).

  Args:
    path: the weights file (see ``gen_jax.eval.convert_inception_weights``).
    resize: input side length (299 as in pytorch-fid; None: no resizing).
    expected_sha256: if given, the file's SHA-256 must match it.

  Returns:
    A FeatureNet with 2048-d features (any image size, C in {1, 3}, values in [0, 1]) and
    1008-way logits when the file holds ``fc.*``; ``digest`` is the file's SHA-256.
  """
  if not os.path.isfile(path):
    raise FeatureNetError(f'Inception weights file {path!r} not found. gen_jax downloads nothing: convert '
                          'pytorch-fid\'s pt_inception-2015-12-05-6726825d.pth with\n  python -m '
                          'gen_jax.eval.convert_inception_weights <file.pth> <out.npz>')
  with open(path, 'rb') as f:
    digest = sha256_hex(f.read())
  if expected_sha256 and digest != expected_sha256:
    raise FeatureNetError(f'{path} has SHA-256 {digest}, expected {expected_sha256}.')
  with np.load(path) as npz:
    variables = torch_state_to_variables({k: npz[k] for k in npz.files})
  num_classes = variables['params']['fc']['kernel'].shape[1] if 'fc' in variables['params'] else 0
  model = FIDInceptionV3(resize=resize, num_classes=num_classes)
  variables = jax.tree.map(jnp.asarray, variables)
  return FeatureNet(name='inception_v3_fid', params=variables, apply_fn=model.apply, feature_dim=FEATURE_DIM,
                    num_classes=num_classes or None, image_shape=None, digest=digest)
