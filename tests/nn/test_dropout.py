"""gen_jax.nn.dropout: the fused mask is jax.random.bernoulli's, bit for bit; the module is flax's Dropout."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gen_jax.nn import dropout as dropout_lib

KEY = jax.random.key(3)
KEYS = {'key': KEY, 'fold_in': jax.random.fold_in(KEY, 7), 'split': jax.random.split(KEY, 3)[2],
        'raw_uint32': jax.random.PRNGKey(11)}


@pytest.mark.parametrize('shape', [(1,), (7,), (3, 5), (2, 4, 33, 17), (0, 3)])
def test_bernoulli_is_jax_random_bit_for_bit(shape):
  fused = jax.jit(dropout_lib.bernoulli, static_argnums=2)  # key and p traced: one compile per key type
  for name, key in KEYS.items():
    for p in (0.9, 0.5, 0.1):
      want = jax.random.bernoulli(key, p, shape)
      got = fused(key, p, shape)
      assert got.shape == want.shape and got.dtype == want.dtype, name
      np.testing.assert_array_equal(np.asarray(got), np.asarray(want), err_msg=f'{name} p={p}')


def test_threefry_matches_the_published_known_answer():
  # Salmon et al. 2011 (Random123) known-answer vector for Threefry-2x32, 20 rounds: key = counter = pi's digits.
  k = np.array([0x13198A2E, 0x03707344], np.uint32)
  x = np.array([0x243F6A88, 0x85A308D3], np.uint32)
  y = dropout_lib.threefry2x32(*(jnp.asarray(v) for v in (k[0], k[1], x[0], x[1])))
  assert [int(v) for v in y] == [0xC4923A9C, 0x483DF7A0]


def test_uniform_bits_is_jax_random_bits():
  got = dropout_lib.uniform_bits(KEY, (5, 9))
  np.testing.assert_array_equal(np.asarray(got), np.asarray(jax.random.bits(KEY, (5, 9), jnp.uint32)))


def test_other_key_implementations_fall_back_to_jax_random():
  key = jax.random.key(0, impl='rbg')
  assert dropout_lib.uniform_bits(key, (4,)) is None
  np.testing.assert_array_equal(np.asarray(dropout_lib.bernoulli(key, 0.7, (64,))),
                                np.asarray(jax.random.bernoulli(key, 0.7, (64,))))


class _TwoDropouts(nn.Module):
  cls: type
  rate: float

  @nn.compact
  def __call__(self, x, train):
    h = self.cls(self.rate)(x, deterministic=not train)
    y = self.cls(self.rate)(h * 2.0, deterministic=not train)
    return y, jax.random.key_data(self.make_rng('dropout'))  # the stream after both layers


@pytest.mark.parametrize('rate', [0.0, 0.1, 0.5, 1.0])
def test_module_equals_flax_dropout(rate):
  x = jax.random.normal(jax.random.key(1), (4, 6, 10))
  rngs = {'dropout': jax.random.key(2)}

  def run(cls, train):
    return jax.jit(lambda x: _TwoDropouts(cls, rate).apply({}, x, train, rngs=rngs))(x)

  for train in (True, False):
    (y_ours, k_ours), (y_flax, k_flax) = run(dropout_lib.Dropout, train), run(nn.Dropout, train)
    np.testing.assert_array_equal(np.asarray(y_ours), np.asarray(y_flax))
    np.testing.assert_array_equal(np.asarray(k_ours), np.asarray(k_flax))  # the same keys were drawn
  grad = lambda cls: jax.grad(lambda x: _TwoDropouts(cls, rate).apply({}, x, True, rngs=rngs)[0].sum())(x)  # noqa: E731
  np.testing.assert_array_equal(np.asarray(grad(dropout_lib.Dropout)), np.asarray(grad(nn.Dropout)))
  if 0.0 < rate < 1.0:  # and it does drop: the kept share is near 1 - rate
    kept = float(jnp.mean(run(dropout_lib.Dropout, True)[0] != 0))
    assert abs(kept - (1 - rate) ** 2) < 0.15
