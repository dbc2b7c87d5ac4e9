"""Generation: token filters against NumPy, KV-cache decoding equals full recomputation (same tokens, same
logits), causality of the GPT (a future token changes no earlier logit), prompts."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gen_jax.families import transformers as fam
from gen_jax.families.transformers import decoding
from gen_jax.families.transformers.models import empty_cache
from tests.families.transformers import tiny


def np_filter(z, top_k, top_p):
  """Top-k then top-p (nucleus) filtering of one row of logits, written out in NumPy."""
  z = np.asarray(z, np.float64).copy()
  if top_k is not None:
    z[z < np.sort(z)[::-1][top_k - 1]] = -np.inf
  if top_p < 1:
    order = np.argsort(-z, kind='stable')
    p = np.exp(z[order] - z[order].max())
    p /= p.sum()
    keep = np.zeros(len(z), bool)
    mass = 0.0
    for i, idx in enumerate(order):
      keep[idx] = True
      mass += p[i]
      if mass >= top_p:
        break
    z[~keep] = -np.inf
  return z


@pytest.mark.parametrize('top_k,top_p', [(3, 1.0), (None, 0.6), (5, 0.8), (None, 1.0), (1, 1.0), (12, 1.0)])
def test_filters_match_numpy(top_k, top_p):
  z = np.random.default_rng(top_k or 0).normal(size=(4, 12)).astype(np.float32) * 2
  got = np.asarray(decoding.filter_logits(jnp.asarray(z), top_k, top_p))
  for row, g in zip(z, got):
    want = np_filter(row, top_k, top_p)
    np.testing.assert_array_equal(g > -1e29, np.isfinite(want))
    np.testing.assert_allclose(g[np.isfinite(want)], want[np.isfinite(want)], rtol=1e-6)


@pytest.mark.parametrize('top_k,top_p,match', [(0, 1.0, 'top_k=0 must be an integer >= 1'),
                                               (-2, 1.0, 'top_k=-2 must be an integer >= 1'),
                                               (2.5, 1.0, 'top_k=2.5 must be an integer >= 1'),
                                               (None, 0.0, r'top_p=0.0 must be in \(0, 1\]'),
                                               (None, 1.5, r'top_p=1.5 must be in \(0, 1\]')])
def test_filters_refuse_bad_values(top_k, top_p, match):
  z = jnp.zeros((3,))
  with pytest.raises(ValueError, match=match):
    decoding.filter_logits(z, top_k, top_p)
  with pytest.raises(ValueError, match=match):                # greedy too: the value is wrong whatever T is
    decoding.sample_logits(jax.random.key(0), z, 0.0, top_k, top_p)


def test_sampling_draws_from_the_filtered_distribution():
  z = jnp.log(jnp.asarray([0.5, 0.3, 0.15, 0.05]))
  keys = jax.random.split(jax.random.key(0), 20000)
  draw = jax.jit(jax.vmap(lambda k: decoding.sample_logits(k, z, 1.0, top_k=2)))
  counts = np.bincount(np.asarray(draw(keys)), minlength=4)
  assert counts[2:].sum() == 0
  p = 0.5 / 0.8                                           # renormalised over the top 2
  assert abs(counts[0] / 20000 - p) < 4 * np.sqrt(p * (1 - p) / 20000)
  assert int(decoding.sample_logits(keys[0], z, 0.0)) == 0          # temperature 0: greedy
  assert int(decoding.sample_logits(keys[0], z, 1.0, top_p=0.4)) == 0  # a nucleus of one token


@pytest.fixture(scope='module')
def gpt():
  c = tiny.config('gpt', num_layers=2, max_len=12)
  params = jax.jit(lambda r: fam.models.init_params(c, r, tiny.text_info()))(jax.random.key(0))
  params = jax.tree.map(lambda p: p * 4.0, params)        # larger weights: peaked, token-dependent logits
  return c, fam.get_model(c, tiny.text_info()), params


def test_kv_cache_decoding_equals_full_recomputation(gpt):
  c, model, params = gpt
  prompt = jnp.asarray(np.random.default_rng(0).integers(0, 96, (3, 4)), jnp.int32)
  length = 12

  @jax.jit
  def both(params, rng):
    step = fam.sampling.gpt_step_fn(model, params)
    cached = decoding.generate(step, empty_cache(c, 3, length), prompt, length, rng, 0.9, 20, 0.95)
    full = lambda t: model.apply({'params': params}, t)[0]  # noqa: E731
    uncached = decoding.generate_uncached(full, prompt, length, rng, 0.9, 20, 0.95)
    # the prefill's logits equal the full forward pass (token-by-token steps: tests/nn/test_attention.py)
    prefill, _ = step(cached[:, :4], empty_cache(c, 3, length), jnp.int32(0))
    return cached, uncached, prefill, full(cached)[:, :4]

  cached, uncached, prefill, full_logits = both(params, jax.random.key(1))
  np.testing.assert_array_equal(cached, uncached)
  np.testing.assert_array_equal(cached[:, :4], prompt)
  np.testing.assert_allclose(prefill, full_logits, atol=1e-4)
  assert len(np.unique(np.asarray(cached[:, 4:]))) > 3     # the model really sampled


def test_future_tokens_change_no_earlier_logit(gpt):
  _, model, params = gpt
  a = np.random.default_rng(1).integers(0, 96, (2, 8)).astype(np.int32)
  b = a.copy()
  b[:, 5] = (a[:, 5] + 1) % 96
  f = jax.jit(lambda t: model.apply({'params': params}, t)[0])
  la, lb = np.asarray(f(a)), np.asarray(f(b))
  np.testing.assert_array_equal(la[:, :5], lb[:, :5])
  assert np.abs(la[:, 5:] - lb[:, 5:]).max() > 1e-3


def test_prompts_are_encoded_and_samples_decoded():
  c = tiny.config('gpt')
  np.testing.assert_array_equal(fam.sampling.prompt_tokens(c), [0])          # empty prompt: a newline
  c.sample.prompt = 'The "with" statement'
  ids = fam.sampling.prompt_tokens(c)
  assert len(ids) == 20 and fam.sampling.decode_samples(ids[None], c) == ['The "with" statement']


def test_iterative_unmasking_draws_each_token_given_the_ones_before():
  """BERT's sampler: with a stand-in masked LM whose greedy choice at every position is the number of tokens
  already drawn, sample i is the inverse of its random drawing order (each position drawn once, in order)."""
  length, num, vocab = 6, 5, 8
  mask_id = vocab

  def logits_fn(tokens):
    drawn = jnp.sum(tokens != mask_id, axis=1)                        # [num]
    return jnp.broadcast_to(10.0 * jax.nn.one_hot(drawn, vocab)[:, None], (num, length, vocab))

  out = np.asarray(decoding.unmask_iteratively(logits_fn, num, length, mask_id, jax.random.key(3), temperature=0.0))
  assert out.shape == (num, length) and not (out == mask_id).any()
  for row in out:
    np.testing.assert_array_equal(np.sort(row), np.arange(length))   # position order[t] got t
  assert len({tuple(r) for r in out}) > 1                              # a different order per sample
