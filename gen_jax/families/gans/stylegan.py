"""StyleGAN (Karras et al. 2019, 2020), small: a mapping network, modulated/demodulated
convolutions, per-layer noise, a learned constant input, skip-connection RGB outputs, style mixing,
the truncation trick, and a residual discriminator with minibatch std. Every layer has an
equalized learning rate (``gen_jax.nn.equalized``).

Resolutions run 4, 8, ..., ``resolution`` (a power of two); ``channels[i]`` is the width at
``4 * 2**i`` for generator and discriminator alike. The generator consumes
``num_ws = 2 * len(channels)`` styles: two per resolution (one per 3x3 modulated convolution; the
4x4 block has one convolution and the RGB layer of each resolution reads the next style).

Shapes: ``z`` [B, Z]; ``w`` [B, W]; ``ws`` [B, num_ws, W]; images [B, R, R, C].
"""
import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gen_jax.families.gans.models import DiscriminatorHead, SpectralNormed
from gen_jax.nn.equalized import SQRT2, EqualizedConv, EqualizedDense, ModulatedConv
from gen_jax.nn.normalization import minibatch_stddev, pixel_norm
from gen_jax.nn.resample import downsample2x, upsample2x, upsample2x_linear

NOISE_MODES = ('random', 'const', 'none')
UPSAMPLE_MODES = ('linear', 'nearest')


def upsampler(mode: str):
  """The generator's 2x upsampling: 'linear' (bilinear, StyleGAN2's low-pass [1, 3, 3, 1] filter) or
  'nearest' (pixel copies: the skip generator's 4x4 and 8x8 RGB images then add blocks to the output)."""
  if mode not in UPSAMPLE_MODES:
    raise ValueError(f'unknown upsampling {mode!r}; allowed: {", ".join(UPSAMPLE_MODES)}.')
  return upsample2x_linear if mode == 'linear' else upsample2x


def lrelu_gain(x: jax.Array) -> jax.Array:
  """LeakyReLU(0.2) times sqrt(2) (StyleGAN2's activation gain: keeps the signal's magnitude)."""
  return nn.leaky_relu(x, 0.2) * SQRT2


def num_ws(channels: Sequence[int]) -> int:
  return 2 * len(channels)


class MappingNetwork(nn.Module):
  """z (pixel-normalised, concatenated with a label embedding for a conditional model) ->
  ``num_layers`` equalized dense layers of width ``w_dim`` with learning-rate multiplier ``lr_mul``."""
  w_dim: int = 64
  num_layers: int = 8
  lr_mul: float = 0.01
  num_classes: int = 0
  embed_dim: int = 32

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None) -> jax.Array:
    h = pixel_norm(z.astype(jnp.float32))
    if self.num_classes:
      if labels is None:
        raise ValueError('a conditional mapping network needs labels.')
      e = nn.Embed(self.num_classes, self.embed_dim, name='label_embed')(labels.astype(jnp.int32))
      h = jnp.concatenate([h, pixel_norm(e)], axis=-1)
    for i in range(self.num_layers):
      h = lrelu_gain(EqualizedDense(self.w_dim, gain=1.0, lr_mul=self.lr_mul, name=f'fc{i}')(h))
    return h


class StyleLayer(nn.Module):
  """Modulated 3x3 convolution (optionally after a 2x upsampling, ``upsample_mode``), per-pixel noise
  times a learned strength (initialised 0), bias and activation. ``noise`` [B, H, W, 1] or None."""
  features: int
  upsample: bool = False
  upsample_mode: str = 'linear'

  @nn.compact
  def __call__(self, x: jax.Array, w: jax.Array, noise: jax.Array | None) -> jax.Array:
    if self.upsample:
      x = upsampler(self.upsample_mode)(x)
    y = ModulatedConv(self.features, 3, name='conv')(x, w)
    strength = self.param('noise_strength', nn.initializers.zeros, ())
    if noise is not None:
      y = y + strength * noise
    b = self.param('bias', nn.initializers.zeros, (self.features,))
    return lrelu_gain(y + b)


