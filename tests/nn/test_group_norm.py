"""The hand-written GroupNorm (gen_jax/nn/group_norm.py) against flax.linen.GroupNorm: same parameters,
same outputs and gradients to float32 precision."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gen_jax.nn.group_norm import GroupNorm


@pytest.mark.parametrize('shape,groups', [((2, 6, 5, 16), 4), ((3, 4, 4, 8), 8), ((4, 12), 3)])
def test_matches_flax_forward_and_backward(shape, groups):
  x = jax.random.normal(jax.random.key(0), shape) * 3.0 + 1.5
  ref, ours = nn.GroupNorm(num_groups=groups), GroupNorm(num_groups=groups)
  params = ref.init(jax.random.key(1), x)
  assert jax.tree.map(jnp.shape, params) == jax.tree.map(jnp.shape, ours.init(jax.random.key(1), x))
  params = jax.tree.map(lambda p: p + jax.random.normal(jax.random.key(2), p.shape), params)  # not 1 / 0
  w = jax.random.normal(jax.random.key(3), shape)

  def loss(module, p, x):
    return jnp.sum(module.apply(p, x) * w)

  np.testing.assert_allclose(ours.apply(params, x), ref.apply(params, x), rtol=1e-5, atol=1e-5)
  g_ref = jax.grad(lambda p, x: loss(ref, p, x), argnums=(0, 1))(params, x)
  g_ours = jax.jit(jax.grad(lambda p, x: loss(ours, p, x), argnums=(0, 1)))(params, x)
  for a, b in zip(jax.tree.leaves(g_ours), jax.tree.leaves(g_ref)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_bfloat16_inputs_keep_float32_statistics():
  x = (jax.random.normal(jax.random.key(0), (2, 4, 4, 8)) * 0.01 + 100.0).astype(jnp.bfloat16)
  m = GroupNorm(num_groups=2)
  p = m.init(jax.random.key(1), x)
  y = m.apply(p, x)
  assert y.dtype == jnp.bfloat16
  ref = nn.GroupNorm(num_groups=2, dtype=jnp.float32).apply(p, x.astype(jnp.float32))
  np.testing.assert_allclose(np.asarray(y, np.float32), np.asarray(ref), atol=0.05)
