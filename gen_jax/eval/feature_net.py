"""The project's feature networks: small convnet classifiers for the embedded image datasets.

FID, KID and precision/recall compare feature statistics, so they are only as meaningful
(and only as comparable) as the feature network. Inception-v3 features are the standard
for natural images but say little about 8x8 or 28x28 grey digits, so gen_jax ships a
small classifier per embedded image dataset, trained deterministically by one command:

    .venv/bin/python -m gen_jax.eval.train_feature_net --dataset=mnist5k
    .venv/bin/python -m gen_jax.eval.train_feature_net --dataset=digits

which writes ``gen_jax/eval/weights/<dataset>_classifier.msgpack`` (``flax.serialization``
bytes of the parameters) and ``<dataset>_classifier.json`` (the SHA-256 digest of those
bytes, the architecture, the test accuracy, the command and the training config).
``load_feature_net(dataset)`` checks the digest, so a metric is always tied to one exact
set of weights; results record it as ``feature_net_digest``.

Input convention: images [N, H, W, C] float32 with intensities in [0, 1] (0 = black),
exactly what ``gen_jax.data`` yields with ``config.dataset.scale='01'``. Models that work
in [-1, 1] map their samples with ``to_unit_range(images, '-11')`` (the harness does it).

Architecture (``ConvClassifier``, the same for both datasets): three stages of a 3x3
'SAME' conv + ReLU and a 2x2 'SAME' max pool, with (16, 32, 64) channels (28x28 -> 14 ->
7 -> 4; 8x8 -> 4 -> 2 -> 1), flattened, a dense ReLU layer of ``feature_dim`` = 128 units
(the *features*: the penultimate layer, non-negative, [N, 128]) and a dense layer to the
10 class logits. About 156k parameters (630 kB) for mnist5k, 40k for digits.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any, Callable, Sequence

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'weights')
DATASETS = ('mnist5k', 'digits')
IMAGE_SHAPES = {'mnist5k': (28, 28, 1), 'digits': (8, 8, 1)}
NUM_CLASSES = 10
SCALES = ('01', '-11', 'none')


class FeatureNetError(RuntimeError):
  """A feature network is missing, corrupt, or does not fit the images it is given."""


def train_command(dataset: str) -> str:
  """The one command that (re)trains and stores the feature net of ``dataset``."""
  return f'.venv/bin/python -m gen_jax.eval.train_feature_net --dataset={dataset}'


def to_unit_range(images: Any, scale: str) -> jax.Array:
  """Maps images from a family's sample scale to the feature nets' [0, 1] input range.

  Args:
    images: [..., H, W, C] float images.
    scale: '01' (already [0, 1]), '-11' ([-1, 1], mapped by (x + 1) / 2) or 'none'
      (pixel units 0..255 or 0..256 when dequantized, mapped by x / 255).

  Returns:
    float32 images of the same shape, clipped to [0, 1] (a sample outside the data range
    is judged as the image it would be displayed as).
  """
  x = jnp.asarray(images, jnp.float32)
  if scale == '01':
    pass
  elif scale == '-11':
    x = (x + 1.0) * 0.5
  elif scale == 'none':
    x = x / 255.0
  else:
    raise ValueError(f'scale must be one of {SCALES}, got {scale!r}')
  return jnp.clip(x, 0.0, 1.0)


class ConvClassifier(nn.Module):
  """Small convnet classifier; ``__call__`` returns (features [N, D], logits [N, C]).

  Attributes:
    channels: output channels of the 3x3 conv stages; each is followed by a 2x2 max pool.
    feature_dim: D, width of the penultimate (feature) layer.
    num_classes: C.
  """
  channels: Sequence[int] = (16, 32, 64)
  feature_dim: int = 128
  num_classes: int = NUM_CLASSES

  @nn.compact
  def __call__(self, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    x = (jnp.asarray(images, jnp.float32) - 0.5) * 2.0  # [0, 1] -> [-1, 1]
    for i, c in enumerate(self.channels):
      x = nn.relu(nn.Conv(c, (3, 3), padding='SAME', name=f'conv{i}')(x))
      x = nn.max_pool(x, (2, 2), strides=(2, 2), padding='SAME')
    x = x.reshape(x.shape[0], -1)
    feats = nn.relu(nn.Dense(self.feature_dim, name='features')(x))
    logits = nn.Dense(self.num_classes, name='logits')(feats)
    return feats, logits


def classifier_architecture() -> dict:
  """JSON-able description of ``ConvClassifier``'s default configuration."""
  m = ConvClassifier()
  return {'module': 'gen_jax.eval.feature_net.ConvClassifier', 'channels': list(m.channels),
          'feature_dim': m.feature_dim, 'num_classes': m.num_classes,
          'layers': '3 x [conv3x3 SAME + ReLU + maxpool2x2 SAME], flatten, dense(feature_dim) + ReLU, '
                    'dense(num_classes)',
          'input': '[N, H, W, C] float32 in [0, 1]', 'features': 'penultimate dense layer after ReLU'}


