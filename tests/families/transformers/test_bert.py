"""BERT: config.model.positions is honoured (learned table, sinusoidal, or RoPE without a table), every position
sees both sides, and the MLM loss is the NLL of the original tokens at the selected positions, averaged over
those positions (checked against NumPy on the model's own logits)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gen_jax.core.state import step_rng
from gen_jax.families import transformers as fam
from gen_jax.families.transformers import losses
from tests.families.transformers import tiny


@pytest.mark.parametrize('positions', ['learned', 'sinusoidal', 'rope'])
def test_bert_positions_and_both_sided_context(positions):
  c = tiny.config('bert', positions=positions)
  model = fam.get_model(c, tiny.text_info())
  params = jax.jit(lambda r: fam.models.init_params(c, r, tiny.text_info()))(jax.random.key(0))
  assert ('wpe' in params) == (positions == 'learned')
  params = jax.tree.map(lambda p: p * 4.0, params)          # larger weights: token-dependent logits
  tokens = jnp.asarray(np.random.default_rng(0).integers(0, 96, (1, tiny.SEQ)), jnp.int32)
  logits = jax.jit(lambda p, t: model.apply({'params': p}, t))
  base = logits(params, tokens)
  changed = logits(params, tokens.at[0, 4].set((tokens[0, 4] + 1) % 96))
  moved = np.abs(np.asarray(changed - base))[0].max(-1)     # [L]: how much each position's logits moved
  assert moved[:4].min() > 1e-4 and moved[5:].min() > 1e-4   # positions before and after the changed token


def test_mlm_loss_is_the_nll_of_the_original_tokens_at_the_selected_positions():
  c = tiny.config('bert', seq_len=32)
  info = tiny.text_info(seq_len=32)
  batch = tiny.text_batch(n=8, seq_len=32, seed=3)
  state = jax.jit(lambda r: fam.init(r, c, batch))(jax.random.key(0))
  key = jax.random.key(7)
  terms = jax.jit(lambda p, b, k: fam.make_loss_fn(c)(p, b, k, False))(state.params, {'tokens': batch['tokens']}, key)
  tokens = batch['tokens'][:, 1:]
  inputs, selected = jax.jit(lambda k, t: losses.mlm_corrupt(k, t, 96, 96, 0.15, 0.8, 0.1))(jax.random.split(key)[0],
                                                                                              tokens)
  z = np.asarray(jax.jit(fam.get_model(c, info).apply)({'params': state.params}, inputs), np.float64)
  logp = z - z.max(-1, keepdims=True)
  logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
  nll = -np.take_along_axis(logp, np.asarray(tokens)[..., None], -1)[..., 0]     # of the ORIGINAL tokens
  sel = np.asarray(selected)
  assert sel.sum() > 10 and (np.asarray(inputs)[sel] == 96).mean() > 0.5
  np.testing.assert_allclose(np.asarray(terms['nll']), (nll * sel).sum(-1), rtol=1e-5)
  np.testing.assert_array_equal(np.asarray(terms['tokens']), sel.sum(-1))
  # the train step's loss: total NLL over the number of selected positions (a mean per predicted token)
  b = {'tokens': batch['tokens']}
  _, m = jax.jit(fam.make_train_step(c))(state, b, key)
  t = jax.jit(lambda p, k: fam.make_loss_fn(c)(p, b, k, True))(state.params, step_rng(key, state.step))
  np.testing.assert_allclose(float(m['loss']), float(jnp.sum(t['nll']) / jnp.sum(t['tokens'])), rtol=1e-5)
