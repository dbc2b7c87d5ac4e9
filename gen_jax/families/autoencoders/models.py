"""Encoders and decoders of the autoencoder family (Flax Linen; pure ``apply``).

Shapes: images ``x`` are ``[B, H, W, C]``; latents ``z`` are ``[B, latent_dim]``.
Decoders return the parameters of p(x|z) as an image-shaped array (Bernoulli logits or
Gaussian means) and, for a Gaussian with learned variance, a log-scale.
"""
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from gen_jax.nn.layers import depth_to_space

DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}


class ConvEncoder(nn.Module):
  """Per entry of ``features``: a 4x4 stride-2 convolution (halving H and W) and ``extra_convs``
  3x3 convolutions; then a dense layer of ``hidden`` units and a dense head of size ``out_dim``."""
  features: Sequence[int]
  out_dim: int
  hidden: int = 256
  dtype: Any = jnp.float32
  extra_convs: int = 0

  @nn.compact
  def __call__(self, x):
    h = x.astype(self.dtype)
    for f in self.features:
      h = nn.gelu(nn.Conv(f, (4, 4), strides=(2, 2), dtype=self.dtype)(h))
      for _ in range(self.extra_convs):
        h = nn.gelu(nn.Conv(f, (3, 3), dtype=self.dtype)(h))
    h = h.reshape(h.shape[0], -1)
    h = nn.gelu(nn.Dense(self.hidden, dtype=self.dtype)(h))
    return nn.Dense(self.out_dim, dtype=jnp.float32)(h)


class ConvDecoder(nn.Module):
  """Dense to a ``(H / 2^n, W / 2^n)`` map, then ``n`` upsamplings (a 3x3 convolution to 4x the
  channels and ``depth_to_space``, each followed by ``extra_convs`` 3x3 convolutions), and a 3x3
  convolution to the C output channels."""
  features: Sequence[int]          # the encoder's features; used in reverse order
  out_shape: tuple[int, int, int]  # (H, W, C)
  hidden: int = 256
  dtype: Any = jnp.float32
  extra_convs: int = 0

  @nn.compact
  def __call__(self, z):
    h_out, w_out, c_out = self.out_shape
    n = len(self.features)
    h0, w0 = h_out // 2 ** n, w_out // 2 ** n
    h = nn.gelu(nn.Dense(self.hidden, dtype=self.dtype)(z.astype(self.dtype)))
    h = nn.gelu(nn.Dense(h0 * w0 * self.features[-1], dtype=self.dtype)(h))
    h = h.reshape(z.shape[0], h0, w0, self.features[-1])
    for f in reversed(self.features):
      h = nn.gelu(depth_to_space(nn.Conv(4 * f, (3, 3), dtype=self.dtype)(h)))
      for _ in range(self.extra_convs):
        h = nn.gelu(nn.Conv(f, (3, 3), dtype=self.dtype)(h))
    return nn.Conv(c_out, (3, 3), dtype=jnp.float32)(h)


class MLPEncoder(nn.Module):
  hidden: Sequence[int]
  out_dim: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    h = x.reshape(x.shape[0], -1).astype(self.dtype)
    for f in self.hidden:
      h = nn.gelu(nn.Dense(f, dtype=self.dtype)(h))
    return nn.Dense(self.out_dim, dtype=jnp.float32)(h)


class MLPDecoder(nn.Module):
  hidden: Sequence[int]
  out_shape: tuple[int, int, int]
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z):
    h = z.astype(self.dtype)
    for f in reversed(self.hidden):
      h = nn.gelu(nn.Dense(f, dtype=self.dtype)(h))
    size = self.out_shape[0] * self.out_shape[1] * self.out_shape[2]
    return nn.Dense(size, dtype=jnp.float32)(h).reshape((z.shape[0],) + tuple(self.out_shape))


class VAE(nn.Module):
  """Gaussian-posterior VAE: ``encode`` -> (mean, log-variance), ``decode`` -> p(x|z) parameters.

  ``learned_scale`` adds a per-pixel log standard deviation for a Gaussian decoder.
  """
  encoder: nn.Module
  decoder: nn.Module
  latent_dim: int
  learned_scale: bool = False

  def setup(self):
    if self.learned_scale:
      self.log_scale = self.param('log_scale', nn.initializers.zeros, self.decoder.out_shape)

  def encode(self, x):
    h = self.encoder(x)
    mean, logvar = jnp.split(h, 2, axis=-1)
    return mean, logvar

  def decode(self, z):
    out = self.decoder(z)
    scale = self.log_scale if self.learned_scale else None
    return out, scale

  def __call__(self, x, z_noise):
    """Full pass with externally supplied standard-normal noise ``z_noise`` [B, latent]."""
    mean, logvar = self.encode(x)
    z = mean + jnp.exp(0.5 * logvar) * z_noise
    out, scale = self.decode(z)
    return out, scale, mean, logvar, z


MODELS = ('conv_vae', 'mlp_vae')


def build_vae(model_cfg: Any, image_shape: tuple[int, int, int]) -> VAE:
  """The VAE named by ``config.model.name`` for images of ``image_shape`` (H, W, C)."""
  dtype = DTYPES[model_cfg.get('dtype', 'float32')]
  latent = int(model_cfg.latent_dim)
  learned = model_cfg.get('likelihood', 'bernoulli') == 'gaussian' and model_cfg.get('learn_scale', False)
  if model_cfg.name == 'conv_vae':
    feats = tuple(model_cfg.get('features', (32, 64)))
    hidden = int(model_cfg.get('hidden', 256))
    extra = int(model_cfg.get('extra_convs', 0))
    enc = ConvEncoder(feats, 2 * latent, hidden, dtype, extra)
    dec = ConvDecoder(feats, tuple(image_shape), hidden, dtype, extra)
  else:
    hidden = tuple(model_cfg.get('mlp_hidden', (512, 256)))
    enc = MLPEncoder(hidden, 2 * latent, dtype)
    dec = MLPDecoder(hidden, tuple(image_shape), dtype)
  return VAE(enc, dec, latent, learned)
