"""The family contract (tests/contract.py) on each code path: GPT (learned positions, tied head, dropout),
GPT (RoPE, scan over layers, untied head, bfloat16), the pixel GPT (4-bit levels) and BERT (MLM).

Compiles dominate the suite's time, so: ``nn.remat`` is checked by tests/nn/test_attention.py (same values and
gradients as the plain stack), and BERT's sampler (iterative unmasking) runs end to end in
tests/test_experiments.py (bert_pydocs.py:tiny, --mode=sample) and is checked against its definition in
test_decoding.py."""
import numpy as np
import pytest

from gen_jax.families import transformers as fam
from tests.contract import check_contract
from tests.families.transformers import tiny


def test_gpt_contract():
  c = tiny.config('gpt', dropout=0.1, attention_dropout=0.1)
  _, ev = check_contract(fam, c, tiny.text_batch(), tiny.text_info())
  assert set(ev) == {'nll', 'tokens', 'chars', 'nll_x_tokens', 'nll_x_chars'}
  np.testing.assert_array_equal(ev['tokens'], tiny.SEQ)        # no target_mask: every target counts
  np.testing.assert_array_equal(ev['chars'], tiny.SEQ)         # one character per token


def test_gpt_rope_scan_untied_bfloat16_contract():
  c = tiny.config('gpt', positions='rope', scan=True, tie_embeddings=False, dtype='bfloat16', num_layers=2)
  state, _ = check_contract(fam, c, tiny.text_batch(), tiny.text_info(), sample=False)
  assert set(state.params['blocks']) == {'layers'} and 'head' in state.params and 'wpe' not in state.params
  assert all(x.dtype == np.float32 for x in __import__('jax').tree.leaves(state.params))


def test_pixel_gpt_contract():
  c = tiny.pixel_tiny_config(pixel_bits=4)
  batch = tiny.image_batch()
  _, ev = check_contract(fam, c, batch, tiny.image_info())
  assert set(ev) == {'nll', 'bits_per_dim'}
  np.testing.assert_allclose(ev['bits_per_dim'], ev['nll'] / (64 * np.log(2)), rtol=1e-6)


def test_bert_contract():
  c = tiny.config('bert', norm='post', activation='gelu', layer_norm_eps=1e-12)
  _, ev = check_contract(fam, c, tiny.text_batch(), tiny.text_info(), sample=False)
  assert set(ev) == {'nll', 'tokens', 'nll_x_tokens'}


def test_unconditional_models_refuse_labels():
  with pytest.raises(ValueError, match='unconditional'):
    fam.sample(None, None, 2, tiny.config('gpt'), labels=np.zeros(2))