class ToRGB(nn.Module):
  """Modulated 1x1 convolution without demodulation, plus bias: features -> C channels."""
  channels: int

  @nn.compact
  def __call__(self, x: jax.Array, w: jax.Array) -> jax.Array:
    y = ModulatedConv(self.channels, 1, demodulate=False, name='conv')(x, w)
    return y + self.param('bias', nn.initializers.zeros, (self.channels,))


class SynthesisNetwork(nn.Module):
  """ws [B, num_ws, W] -> images [B, R, R, C] (linear output, skip architecture: the RGB outputs of
  all resolutions are upsampled, ``upsample_mode``, and summed)."""
  channels: Sequence[int]
  out_channels: int = 1
  upsample_mode: str = 'linear'

  @nn.compact
  def __call__(self, ws: jax.Array, noise_rng: jax.Array | None, noise_mode: str = 'random') -> jax.Array:
    b = ws.shape[0]
    const = self.param('const', nn.initializers.normal(1.0), (4, 4, self.channels[0]))
    x = jnp.broadcast_to(const, (b, 4, 4, self.channels[0]))
    rgb = None
    for i, ch in enumerate(self.channels):
      res = 4 * 2 ** i
      convs = [(False, ws[:, 2 * i])] if i == 0 else [(True, ws[:, 2 * i - 1]), (False, ws[:, 2 * i])]
      for j, (up, w) in enumerate(convs):
        x = StyleLayer(ch, upsample=up, upsample_mode=self.upsample_mode, name=f'b{res}_conv{j}')(
            x, w, self._noise(noise_rng, noise_mode, b, res, j))
      y = ToRGB(self.out_channels, name=f'b{res}_torgb')(x, ws[:, min(2 * i + 1, ws.shape[1] - 1)])
      rgb = y if rgb is None else upsampler(self.upsample_mode)(rgb) + y
    return rgb

  def _noise(self, rng: jax.Array | None, mode: str, b: int, res: int, j: int) -> jax.Array | None:
    if mode == 'none':
      return None
    if mode == 'const':  # one fixed noise image per layer, the same for every sample and call
      return jax.random.normal(jax.random.key(res * 10 + j), (1, res, res, 1))
    if rng is None:
      raise ValueError("noise_mode='random' needs a noise key.")
    return jax.random.normal(jax.random.fold_in(rng, res * 10 + j), (b, res, res, 1))


class StyleGenerator(nn.Module):
  """Mapping + synthesis; ``__call__`` maps z to ws (one w for every layer) and synthesises."""
  channels: Sequence[int]
  out_channels: int = 1
  w_dim: int = 64
  mapping_layers: int = 8
  mapping_lr_mul: float = 0.01
  num_classes: int = 0
  embed_dim: int = 32
  upsample_mode: str = 'linear'

  def setup(self):
    self.mapping = MappingNetwork(self.w_dim, self.mapping_layers, self.mapping_lr_mul, self.num_classes,
                                  self.embed_dim)
    self.synthesis = SynthesisNetwork(self.channels, self.out_channels, self.upsample_mode)

  def map(self, z: jax.Array, labels: jax.Array | None = None) -> jax.Array:
    return self.mapping(z, labels)

  def synthesize(self, ws: jax.Array, noise_rng: jax.Array | None = None, noise_mode: str = 'random') -> jax.Array:
    return self.synthesis(ws, noise_rng, noise_mode)

  def __call__(self, z: jax.Array, labels: jax.Array | None = None, noise_rng: jax.Array | None = None,
               noise_mode: str = 'random') -> jax.Array:
    w = self.map(z, labels)
    ws = jnp.repeat(w[:, None, :], num_ws(self.channels), axis=1)
    return self.synthesize(ws, noise_rng, noise_mode)


def truncate(ws: jax.Array, w_avg: jax.Array, psi: float | jax.Array) -> jax.Array:
  """The truncation trick: ``w_avg + psi (w - w_avg)`` (psi = 1: unchanged; psi = 0: the mean w)."""
  return w_avg + psi * (ws - w_avg)


