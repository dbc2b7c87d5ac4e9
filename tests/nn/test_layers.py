import numpy as np

from gen_jax.nn.layers import depth_to_space, space_to_depth


def test_depth_to_space_layout_and_inverse():
  x = np.arange(2 * 3 * 3 * 8, dtype=np.float32).reshape(2, 3, 3, 8)
  y = np.asarray(depth_to_space(x, 2))
  assert y.shape == (2, 6, 6, 2)
  # Output pixel (2i+a, 2j+b) channel c is input pixel (i, j) channel (a*2 + b)*2 + c.
  for a in range(2):
    for b in range(2):
      for c in range(2):
        np.testing.assert_array_equal(y[:, 2 + a, 4 + b, c], x[:, 1, 2, (a * 2 + b) * 2 + c])
  np.testing.assert_array_equal(np.asarray(space_to_depth(y, 2)), x)
