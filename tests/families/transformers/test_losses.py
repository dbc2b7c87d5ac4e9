"""The losses and metrics against independent computations: next-token NLL and character counts (NumPy),
pixel levels and the 8-bit bits/dim scale (a uniform model is exactly 8 bits/dim), BERT's masking statistics,
the BPE bits/char conversion, and the corpus ratios with their delta-method standard errors."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import ml_collections

from gen_jax.eval.likelihood import mean_with_stderr, nll_bits_per_dim
from gen_jax.families.transformers import losses, metrics


def test_window_nll_matches_numpy():
  r = np.random.default_rng(0)
  logits = r.normal(size=(2, 5, 7)).astype(np.float32)
  tokens = r.integers(0, 7, (2, 6)).astype(np.int32)
  mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], np.float32)
  chars = np.array([1, 2, 3, 1, 1, 4, 2], np.float32)
  out = losses.window_nll(jnp.asarray(logits), jnp.asarray(tokens), jnp.asarray(mask), jnp.asarray(chars))
  z = logits.astype(np.float64)
  logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
  nll = -np.take_along_axis(logp, tokens[:, 1:, None], -1)[..., 0]
  np.testing.assert_allclose(out['nll'], (nll * mask).sum(-1), rtol=1e-5)
  np.testing.assert_array_equal(out['tokens'], [5, 3])
  np.testing.assert_array_equal(out['chars'], (chars[tokens[:, 1:]] * mask).sum(-1))


def test_pixel_levels_and_the_8_bit_scale():
  pixels = np.arange(256).reshape(1, 16, 16, 1)
  images = jnp.asarray(pixels / 255.0, jnp.float32)
  np.testing.assert_array_equal(losses.pixel_tokens(images, 8)[0], np.arange(256))
  np.testing.assert_array_equal(losses.pixel_tokens(images, 4)[0], np.arange(256) // 16)
  np.testing.assert_allclose(losses.pixel_values(losses.pixel_tokens(images, 8), 8, (16, 16, 1)), images, atol=1e-7)
  # 4-bit level q stands for pixels 16q .. 16q + 15: its value is their centre, 16 q + 7.5
  np.testing.assert_allclose(np.asarray(losses.pixel_values(jnp.asarray([[0, 15]]), 4, (2,))) * 255, [[7.5, 247.5]],
                             atol=1e-4)
  # a uniform model is exactly 8 bits/dim, whatever the quantization
  for bits in (8, 4, 1):
    levels = losses.pixel_tokens(images, bits)
    nll = losses.pixel_nll(jnp.zeros(levels.shape + (2 ** bits + 1,)).at[..., -1].set(-1e9), levels, bits)
    np.testing.assert_allclose(nll_bits_per_dim(nll, 256, 'discrete'), 8.0, rtol=1e-6)


def test_mlm_masking_statistics():
  n_rows, length, vocab = 1000, 200, 96
  tokens = jax.random.randint(jax.random.key(0), (n_rows, length), 0, vocab)
  valid = jnp.ones((n_rows, length), jnp.int32).at[:, -20:].set(0)
  inputs, selected = jax.jit(lambda k: losses.mlm_corrupt(k, tokens, vocab, vocab, 0.15, 0.8, 0.1, valid))(
      jax.random.key(1))
  tokens, inputs, selected = np.asarray(tokens), np.asarray(inputs), np.asarray(selected)
  assert not selected[:, -20:].any()                      # padding is never predicted
  n = n_rows * (length - 20)
  frac = selected.sum() / n
  assert abs(frac - 0.15) < 4 * math.sqrt(0.15 * 0.85 / n)
  np.testing.assert_array_equal(inputs[~selected], tokens[~selected])
  s = selected.sum()
  masked = (inputs[selected] == vocab).mean()
  changed = ((inputs[selected] != vocab) & (inputs[selected] != tokens[selected])).mean()
  kept = (inputs[selected] == tokens[selected]).mean()
  sd = lambda p: 4 * math.sqrt(p * (1 - p) / s)  # noqa: E731
  assert abs(masked - 0.8) < sd(0.8)
  p_changed = 0.1 * (vocab - 1) / vocab                   # a random token can be the original one
  assert abs(changed - p_changed) < sd(p_changed)
  assert abs(kept - (1 - 0.8 - p_changed)) < sd(0.1)
  random_tokens = inputs[selected & (inputs != vocab) & (inputs != tokens)]
  counts = np.bincount(random_tokens, minlength=vocab)
  assert len(counts) == vocab                             # never the [MASK] id
  chi2 = ((counts - counts.mean()) ** 2 / counts.mean()).sum()
  assert chi2 < vocab + 6 * math.sqrt(2 * vocab)          # uniform over the vocabulary


def test_bpe_bits_per_char_conversion(tmp_path):
  from gen_jax.data.text import get_tokenizer
  cfg = ml_collections.ConfigDict(dict(name='pydocs', tokenizer='bpe', vocab_size=512, seq_len=64))
  tok = get_tokenizer(cfg)
  text = 'The "if" statement is used for conditional execution:\n\n   if_stmt ::= "if" assignment_expression ":"'
  ids = tok.encode(text)
  assert tok.decode(ids) == text and len(ids) < len(text)
  np.testing.assert_equal(int(tok.token_chars[ids].sum()), len(text))   # byte-level BPE on ASCII: chars = bytes
  # a uniform model over the 512 tokens: bits/char = (tokens predicted) * 9 bits / (their characters)
  out = losses.window_nll(jnp.zeros((1, len(ids) - 1, 512)), jnp.asarray(ids[None]), None,
                          jnp.asarray(tok.token_chars, jnp.float32))
  predicted_chars = len(text) - len(tok.decode(ids[:1]))
  assert int(out['chars'][0]) == predicted_chars
  bpc = float(out['nll'][0] / (math.log(2) * out['chars'][0]))
  np.testing.assert_allclose(bpc, (len(ids) - 1) * 9 / predicted_chars, rtol=1e-6)


def test_corpus_metrics_are_exact_ratios_with_delta_method_errors():
  r = np.random.default_rng(3)
  chars = r.integers(100, 400, 60).astype(np.float64)
  tokens = np.floor(chars / 2.7)
  nll = chars * r.uniform(1.0, 2.0, 60)
  per_window = {'nll': nll, 'chars': chars, 'tokens': tokens, 'nll_x_chars': nll * chars, 'nll_x_tokens': nll * tokens}
  results = {}
  for k, v in per_window.items():
    m, se, n = mean_with_stderr(v)
    results[k] = {'value': m, 'stderr': se, 'num_samples': n}
  out = metrics.corpus_metrics(results)
  bpc = nll.sum() / chars.sum() / math.log(2)
  np.testing.assert_allclose(out['bits_per_char']['value'], bpc, rtol=1e-12)
  np.testing.assert_allclose(out['perplexity']['value'], math.exp(nll.sum() / tokens.sum()), rtol=1e-12)
  # the delta method as linearised residuals e_w = (y_w - R x_w) / mean(x)
  e = (nll - bpc * math.log(2) * chars) / chars.mean()
  np.testing.assert_allclose(out['bits_per_char']['stderr'], e.std(ddof=1) / math.sqrt(60) / math.log(2), rtol=1e-6)