def mix_styles(w1: jax.Array, w2: jax.Array, rng: jax.Array, prob: float, n_ws: int) -> jax.Array:
  """Style mixing regularisation: ws [B, n_ws, W] taking w1 before a random crossover layer and w2
  after it, for a fraction ``prob`` of the examples (the others use w1 everywhere)."""
  k_mix, k_cut = jax.random.split(rng)
  b = w1.shape[0]
  cutoff = jax.random.randint(k_cut, (b,), 1, n_ws)
  cutoff = jnp.where(jax.random.uniform(k_mix, (b,)) < prob, cutoff, n_ws)
  layer = jnp.arange(n_ws)[None, :, None]
  return jnp.where(layer < cutoff[:, None, None], w1[:, None, :], w2[:, None, :])


class DBlock(nn.Module):
  """Residual discriminator block: two 3x3 convolutions and a 2x average-pool downsampling, plus a
  1x1 skip on the downsampled input, summed and divided by sqrt(2) (StyleGAN2 config E/F)."""
  features: int
  out_features: int
  equalized: bool = True
  spectral_norm: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, update: bool) -> jax.Array:
    conv = lambda f, k, **kw: SpectralNormed(EqualizedConv(f, k, gain=1.0, equalized=self.equalized, **kw),
                                             self.spectral_norm)
    skip = conv(self.out_features, 1, use_bias=False)(downsample2x(x), update)
    h = lrelu_gain(conv(self.features, 3)(x, update))
    h = lrelu_gain(conv(self.out_features, 3)(h, update))
    return (downsample2x(h) + skip) / SQRT2


class StyleDiscriminator(nn.Module):
  """Residual discriminator: 1x1 from-RGB at the full resolution, a ``DBlock`` per halving down to
  4x4, minibatch std (groups of ``mbstd_group``), a 3x3 convolution, a dense layer, and the head."""
  channels: Sequence[int]
  num_classes: int = 0
  mbstd_group: int = 4
  mbstd_features: int = 1
  spectral_norm: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None, update: bool = False) -> jax.Array:
    eq = not self.spectral_norm
    sn = lambda layer: SpectralNormed(layer, self.spectral_norm)
    n = len(self.channels)
    h = lrelu_gain(sn(EqualizedConv(self.channels[-1], 1, gain=1.0, equalized=eq, name='fromrgb'))(
        x.astype(jnp.float32), update))
    for i in reversed(range(1, n)):
      h = DBlock(self.channels[i], self.channels[i - 1], eq, self.spectral_norm, name=f'b{4 * 2 ** i}')(h, update)
    h = minibatch_stddev(h, self.mbstd_group, self.mbstd_features)
    h = lrelu_gain(sn(EqualizedConv(self.channels[0], 3, gain=1.0, equalized=eq, name='b4_conv'))(h, update))
    h = h.reshape(h.shape[0], -1)
    h = lrelu_gain(sn(EqualizedDense(self.channels[0], gain=1.0, equalized=eq, name='b4_fc'))(h, update))
    return DiscriminatorHead(self.num_classes, self.spectral_norm)(h, labels, update)


def num_resolutions(resolution: int) -> int:
  """4 -> 1, 8 -> 2, ..., 32 -> 4: the length ``channels`` must have."""
  return int(round(math.log2(resolution))) - 1


def build_generator(m: Any, out_channels: int) -> StyleGenerator:
  return StyleGenerator(tuple(m.channels), out_channels, int(m.get('w_dim', 64)), int(m.get('mapping_layers', 8)),
                        float(m.get('mapping_lr_mul', 0.01)), int(m.get('num_classes', 0) or 0),
                        int(m.get('embed_dim', 32)), m.get('upsample', 'linear'))


def build_discriminator(m: Any, spectral_norm: bool) -> StyleDiscriminator:
  return StyleDiscriminator(tuple(m.channels), int(m.get('num_classes', 0) or 0), int(m.get('mbstd_group', 4)),
                            int(m.get('mbstd_features', 1)), spectral_norm)
