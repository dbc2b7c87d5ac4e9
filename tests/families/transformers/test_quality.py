"""Learning (slow): a small GPT trained for a few hundred steps on pydocs characters predicts the test split better
than the best context-free model, the unigram distribution of the train split (computed here with NumPy)."""
import math

import numpy as np
import pytest

from gen_jax import studies
from gen_jax.data import sources, text
from gen_jax.families import transformers as fam
from tests import helpers


@pytest.mark.slow
def test_gpt_learns_pydocs_beyond_unigrams(tmp_path):
  c = helpers.load_config('experiments/transformers/gpt_pydocs.py')
  c.num_train_steps = 400
  c.optim.warmup_steps = 40
  c.model.update(dict(width=64, num_layers=2, num_heads=4, dropout=0.0, attention_dropout=0.0))
  c.eval_every = c.checkpoint_every = 400
  c.async_checkpointing = False
  _, state = studies.trained_state(c, str(tmp_path / 'w'))
  corpus = fam.corpus_metrics(studies.evaluate_model(c, str(tmp_path / 'w'), state))
  ds = sources.open_dataset(c.dataset)
  train, _ = text.split_tokens(ds, c.dataset, 'train')
  test, _ = text.split_tokens(ds, c.dataset, 'test')
  p = (np.bincount(train, minlength=96) + 1) / (len(train) + 96)       # add-one unigram model of the train split
  unigram = -np.mean(np.log2(p[test[1:]]))
  assert 4.0 < unigram < 5.0
  bpc = corpus['bits_per_char']['value']
  assert bpc < unigram - 0.5, (bpc, unigram)
  assert corpus['perplexity']['value'] == pytest.approx(2 ** bpc, rel=1e-6)   # characters: one per token
  assert math.isfinite(corpus['bits_per_char']['stderr'])