@dataclasses.dataclass(frozen=True, eq=False)
class FeatureNet:
  """A frozen feature network, as the evaluation harness consumes it.

  Attributes:
    name: e.g. 'mnist5k_classifier' or 'inception_v3_fid'.
    params: the parameter pytree.
    apply_fn: ``apply_fn(params, images) -> (features [N, D], logits [N, C] or None)`` for
      images [N, H, W, C] in [0, 1]; pure and jit-able.
    feature_dim: D.
    num_classes: C, or None if the network has no classifier head.
    image_shape: the (H, W, C) it requires, or None if it resizes any image itself.
    digest: SHA-256 hex digest of the stored parameter file.
  """
  name: str
  params: Any
  apply_fn: Callable[[Any, jax.Array], tuple[jax.Array, jax.Array | None]]
  feature_dim: int
  num_classes: int | None
  image_shape: tuple[int, int, int] | None
  digest: str

  def features(self, images: Any) -> jax.Array:
    """[N, D] features of images [N, H, W, C] in [0, 1]."""
    return self.apply_fn(self.params, images)[0]

  def logits(self, images: Any) -> jax.Array:
    """[N, C] class logits of images [N, H, W, C] in [0, 1]."""
    if self.num_classes is None:
      raise FeatureNetError(f'{self.name} has no classifier head (no logits).')
    return self.apply_fn(self.params, images)[1]

  def check_images(self, shape: Sequence[int]) -> None:
    """Raises FeatureNetError unless a batch of ``shape`` [N, H, W, C] fits this network."""
    if len(shape) != 4:
      raise FeatureNetError(f'{self.name} needs images [N, H, W, C], got shape {tuple(shape)}.')
    if self.image_shape is None and shape[-1] not in (1, 3):
      raise FeatureNetError(f'{self.name} needs grey (C=1) or RGB (C=3) images, got C={shape[-1]}.')
    if self.image_shape is not None and tuple(shape[1:]) != tuple(self.image_shape):
      raise FeatureNetError(f'{self.name} was trained on {self.image_shape} (H, W, C) images, got '
                            f'{tuple(shape[1:])}; use the feature net of the dataset the model was trained on.')


def _classifier_apply(params: Any, images: jax.Array) -> tuple[jax.Array, jax.Array]:
  return ConvClassifier().apply({'params': params}, images)


def features(params: Any, images: Any) -> jax.Array:
  """Penultimate features [N, 128] of ``ConvClassifier`` for images [N, H, W, 1] in [0, 1].

  ``params`` fix (H, W): the flattened conv output feeds a dense layer.
  """
  return _classifier_apply(params, images)[0]


def logits(params: Any, images: Any) -> jax.Array:
  """Class logits [N, 10] of ``ConvClassifier`` for images [N, H, W, 1] in [0, 1]."""
  return _classifier_apply(params, images)[1]


def init_classifier(rng: jax.Array, image_shape: Sequence[int]) -> Any:
  """Fresh ``ConvClassifier`` parameters for (H, W, C) images."""
  return ConvClassifier().init(rng, jnp.zeros((1, *image_shape), jnp.float32))['params']


