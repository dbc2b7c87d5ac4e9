"""Encoders, decoders and the autoencoder module of the family (Flax Linen; pure ``apply``).

Shapes: images ``x`` are ``[B, H, W, C]``; latents ``z`` are ``[B, latent_dim]`` (one-hot
``[B, latent_dim, num_categories]`` for a categorical latent); labels ``y`` are int32 ``[B]``.
Decoders return the parameters of p(x|z) as an image-shaped array (Bernoulli logits or
Gaussian means) and, for a Gaussian with learned variance, a per-pixel log standard deviation.

``config.model.name`` is ``<arch>_<kind>``: arch 'conv' | 'mlp'; kind
  'ae'    deterministic autoencoder (z = encoder(x))
  'dae'   denoising autoencoder (an 'ae' trained on corrupted inputs against clean targets)
  'vae'   variational autoencoder (posterior and prior from ``config.model.posterior/prior``)
  'cvae'  conditional VAE: encoder q(z|x, y) and decoder p(x|z, y) see the one-hot label y
"""
import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gen_jax.families.autoencoders import latents
from gen_jax.nn.layers import compute_dtype, depth_to_space

ARCHS = ('conv', 'mlp')
KINDS = ('ae', 'dae', 'vae', 'cvae')
MODELS = tuple(f'{a}_{k}' for k in KINDS for a in ARCHS)


def model_kind(name: str) -> str:
  """'ae' | 'dae' | 'vae' | 'cvae' of a model name such as 'conv_vae'."""
  return name.split('_', 1)[1]


def is_variational(name: str) -> bool:
  return model_kind(name) in ('vae', 'cvae')


def _append(h: jax.Array, cond: jax.Array | None) -> jax.Array:
  return h if cond is None else jnp.concatenate([h, cond.astype(h.dtype)], axis=-1)


class ConvEncoder(nn.Module):
  """Per entry of ``features``: a 4x4 stride-2 convolution (halving H and W) and ``extra_convs``
  3x3 convolutions; then a dense layer of ``hidden`` units and a dense head of size ``out_dim``.
  ``cond`` [B, C_y] (optional) is appended to the flattened features before the dense layers."""
  features: Sequence[int]
  out_dim: int
  hidden: int = 256
  dtype: Any = jnp.float32
  extra_convs: int = 0

  @nn.compact
  def __call__(self, x, cond=None):
    h = x.astype(self.dtype)
    for f in self.features:
      h = nn.gelu(nn.Conv(f, (4, 4), strides=(2, 2), dtype=self.dtype)(h))
      for _ in range(self.extra_convs):
        h = nn.gelu(nn.Conv(f, (3, 3), dtype=self.dtype)(h))
    h = _append(h.reshape(h.shape[0], -1), cond)
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
  """Flattened image (and ``cond``) -> dense layers of ``hidden`` units -> ``out_dim``."""
  hidden: Sequence[int]
  out_dim: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, cond=None):
    h = _append(x.reshape(x.shape[0], -1), cond).astype(self.dtype)
    for f in self.hidden:
      h = nn.gelu(nn.Dense(f, dtype=self.dtype)(h))
    return nn.Dense(self.out_dim, dtype=jnp.float32)(h)


class MLPDecoder(nn.Module):
  """z -> dense layers of ``reversed(hidden)`` units -> an image of ``out_shape``."""
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


