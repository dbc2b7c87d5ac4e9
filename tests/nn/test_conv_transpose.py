"""gen_jax.nn.conv_transpose.ConvTranspose: flax's ConvTranspose (same parameters and numbers), computed as a
sub-pixel convolution for 4x4 / stride 2 / 'SAME'."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gen_jax.nn.conv_transpose import ConvTranspose


def _rel(a, b):
  return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))


@pytest.mark.parametrize('shape,features,use_bias', [((3, 7, 7, 5), 4, True), ((2, 4, 6, 3), 2, False),
                                                     ((1, 1, 1, 2), 3, True)])
def test_subpixel_case_equals_flax(shape, features, use_bias):
  x = jax.random.normal(jax.random.key(0), shape)
  kw = dict(features=features, kernel_size=(4, 4), strides=(2, 2), padding='SAME', use_bias=use_bias)
  ref, ours = nn.ConvTranspose(**kw), ConvTranspose(**kw)
  v = ref.init(jax.random.key(1), x)
  v_ours = ours.init(jax.random.key(1), x)
  assert jax.tree.structure(v) == jax.tree.structure(v_ours)          # same names: checkpoints carry over
  for a, b in zip(jax.tree.leaves(v), jax.tree.leaves(v_ours)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))        # same initialisers, same draws
  if use_bias:                                                         # a non-zero bias, to see it added
    v = jax.tree.map(lambda a: a, v)
    v['params']['bias'] = jnp.arange(features, dtype=jnp.float32)
  y_ref, y_ours = ref.apply(v, x), ours.apply(v, x)
  assert y_ours.shape == (shape[0], 2 * shape[1], 2 * shape[2], features) == y_ref.shape
  assert _rel(y_ours, y_ref) < 1e-6

  def loss(m):
    return lambda v, x: jnp.sum(jnp.sin(m.apply(v, x)))
  g_ref = jax.grad(loss(ref), argnums=(0, 1))(v, x)
  g_ours = jax.grad(loss(ours), argnums=(0, 1))(v, x)
  for a, b in zip(jax.tree.leaves(g_ours), jax.tree.leaves(g_ref)):
    assert _rel(a, b) < 1e-5


@pytest.mark.parametrize('kw', [dict(kernel_size=(3, 3), strides=(2, 2), padding='SAME'),
                                dict(kernel_size=(4, 4), strides=(2, 2), padding='SAME', kernel_dilation=(2, 2)),
                                dict(kernel_size=(4, 4), strides=(2, 2), padding='VALID'),
                                dict(kernel_size=(4, 4), strides=(1, 1), padding='SAME')])
def test_other_configurations_are_flax_itself(kw):
  x = jax.random.normal(jax.random.key(0), (2, 5, 5, 3))
  ref, ours = nn.ConvTranspose(4, **kw), ConvTranspose(4, **kw)
  v = ref.init(jax.random.key(1), x)
  np.testing.assert_array_equal(np.asarray(ours.apply(v, x)), np.asarray(ref.apply(v, x)))