def sha256_hex(data: bytes) -> str:
  """SHA-256 hex digest (equals ``sha256sum`` of a file holding ``data``)."""
  return hashlib.sha256(data).hexdigest()


def weights_paths(dataset: str, weights_dir: str | None = None) -> tuple[str, str]:
  """(msgpack path, JSON sidecar path) of the stored feature net of ``dataset``."""
  base = os.path.join(weights_dir or WEIGHTS_DIR, f'{dataset}_classifier')
  return base + '.msgpack', base + '.json'


def save_feature_net(dataset: str, params: Any, metadata: dict, weights_dir: str | None = None) -> dict:
  """Writes the parameters (flax msgpack) and the JSON sidecar; returns the sidecar dict."""
  path, meta_path = weights_paths(dataset, weights_dir)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  blob = flax.serialization.to_bytes(jax.device_get(params))
  sidecar = {'dataset': dataset, 'file': os.path.basename(path), 'sha256': sha256_hex(blob),
             'num_bytes': len(blob), 'image_shape': list(IMAGE_SHAPES[dataset]),
             'architecture': classifier_architecture(), **metadata}
  with open(path, 'wb') as f:
    f.write(blob)
  with open(meta_path, 'w', encoding='utf-8') as f:
    json.dump(sidecar, f, indent=2, sort_keys=True)
    f.write('\n')
  return sidecar


def load_metadata(dataset: str, weights_dir: str | None = None) -> dict:
  """The JSON sidecar of the stored feature net of ``dataset`` (FeatureNetError if absent)."""
  _check_dataset(dataset)
  _, meta_path = weights_paths(dataset, weights_dir)
  if not os.path.isfile(meta_path):
    raise FeatureNetError(f'no feature net for {dataset!r}: {meta_path} is missing. Train it with\n  '
                          f'{train_command(dataset)}')
  with open(meta_path, encoding='utf-8') as f:
    return json.load(f)


def _check_dataset(dataset: str) -> None:
  if dataset not in DATASETS:
    raise FeatureNetError(f'gen_jax ships classifier feature nets for {", ".join(DATASETS)} only, not '
                          f'{dataset!r}; for other image datasets use Inception-v3 features '
                          '(gen_jax.eval.inception.load_inception_features).')


def load_feature_net(dataset: str, weights_dir: str | None = None) -> FeatureNet:
  """Loads and verifies the stored classifier feature net of ``dataset``.

  Args:
    dataset: 'mnist5k' or 'digits'.
    weights_dir: directory of the stored files (default ``gen_jax/eval/weights``).

  Returns:
    A FeatureNet with D = 128 features, 10 classes and the sidecar's digest.

  Raises:
    FeatureNetError: unknown dataset, missing file, or a digest mismatch; the message
      names the command that (re)trains the network.
  """
  meta = load_metadata(dataset, weights_dir)
  path, meta_path = weights_paths(dataset, weights_dir)
  if not os.path.isfile(path):
    raise FeatureNetError(f'the feature net weights {path} are missing (their sidecar {meta_path} exists). '
                          f'Restore the file or retrain it with\n  {train_command(dataset)}')
  with open(path, 'rb') as f:
    blob = f.read()
  digest = sha256_hex(blob)
  if digest != meta.get('sha256'):
    raise FeatureNetError(f'the feature net weights {path} have SHA-256 {digest}, but {meta_path} records '
                          f'{meta.get("sha256")}: the file is corrupt or was replaced. Retrain it with\n  '
                          f'{train_command(dataset)}')
  shape = IMAGE_SHAPES[dataset]
  template = jax.eval_shape(lambda r: init_classifier(r, shape), jax.random.key(0))
  template = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), template)
  params = flax.serialization.from_bytes(template, blob)
  arch = ConvClassifier()
  return FeatureNet(name=f'{dataset}_classifier', params=params, apply_fn=_classifier_apply,
                    feature_dim=arch.feature_dim, num_classes=arch.num_classes, image_shape=shape,
                    digest=digest)
