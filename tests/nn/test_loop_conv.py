"""``gen_jax/nn/loop_conv.py``: the shifted-matmul convolution equals XLA's convolution, and ``ShiftConv``
has ``nn.Conv``'s parameters (so a checkpoint moves between backends)."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gen_jax.nn.loop_conv import ShiftConv, shifted_conv


def test_shifted_conv_equals_lax_conv():
  kx, kk, kk5 = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(kx, (2, 7, 6, 3))
  for k in (jax.random.normal(kk, (3, 3, 3, 5)), jax.random.normal(kk5, (5, 1, 3, 4))):
    ref = jax.lax.conv_general_dilated(x, k, (1, 1), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
                                       precision='highest')
    np.testing.assert_allclose(shifted_conv(x, k), ref, atol=1e-4, rtol=1e-4)


def test_shift_conv_has_the_parameters_and_outputs_of_nn_conv():
  x = jax.random.normal(jax.random.key(1), (2, 5, 5, 3))
  ours, ref = ShiftConv(4, (3, 3)), nn.Conv(4, (3, 3))
  v = ref.init(jax.random.key(2), x)
  v = jax.tree.map(lambda p: p + 0.1, v)  # a nonzero bias too
  assert jax.tree.map(jnp.shape, ours.init(jax.random.key(2), x)) == jax.tree.map(jnp.shape, v)
  np.testing.assert_allclose(ours.apply(v, x), ref.apply(v, x), atol=1e-4, rtol=1e-4)
