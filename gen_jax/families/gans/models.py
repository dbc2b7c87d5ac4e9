"""Generators and discriminators of the MLP GAN and DCGAN, and the pieces every model shares.

``config.model.name``: 'mlp' | 'dcgan' here; 'stylegan' (``stylegan.py``) and 'progan' (``progan.py``).

Every generator maps ``z`` [B, latent_dim] (and ``labels`` [B] for a conditional model) to a
*canvas* [B, H', W', C] (or points [B, D]); every discriminator maps a canvas (or points) to
features, and ``DiscriminatorHead`` turns them into one logit per example. A conditional model
(``config.model.num_classes`` > 0) is a cGAN: G sees a learned label embedding concatenated to z,
D is a projection discriminator (Miyato & Koyama 2018): ``logit = psi(h) + <embed(y), h>``.

Discriminator layers can be spectrally normalised (``config.gan.spectral_norm``; Miyato et al.
2018): ``sn(layer)`` wraps them in ``flax.linen.SpectralNorm`` with one power iteration per D
update; its vectors live in the 'spectral' collection (``state.extra['d_sn']``).
"""
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gen_jax.nn.conv_transpose import ConvTranspose
from gen_jax.nn.normalization import minibatch_stddev

MODELS = ('mlp', 'dcgan', 'stylegan', 'progan')
UPSAMPLING = ('transpose', 'nearest')
G_NORMS = ('batch', 'none')
D_NORMS = ('none', 'layer')


def leaky_relu(x: jax.Array) -> jax.Array:
  return nn.leaky_relu(x, 0.2)


class SpectralNormed(nn.Module):
  """Applies ``layer`` with its kernel divided by its largest singular value when ``enabled``
  (power iteration, vectors updated only when ``update``); otherwise the layer as it is."""
  layer: nn.Module
  enabled: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, update: bool = False) -> jax.Array:
    if not self.enabled:
      return self.layer(x)
    return nn.SpectralNorm(self.layer, collection_name='spectral')(x, update_stats=update)


class ConditionalLatent(nn.Module):
  """``z`` [B, Z] -> ``[z, embed(labels)]`` [B, Z + E] for a conditional generator (``z`` unchanged when
  ``num_classes`` is 0)."""
  num_classes: int = 0
  embed_dim: int = 32

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None) -> jax.Array:
    if not self.num_classes:
      return z
    if labels is None:
      raise ValueError('a conditional generator needs labels.')
    e = nn.Embed(self.num_classes, self.embed_dim, name='label_embed')(labels.astype(jnp.int32))
    return jnp.concatenate([z, e.astype(z.dtype)], axis=-1)


class DiscriminatorHead(nn.Module):
  """Features ``h`` [B, F] -> logits [B]: ``dense(h)``, plus ``<embed(y), h>`` for a projection
  discriminator (``num_classes`` > 0)."""
  num_classes: int = 0
  spectral_norm: bool = False

  @nn.compact
  def __call__(self, h: jax.Array, labels: jax.Array | None, update: bool = False) -> jax.Array:
    h = h.astype(jnp.float32)
    out = SpectralNormed(nn.Dense(1, name='out'), self.spectral_norm)(h, update)[:, 0]
    if self.num_classes:
      if labels is None:
        raise ValueError('a projection discriminator needs labels.')
      embed = nn.Embed(self.num_classes, h.shape[-1], name='projection')
      out = out + jnp.sum(embed(labels.astype(jnp.int32)) * h, axis=-1)
    return out


class MLPGenerator(nn.Module):
  """z -> ``hidden`` dense layers (ReLU) -> prod(out_shape) values, reshaped; ``out_activation``
  'tanh' | 'sigmoid' | 'none' (images in [-1, 1] / [0, 1], points)."""
  out_shape: tuple[int, ...]
  hidden: Sequence[int] = (256, 256)
  out_activation: str = 'none'
  num_classes: int = 0
  embed_dim: int = 32
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None, train: bool = False) -> jax.Array:
    h = ConditionalLatent(self.num_classes, self.embed_dim)(z, labels).astype(self.dtype)
    for f in self.hidden:
      h = nn.relu(nn.Dense(f, dtype=self.dtype)(h))
    size = 1
    for s in self.out_shape:
      size *= s
    x = nn.Dense(size, dtype=jnp.float32)(h).reshape((z.shape[0],) + tuple(self.out_shape))
    return output_activation(x, self.out_activation)


def output_activation(x: jax.Array, name: str) -> jax.Array:
  if name == 'tanh':
    return jnp.tanh(x)
  if name == 'sigmoid':
    return jax.nn.sigmoid(x)
  return x


