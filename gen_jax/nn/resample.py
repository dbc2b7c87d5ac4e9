"""Resampling of NHWC images by whole factors: nearest-neighbour or bilinear up, average-pool down.

Used by the growing and style-based GANs (ProGAN fades between resolutions with exactly these
operators; an average pool of a nearest-neighbour upsampling returns the original image). StyleGAN
upsamples bilinearly (``upsample2x_linear``: its skip generator sums RGB images of every resolution,
and nearest-neighbour copies of the 4x4 and 8x8 ones would paint blocks into the output).
"""
import jax
import jax.numpy as jnp


def upsample2x(x: jax.Array) -> jax.Array:
  """[B, H, W, C] -> [B, 2H, 2W, C], nearest neighbour."""
  return resize_nearest(x, 2 * x.shape[1])


def upsample2x_linear(x: jax.Array) -> jax.Array:
  """[B, H, W, C] -> [B, 2H, 2W, C], bilinear with half-pixel centres and the edge pixels repeated
  (``jax.image.resize``'s 'linear'): each output pixel is 3/4 of its source pixel plus 1/4 of the
  neighbour on its side, per axis (StyleGAN2's separable [1, 3, 3, 1] / 4 upsampling filter, with the
  border clamped instead of zero-padded)."""
  b, h, w, c = x.shape
  return jax.image.resize(x, (b, 2 * h, 2 * w, c), 'linear')


def downsample2x(x: jax.Array) -> jax.Array:
  """[B, H, W, C] -> [B, H/2, W/2, C], 2x2 average pooling (H and W even)."""
  return resize_average(x, x.shape[1] // 2)


def resize_nearest(x: jax.Array, size: int) -> jax.Array:
  """Square images of side ``s`` to side ``size`` (a multiple of ``s``) by repeating pixels."""
  f = size // x.shape[1]
  if f * x.shape[1] != size:
    raise ValueError(f'resize_nearest: {size} is not a multiple of the image side {x.shape[1]}.')
  return x if f == 1 else jnp.repeat(jnp.repeat(x, f, axis=1), f, axis=2)


def resize_average(x: jax.Array, size: int) -> jax.Array:
  """Square images of side ``s`` (a multiple of ``size``) to side ``size`` by average pooling."""
  b, h, w, c = x.shape
  f = h // size
  if f * size != h or w % f:
    raise ValueError(f'resize_average: image side {h} is not a multiple of {size}.')
  return x if f == 1 else x.reshape(b, h // f, f, w // f, f, c).mean(axis=(2, 4))
