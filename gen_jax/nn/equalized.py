"""Equalized learning-rate layers (Karras et al. 2018, ProGAN) and the modulated convolution (StyleGAN2).

Equalized learning rate: a weight is stored as ``N(0, 1 / lr_mul)`` and multiplied at run time by
``lr_mul * gain / sqrt(fan_in)`` (He's constant for ``gain = sqrt(2)``), a bias is stored divided by
``lr_mul`` and multiplied by it. The forward pass is that of He-initialised weights, but Adam's
scale-free updates now change every layer at the same relative rate, and ``lr_mul`` < 1 slows a
layer down (StyleGAN's mapping network uses 0.01).

With ``equalized=False`` the same layers keep the scale in the stored weight instead (plain He
initialisation, runtime gain 1): used under spectral normalisation, which divides the stored weight
by its largest singular value anyway.

Shapes: dense ``x`` [..., fan_in] -> [..., features]; convolutions are NHWC, 'SAME' padded,
stride 1 (the GAN networks change resolution with explicit up/downsampling), kernels
[k, k, C_in, C_out].
"""
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


SQRT2 = math.sqrt(2.0)


def he_constant(fan_in: int, gain: float = SQRT2) -> float:
  """``gain / sqrt(fan_in)``: the standard deviation of He initialisation (gain sqrt(2) for ReLUs)."""
  return gain / math.sqrt(fan_in)


def _weight(module: nn.Module, shape: tuple[int, ...], fan_in: int, gain: float, lr_mul: float,
            equalized: bool) -> jax.Array:
  """The runtime weight: N(0, 1/lr_mul) * lr_mul * he_constant, or a stored He-initialised weight."""
  c = he_constant(fan_in, gain)
  if equalized:
    w = module.param('kernel', nn.initializers.normal(1.0 / lr_mul), shape, jnp.float32)
    return w * (c * lr_mul)
  return module.param('kernel', nn.initializers.normal(c), shape, jnp.float32)


class EqualizedDense(nn.Module):
  """Dense layer with equalized learning rate (module docstring); ``bias_init`` is the bias's
  initial runtime value (StyleGAN's style affines start at 1)."""
  features: int
  gain: float = SQRT2
  lr_mul: float = 1.0
  use_bias: bool = True
  bias_init: float = 0.0
  equalized: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    fan_in = x.shape[-1]
    w = _weight(self, (fan_in, self.features), fan_in, self.gain, self.lr_mul, self.equalized)
    y = jnp.dot(x.astype(self.dtype), w.astype(self.dtype))
    if self.use_bias:
      mul = self.lr_mul if self.equalized else 1.0
      b = self.param('bias', nn.initializers.constant(self.bias_init / mul), (self.features,), jnp.float32)
      y = y + (b * mul).astype(self.dtype)
    return y


def conv2d(x: jax.Array, w: jax.Array) -> jax.Array:
  """NHWC 'SAME' stride-1 convolution with an HWIO kernel."""
  return jax.lax.conv_general_dilated(x, w.astype(x.dtype), (1, 1), 'SAME',
                                      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


class EqualizedConv(nn.Module):
  """k x k convolution with equalized learning rate (module docstring)."""
  features: int
  kernel_size: int = 3
  gain: float = SQRT2
  lr_mul: float = 1.0
  use_bias: bool = True
  equalized: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k, c_in = self.kernel_size, x.shape[-1]
    w = _weight(self, (k, k, c_in, self.features), k * k * c_in, self.gain, self.lr_mul, self.equalized)
    y = conv2d(x.astype(self.dtype), w)
    if self.use_bias:
      mul = self.lr_mul if self.equalized else 1.0
      b = self.param('bias', nn.initializers.zeros, (self.features,), jnp.float32)
      y = y + (b * mul).astype(self.dtype)
    return y


def modulated_weight_norm(w: jax.Array, styles: jax.Array, eps: float = 1e-8) -> jax.Array:
  """Demodulation coefficients [B, C_out]: ``1 / sqrt(sum_{kh, kw, i} (w[kh, kw, i, o] * s[b, i])^2 + eps)``."""
  return jax.lax.rsqrt(jnp.einsum('hwio,bi->bo', jnp.square(w), jnp.square(styles)) + eps)


class ModulatedConv(nn.Module):
  """StyleGAN2's modulated convolution (Karras et al. 2020, eq. 1-3), the non-fused form.

  ``__call__(x [B, H, W, C_in], w [B, W_dim]) -> [B, H', W', features]``. A style
  ``s = A(w)`` [B, C_in] (an equalized dense layer, bias initialised to 1) scales the input
  channels; the shared kernel (equalized, gain 1) convolves them; with ``demodulate`` each output
  channel of each example is divided by the norm of its effective kernel ``w * s``, so that
  unit-variance inputs give unit-variance outputs. Scaling the input and the output instead of the
  kernel is the same arithmetic as a per-example kernel and runs as one ordinary convolution.
  Upsampling, where a layer needs it, is the caller's (StyleGAN's ``StyleLayer``).
  """
  features: int
  kernel_size: int = 3
  demodulate: bool = True
  eps: float = 1e-8
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, w_latent: jax.Array) -> jax.Array:
    c_in, k = x.shape[-1], self.kernel_size
    styles = EqualizedDense(c_in, gain=1.0, bias_init=1.0, name='affine', dtype=jnp.float32)(w_latent)
    kernel = self.param('kernel', nn.initializers.normal(1.0), (k, k, c_in, self.features), jnp.float32)
    kernel = kernel * he_constant(k * k * c_in, 1.0)
    y = conv2d((x * styles[:, None, None, :].astype(x.dtype)).astype(self.dtype), kernel)
    if self.demodulate:
      y = y * modulated_weight_norm(kernel, styles, self.eps)[:, None, None, :].astype(y.dtype)
    return y