class MLPDiscriminator(nn.Module):
  """Flattened input -> ``hidden`` dense layers (LeakyReLU 0.2) -> features -> ``DiscriminatorHead``.
  ``minibatch_std`` appends the minibatch standard deviation of the last hidden layer's features."""
  hidden: Sequence[int] = (256, 256)
  num_classes: int = 0
  spectral_norm: bool = False
  minibatch_std: bool = False
  mbstd_group: int = 4
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None, update: bool = False) -> jax.Array:
    h = x.reshape(x.shape[0], -1).astype(self.dtype)
    for i, f in enumerate(self.hidden):
      if self.minibatch_std and i == len(self.hidden) - 1:
        h = minibatch_stddev(h, self.mbstd_group)
      h = leaky_relu(SpectralNormed(nn.Dense(f, dtype=self.dtype), self.spectral_norm)(h, update))
    return DiscriminatorHead(self.num_classes, self.spectral_norm)(h, labels, update)


class DCGANGenerator(nn.Module):
  """DCGAN generator (Radford et al. 2016): z -> dense to a (H / 2^n) x (W / 2^n) x features[0] map,
  then n = len(features) upsamplings by 2, to ``features[1:]`` channels and finally C, each followed
  by batch norm and ReLU except the last, which ends in ``out_activation``.

  ``upsample``: 'transpose' (4x4 stride-2 transposed convolution, as in the paper) or 'nearest'
  (nearest-neighbour upsampling then a 3x3 convolution, free of checkerboard artefacts).
  ``norm``: 'batch' (running statistics in the 'batch_stats' collection) or 'none'.
  """
  out_shape: tuple[int, int, int]
  features: Sequence[int] = (64, 32)
  upsample: str = 'transpose'
  norm: str = 'batch'
  out_activation: str = 'tanh'
  num_classes: int = 0
  embed_dim: int = 32
  dtype: Any = jnp.float32

  def _norm(self, h: jax.Array, train: bool) -> jax.Array:
    if self.norm == 'batch':
      return nn.BatchNorm(use_running_average=not train, momentum=0.9, dtype=self.dtype)(h)
    return h

  def _up(self, h: jax.Array, features: int, dtype: Any) -> jax.Array:
    if self.upsample == 'transpose':
      # = nn.ConvTranspose (same parameters and numbers), as a sub-pixel convolution: faster on XLA:CPU
      return ConvTranspose(features, (4, 4), strides=(2, 2), padding='SAME', dtype=dtype)(h)
    h = jnp.repeat(jnp.repeat(h, 2, axis=1), 2, axis=2)
    return nn.Conv(features, (3, 3), dtype=dtype)(h)

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None, train: bool = False) -> jax.Array:
    n = len(self.features)
    height, width, channels = self.out_shape
    h0, w0 = height // 2 ** n, width // 2 ** n
    h = ConditionalLatent(self.num_classes, self.embed_dim)(z, labels).astype(self.dtype)
    h = nn.Dense(h0 * w0 * self.features[0], dtype=self.dtype)(h).reshape(z.shape[0], h0, w0, self.features[0])
    h = nn.relu(self._norm(h, train))
    for f in self.features[1:]:
      h = nn.relu(self._norm(self._up(h, f, self.dtype), train))
    x = self._up(h, channels, jnp.float32)
    return output_activation(x.astype(jnp.float32), self.out_activation)


class DCGANDiscriminator(nn.Module):
  """DCGAN discriminator: per entry of ``features`` a 4x4 stride-2 convolution (halving H and W)
  and LeakyReLU 0.2 (``norm`` 'layer' after every convolution but the first), then the flattened
  features (with the minibatch std channel when ``minibatch_std``) -> ``DiscriminatorHead``.

  No batch norm: a per-example gradient penalty and the per-example eval need a D whose output
  for one example does not depend on the rest of the batch.
  """
  features: Sequence[int] = (32, 64)
  norm: str = 'none'
  num_classes: int = 0
  spectral_norm: bool = False
  minibatch_std: bool = False
  mbstd_group: int = 4
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None, update: bool = False) -> jax.Array:
    h = x.astype(self.dtype)
    for i, f in enumerate(self.features):
      h = SpectralNormed(nn.Conv(f, (4, 4), strides=(2, 2), padding='SAME', dtype=self.dtype),
                         self.spectral_norm)(h, update)
      if self.norm == 'layer' and i > 0:
        h = nn.LayerNorm(dtype=self.dtype)(h)
      h = leaky_relu(h)
    if self.minibatch_std:
      h = minibatch_stddev(h, self.mbstd_group)
    return DiscriminatorHead(self.num_classes, self.spectral_norm)(h.reshape(h.shape[0], -1), labels, update)
