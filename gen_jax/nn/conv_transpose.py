"""``flax.linen.ConvTranspose`` computed as a sub-pixel convolution where that is exact and faster.

A stride-2 transposed convolution with a 4x4 kernel and 'SAME' padding (DCGAN's upsampling layer) is, per
output phase (row parity, column parity), an ordinary 2x2 correlation of the input with every other tap of the
kernel: output pixel ``(2m + py, 2l + px)`` sums ``x[m - 1 + py + i, l - 1 + px + j] * W[py + 2i, px + 2j]``
over ``i, j`` in ``{0, 1}``. So one 2x2 'VALID' convolution of the input padded by one pixel, with the four
phase kernels side by side (``4 * features`` output channels), followed by interleaving the phases, gives the
same numbers with the same FLOPs (Shi et al. 2016's sub-pixel view of the deconvolution). XLA:CPU runs the
strided transposed convolution and its gradients far below peak (the lhs-dilated input is mostly zeros); the
dense 2x2 convolution does not.

``ConvTranspose`` subclasses flax's module: the same parameters (names, shapes, initialisers; a checkpoint
or a parameter count does not change), the same output to float32 rounding (tests/nn/test_conv_transpose.py),
and flax's own code for every configuration other than 4x4 / stride 2 / 'SAME'.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax


def _pair(v, default: int) -> tuple:
  """A 2-D window attribute as a tuple: flax accepts an int, a sequence or None (its default)."""
  if v is None:
    return (default, default)
  return (v, v) if isinstance(v, int) else tuple(v)


def _is_subpixel_case(m: nn.ConvTranspose) -> bool:
  return (_pair(m.kernel_size, 1) == (4, 4) and _pair(m.strides, 1) == (2, 2) and m.padding == 'SAME'
          and _pair(m.kernel_dilation, 1) == (1, 1) and not m.transpose_kernel
          and getattr(m, 'mask', None) is None)


def subpixel_conv_transpose(x: jax.Array, kernel: jax.Array, precision=None) -> jax.Array:
  """``lax.conv_transpose(x, kernel, (2, 2), 'SAME')`` for a [4, 4, Cin, Cout] kernel, as a 2x2 convolution.

  x [B, H, W, Cin] -> [B, 2H, 2W, Cout].
  """
  b, h, w, _ = x.shape
  cout = kernel.shape[-1]
  # phase (py, px) uses taps W[py::2, px::2]; stack the four 2x2 kernels along the output channels
  phases = [(py, px) for py in (0, 1) for px in (0, 1)]
  k = jnp.concatenate([kernel[py::2, px::2] for py, px in phases], axis=-1)        # [2, 2, Cin, 4 Cout]
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  z = lax.conv_general_dilated(xp, k, (1, 1), 'VALID', dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
                               precision=precision)                                 # [B, H+1, W+1, 4 Cout]
  out = {p: z[:, p[0]:p[0] + h, p[1]:p[1] + w, i * cout:(i + 1) * cout] for i, p in enumerate(phases)}
  rows = [jnp.stack([out[(py, 0)], out[(py, 1)]], axis=3) for py in (0, 1)]          # [B, H, W, 2(px), C]
  return jnp.stack(rows, axis=2).reshape(b, 2 * h, 2 * w, cout)                       # [B, H, 2(py), W, 2, C]


class ConvTranspose(nn.ConvTranspose):
  """``flax.linen.ConvTranspose``; 4x4 / stride 2 / 'SAME' runs as a sub-pixel convolution (module doc)."""

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    if not _is_subpixel_case(self) or inputs.ndim != 4:
      return super().__call__(inputs)
    cin = inputs.shape[-1]
    kernel = self.param('kernel', self.kernel_init, (4, 4, cin, self.features), self.param_dtype)
    bias = self.param('bias', self.bias_init, (self.features,), self.param_dtype) if self.use_bias else None
    inputs, kernel, bias = nn.dtypes.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
    y = subpixel_conv_transpose(inputs, kernel, self.precision)
    if bias is not None:
      y = y + bias.reshape((1,) * (y.ndim - 1) + (-1,))
    return y