class Autoencoder(nn.Module):
  """Encoder + decoder (+ learned prior parameters) of every model of the family.

  ``posterior``: 'none' (deterministic: ``encode`` returns ``(z,)``) or one of
  ``latents.POSTERIORS`` (``encode`` returns the posterior parameters, see ``latents``).
  ``num_classes > 0`` conditions encoder and decoder on the one-hot label (a CVAE).
  ``learned_scale`` adds a per-pixel log standard deviation for a Gaussian decoder, initialised to
  ``init_log_scale`` (``log(config.model.decoder_scale)``: training starts from the fixed-std model).
  ``prior='mog'`` adds the mixture's parameters ``mog_means`` [M, D] (initialised N(0, 1)),
  ``mog_logvars`` [M, D] and ``mog_logits`` [M] (both initialised to 0).
  """
  encoder: nn.Module
  decoder: nn.Module
  latent_dim: int
  learned_scale: bool = False
  posterior: str = 'gaussian'
  prior: str = 'gaussian'
  num_categories: int = 0
  mog_components: int = 0
  num_classes: int = 0
  init_log_scale: float = 0.0

  def setup(self):
    if self.learned_scale:
      self.log_scale = self.param('log_scale', nn.initializers.constant(self.init_log_scale),
                                  self.decoder.out_shape)
    if self.prior == 'mog':
      m, d = self.mog_components, self.latent_dim
      self.mog_means = self.param('mog_means', nn.initializers.normal(1.0), (m, d))
      self.mog_logvars = self.param('mog_logvars', nn.initializers.zeros, (m, d))
      self.mog_logits = self.param('mog_logits', nn.initializers.zeros, (m,))

  def _cond(self, y):
    if not self.num_classes:
      return None
    return jax.nn.one_hot(y, self.num_classes, dtype=jnp.float32)

  def encode(self, x, y=None):
    """Posterior parameters of q(z|x[, y]) (a tuple; see ``latents``), or ``(z,)`` for an AE."""
    h = self.encoder(x, self._cond(y))
    if self.posterior == 'none':
      return (h,)
    return latents.split_encoder_output(h, self.posterior, self.latent_dim, self.num_categories)

  def decode(self, z, y=None):
    """(p(x|z) parameters [B, H, W, C], log-scale [H, W, C] or None); z [B, D] or one-hot [B, D, K]."""
    z = _append(z.reshape(z.shape[0], -1), self._cond(y))
    out = self.decoder(z)
    scale = self.log_scale if self.learned_scale else None
    return out, scale

  def prior_params(self) -> dict:
    """Parameters of a learned prior ({} for a fixed one)."""
    if self.prior == 'mog':
      return {'means': self.mog_means, 'logvars': self.mog_logvars, 'logits': self.mog_logits}
    return {}

  def __call__(self, x, y=None):
    """Encoder, decoder (at the posterior mean) and prior: touches every parameter (for ``init``)."""
    params = self.encode(x, y)
    if self.posterior == 'none':
      z = params[0]
    else:
      z = latents.posterior_mean(self.posterior, params)
    out, scale = self.decode(z, y)
    return out, scale, params, self.prior_params()


def build_model(model_cfg: Any, image_shape: tuple[int, int, int]) -> Autoencoder:
  """The model named by ``config.model.name`` for images of ``image_shape`` (H, W, C)."""
  dtype = compute_dtype(model_cfg.get('dtype', 'float32'))
  latent = int(model_cfg.latent_dim)
  variational = is_variational(model_cfg.name)
  posterior = model_cfg.get('posterior', 'gaussian') if variational else 'none'
  num_categories = int(model_cfg.get('num_categories', 10)) if posterior == 'categorical' else 0
  out_dim = latents.encoder_output_dim(posterior, latent, num_categories) if variational else latent
  learned = model_cfg.get('likelihood', 'bernoulli') == 'gaussian' and model_cfg.get('learn_scale', False)
  if model_cfg.name.startswith('conv_'):
    feats = tuple(model_cfg.get('features', (32, 64)))
    hidden = int(model_cfg.get('hidden', 256))
    extra = int(model_cfg.get('extra_convs', 0))
    enc = ConvEncoder(feats, out_dim, hidden, dtype, extra)
    dec = ConvDecoder(feats, tuple(image_shape), hidden, dtype, extra)
  else:
    hidden = tuple(model_cfg.get('mlp_hidden', (512, 256)))
    enc = MLPEncoder(hidden, out_dim, dtype)
    dec = MLPDecoder(hidden, tuple(image_shape), dtype)
  prior = model_cfg.get('prior', 'gaussian') if variational else 'none'
  return Autoencoder(enc, dec, latent, learned, posterior, prior, num_categories,
                     int(model_cfg.get('mog_components', 10)) if prior == 'mog' else 0,
                     int(model_cfg.get('num_classes', 10)) if model_kind(model_cfg.name) == 'cvae' else 0,
                     math.log(float(model_cfg.get('decoder_scale', 0.1))) if learned else 0.0)


def data_shape(config: Any) -> tuple[int, int, int]:
  """(H, W, C) of the images, ``config.model.data_shape`` (checked against the dataset by validate_config)."""
  return tuple(config.model.data_shape)


def get_model(config: Any) -> Autoencoder:
  """The Flax module named by ``config.model``."""
  return build_model(config.model, data_shape(config))
