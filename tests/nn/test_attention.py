"""Attention against a NumPy implementation written here and against jax.nn.dot_product_attention; masks,
RoPE, sinusoidal positions, the KV cache, and the transformer stack's layouts (scan, remat); bfloat16 compute
is checked on the GPT (tests/families/transformers/test_models.py)."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gen_jax.nn import attention as attn
from gen_jax.nn import transformer as tf


def np_softmax(z, axis=-1):
  z = z - z.max(axis, keepdims=True)
  e = np.exp(z)
  return e / e.sum(axis, keepdims=True)


def np_attention(q, k, v, mask=None):
  """Scaled dot-product attention of Vaswani et al. (2017), eq. 1, per batch and head, in float64."""
  q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
  b, lq, h, d = q.shape
  out = np.zeros((b, lq, h, v.shape[-1]))
  weights = np.zeros((b, h, lq, k.shape[1]))
  for i in range(b):
    for j in range(h):
      s = q[i, :, j] @ k[i, :, j].T / math.sqrt(d)
      if mask is not None:
        m = np.broadcast_to(mask, (b, h, lq, k.shape[1]))[i, j]
        s = np.where(m, s, -np.inf)
        s = np.where(m.any(-1, keepdims=True), s, 0.0)   # a row with no visible key: uniform
      w = np_softmax(s)
      weights[i, j] = w
      out[i, :, j] = w @ v[i, :, j]
  return out, weights


def _qkv(lq=5, lk=7, b=2, h=3, d=4, seed=0):
  r = np.random.default_rng(seed)
  return (r.normal(size=(b, lq, h, d)).astype(np.float32), r.normal(size=(b, lk, h, d)).astype(np.float32),
          r.normal(size=(b, lk, h, d)).astype(np.float32))


def _masks(lq, lk, b=2):
  valid_k = np.ones((b, lk), bool)
  valid_k[0, -3:] = False                                  # padding of the first sequence's keys
  return {
      'none': None,
      'causal': np.asarray(attn.causal_mask(lq, lk)),
      'padding': np.asarray(attn.padding_mask(jnp.asarray(valid_k))),
      'causal+padding': np.asarray(attn.combine_masks(attn.causal_mask(lq, lk), attn.padding_mask(valid_k))),
  }


@pytest.mark.parametrize('lq,lk', [(5, 5), (3, 7)], ids=['self', 'cross'])
def test_reference_and_jax_attention_match_numpy(lq, lk):
  q, k, v = _qkv(lq, lk)
  for name, mask in _masks(lq, lk).items():
    want, want_w = np_attention(q, k, v, mask)
    out, w = attn.dot_product_attention(q, k, v, None if mask is None else jnp.asarray(mask), return_weights=True)
    np.testing.assert_allclose(out, want, atol=2e-6, err_msg=name)
    np.testing.assert_allclose(w, want_w, atol=2e-6, err_msg=name)
    xla = attn.dot_product_attention(q, k, v, None if mask is None else jnp.asarray(mask), implementation='xla')
    np.testing.assert_allclose(xla, want, atol=2e-6, err_msg=name)
  # causal=True is the causal mask; jax's is_causal path agrees
  want, _ = np_attention(q, k, v, np.asarray(attn.causal_mask(lq, lk)))
  if lq == lk:
    np.testing.assert_allclose(attn.dot_product_attention(q, k, v, causal=True), want, atol=2e-6)
    np.testing.assert_allclose(attn.dot_product_attention(q, k, v, causal=True, implementation='xla'), want, atol=2e-6)


def test_masks_block_what_they_should():
  q, k, v = _qkv(4, 4)
  _, w = attn.dot_product_attention(q, k, v, causal=True, return_weights=True)
  w = np.asarray(w)
  assert np.all(np.triu(np.ones((4, 4)), 1)[None, None] * w == 0)    # nothing from the future
  np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-6)
  # changing a future key/value changes no earlier output
  k2, v2 = k.copy(), v.copy()
  k2[:, 3], v2[:, 3] = 10.0, -10.0
  a = attn.dot_product_attention(q, k, v, causal=True)
  b = attn.dot_product_attention(q, k2, v2, causal=True)
  np.testing.assert_allclose(a[:, :3], b[:, :3], atol=1e-6)
  assert not np.allclose(a[:, 3], b[:, 3])
  # padded keys get weight 0; a fully masked row is uniform (as jax.nn.dot_product_attention)
  valid = np.array([[1, 1, 0, 0], [0, 0, 0, 0]], bool)
  _, w = attn.dot_product_attention(q, k, v, attn.padding_mask(jnp.asarray(valid)), return_weights=True)
  assert np.all(np.asarray(w)[0, :, :, 2:] == 0)
  np.testing.assert_allclose(np.asarray(w)[1], 0.25, atol=1e-6)


def test_attention_dropout_scales_kept_weights():
  q, k, v = _qkv(4, 4)
  out_det = attn.dot_product_attention(q, k, v, dropout_rate=0.5, dropout_rng=jax.random.key(0), deterministic=True)
  np.testing.assert_allclose(out_det, attn.dot_product_attention(q, k, v), atol=1e-6)
  ones = np.ones_like(v)                                  # out = sum of kept weights / (1 - p) per row
  dropped = np.asarray(attn.dot_product_attention(q, k, ones, dropout_rate=0.5, dropout_rng=jax.random.key(1),
                                                  deterministic=False))
  _, w = np_attention(q, k, ones)
  sums = dropped[..., 0].transpose(0, 2, 1)               # [B, H, Lq]
  assert not np.allclose(sums, 1.0)
  # every row sum is 2 x a sub-sum of that row's weights: at most 2 and on average 1
  assert np.all(sums <= 2 * w.sum(-1) + 1e-5) and abs(sums.mean() - 1.0) < 0.35
  with pytest.raises(ValueError, match='reference'):
    attn.dot_product_attention(q, k, v, dropout_rate=0.1, dropout_rng=jax.random.key(0), deterministic=False,
                               implementation='xla')


def _mha_numpy(params, x, ctx, mask):
  p = {k: {n: np.asarray(a, np.float64) for n, a in v.items()} for k, v in params.items()}
  q = np.einsum('bld,dhe->blhe', x, p['query']['kernel']) + p['query']['bias']
  k = np.einsum('bld,dhe->blhe', ctx, p['key']['kernel']) + p['key']['bias']
  v = np.einsum('bld,dhe->blhe', ctx, p['value']['kernel']) + p['value']['bias']
  out, w = np_attention(q, k, v, mask)
  return np.einsum('blhe,hed->bld', out, p['out']['kernel']) + p['out']['bias'], w


def test_multi_head_attention_module_matches_numpy():
  r = np.random.default_rng(1)
  x = r.normal(size=(2, 5, 12)).astype(np.float32)
  ctx = r.normal(size=(2, 7, 10)).astype(np.float32)
  m = attn.MultiHeadAttention(num_heads=3)
  # self-attention (fused q/k/v matmul), causal, weights sown on request
  params = m.init(jax.random.key(0), x)['params']
  params = jax.tree.map(lambda a: a + 0.1 * jnp.asarray(r.normal(size=a.shape), a.dtype), params)  # non-zero biases
  (y, cache), inter = m.apply({'params': params}, x, causal=True, return_weights=True, mutable=['intermediates'])
  want, want_w = _mha_numpy(params, x, x, np.asarray(attn.causal_mask(5)))
  assert cache is None
  np.testing.assert_allclose(y, want, atol=1e-5)
  np.testing.assert_allclose(inter['intermediates']['attention_weights'][0], want_w, atol=1e-6)
  # cross-attention with a padding mask of the context
  valid = np.ones((2, 7), bool)
  valid[1, 4:] = False
  params = m.init(jax.random.key(1), x, ctx)['params']
  y, _ = m.apply({'params': params}, x, ctx, mask=attn.padding_mask(jnp.asarray(valid)))
  want, _ = _mha_numpy(params, x, ctx, np.asarray(attn.padding_mask(jnp.asarray(valid))))
  np.testing.assert_allclose(y, want, atol=1e-5)


def test_kv_cache_decoding_equals_full_self_attention():
  r = np.random.default_rng(2)
  x = jnp.asarray(r.normal(size=(2, 6, 8)), jnp.float32)
  for rope in (True,):  # learned positions: tests/families/transformers/test_decoding.py
    m = attn.MultiHeadAttention(num_heads=2, rope=rope)
    params = m.init(jax.random.key(0), x)

    @jax.jit
    def run(params, x):
      full, _ = m.apply(params, x, causal=True)
      cache = {'k': jnp.zeros((2, 6, 2, 4)), 'v': jnp.zeros((2, 6, 2, 4))}
      first, cache = m.apply(params, x[:, :3], causal=True, cache=cache, cache_index=0)   # prefill 3
      outs = [first]
      for t in range(3, 6):                                                               # then one at a time
        o, cache = m.apply(params, x[:, t:t + 1], causal=True, cache=cache, cache_index=jnp.int32(t))  # noqa: B023
        outs.append(o)
      return full, jnp.concatenate(outs, 1)

    full, cached = run(params, x)
    np.testing.assert_allclose(cached, full, atol=1e-5, err_msg=f'rope={rope}')


def test_rope_preserves_norms_and_depends_on_relative_position_only():
  r = np.random.default_rng(3)
  q = jnp.asarray(r.normal(size=(1, 1, 1, 8)), jnp.float32)
  k = jnp.asarray(r.normal(size=(1, 1, 1, 8)), jnp.float32)
  pos = jnp.asarray([[37]])
  np.testing.assert_allclose(jnp.linalg.norm(attn.apply_rope(q, pos)), jnp.linalg.norm(q), rtol=1e-6)

  def score(i, j):
    return float(jnp.sum(attn.apply_rope(q, jnp.asarray([[i]])) * attn.apply_rope(k, jnp.asarray([[j]]))))
  assert score(5, 2) == pytest.approx(score(105, 102), abs=1e-4) == pytest.approx(score(3, 0), abs=1e-4)
  assert abs(score(5, 2) - score(5, 4)) > 1e-3
  # the published formula (rotate-half pairing): x_d' = x_d cos(p w_d) - x_{d+4} sin(p w_d), ...
  qn = np.asarray(q, np.float64)[0, 0, 0]
  w = 10_000.0 ** (-np.arange(4) * 2 / 8)
  c, s = np.cos(37 * w), np.sin(37 * w)
  want = np.concatenate([qn[:4] * c - qn[4:] * s, qn[4:] * c + qn[:4] * s])
  np.testing.assert_allclose(attn.apply_rope(q, pos)[0, 0, 0], want, atol=1e-5)


def test_sinusoidal_positions_match_the_paper():
  pe = np.asarray(tf.sinusoidal_positions(jnp.arange(50), 16))
  pos, i = np.arange(50)[:, None], np.arange(8)[None, :]
  np.testing.assert_allclose(pe[:, 0::2], np.sin(pos / 10000 ** (2 * i / 16)), atol=1e-5)
  np.testing.assert_allclose(pe[:, 1::2], np.cos(pos / 10000 ** (2 * i / 16)), atol=1e-5)


def _np_layer_norm(x, scale, bias, eps):
  mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
  return (x - mu) / np.sqrt(var + eps) * scale + bias


def _np_gelu_tanh(x):
  return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def np_block(p, x, norm, mask):
  """A pre-LN or post-LN transformer layer in NumPy (float64), GELU (tanh) MLP."""
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), p)
  ln = lambda h, n: _np_layer_norm(h, p[n]['scale'], p[n]['bias'], 1e-5)  # noqa: E731
  h = ln(x, 'ln_attn') if norm == 'pre' else x
  a, _ = _mha_numpy(p['attn'], h, h, mask)
  x = x + a if norm == 'pre' else ln(x + a, 'ln_attn')
  h = ln(x, 'ln_mlp') if norm == 'pre' else x
  f = _np_gelu_tanh(h @ p['mlp']['fc']['kernel'] + p['mlp']['fc']['bias']) @ p['mlp']['proj']['kernel'] \
      + p['mlp']['proj']['bias']
  return x + f if norm == 'pre' else ln(x + f, 'ln_mlp')


@pytest.mark.parametrize('norm', ['pre', 'post'])
def test_block_matches_numpy(norm):
  r = np.random.default_rng(4)
  x = r.normal(size=(2, 5, 8)).astype(np.float32)
  block = tf.TransformerBlock(num_heads=2, mlp_dim=16, norm=norm, causal=True)
  params = jax.jit(block.init)(jax.random.key(0), x)['params']
  params = jax.tree.map(lambda a: a + 0.1 * jnp.asarray(r.normal(size=a.shape), a.dtype), params)
  y, _ = jax.jit(block.apply)({'params': params}, x)
  np.testing.assert_allclose(y, np_block(params, x, norm, np.asarray(attn.causal_mask(5))), atol=2e-5)


def test_stack_scan_and_remat_give_the_plain_values_and_gradients():
  blk = tuple(dict(num_heads=2, mlp_dim=32, causal=True, rope=True).items())
  x = jax.random.normal(jax.random.key(0), (2, 6, 16))
  plain = tf.Transformer(2, blk)
  params = jax.jit(plain.init)(jax.random.key(1), x)['params']
  stacked = tf.stack_layers(params, 2)

  def loss(module):
    return lambda p: jnp.sum(module.apply({'params': p}, x)[0] ** 2)

  want, g = jax.jit(jax.value_and_grad(loss(plain)))(params)
  for scan, remat in ((True, True),):  # the unscanned remat and the scan alone: the same code paths
    p = stacked if scan else params
    value, grads = jax.jit(jax.value_and_grad(loss(tf.Transformer(2, blk, scan=scan, remat=remat))))(p)
    np.testing.assert_allclose(value, want, rtol=1e-5, err_msg=f'scan={scan} remat={remat}')
    grads = tf.unstack_layers(grads) if scan else grads
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(g)):
      np.testing.assert_allclose(a, b, atol=2e-4, rtol=1e-4)
  back = tf.unstack_layers(stacked)
  assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), back, params))
