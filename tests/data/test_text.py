"""The text data layer: the pydocs builder, the tokenizers, and fixed-length token windows that resume exactly."""
import numpy as np
import pytest

from gen_jax import data
from gen_jax.data import sources, text, tokenize
from gen_jax.data.builders import pydocs


@pytest.fixture
def text_config(make_config):
  def make(tokenizer='char', seq_len=16, batch_size=8, seed=0, **kw):
    return make_config('pydocs', batch_size=batch_size, seed=seed, tokenizer=tokenizer, seq_len=seq_len, **kw)
  return make


def test_pydocs_splits_by_topic(text_config):
  cfg = text_config()
  ds = sources.open_dataset(cfg.dataset)
  topics = {s: list(sources.split_source(ds, s).arrays['text']) for s in pydocs.SPLITS}
  raw = pydocs.raw_topics()
  counts = {s: len(v) for s, v in topics.items()}
  assert sum(counts.values()) == len(raw) == 79
  texts = {s: [t.decode() for t in v] for s, v in topics.items()}
  total = sum(len(t) for v in texts.values() for t in v)
  for s in ('validation', 'test'):
    assert 0.08 * total < sum(len(t) for t in texts[s]) <= 0.10 * total
  stored = sorted(t for v in texts.values() for t in v)
  assert stored == sorted(pydocs.normalise(t) for t in raw.values())      # every topic once, normalised
  assert set(''.join(stored)) <= set(pydocs.ALPHABET) and len(pydocs.ALPHABET) == 96
  assert pydocs.normalise('“it’s… ß —') == '"it\'s... ss --'


def test_char_tokenizer():
  tok = tokenize.CharTokenizer(pydocs.ALPHABET)
  s = 'def f(x):\n    return x ** 2  # ~'
  ids = tok.encode(s)
  assert ids.dtype == np.int32 and tok.decode(ids) == s and tok.vocab_size == 96
  with pytest.raises(tokenize.TokenError, match="character 'é'"):
    tok.encode('café')
  assert tokenize.tokenizer_from_json(tok.to_json()).digest == tok.digest


def test_bpe_is_trained_once_deterministically_and_round_trips(text_config, data_dir):
  cfg = text_config('bpe', vocab_size=300)
  tok = text.get_tokenizer(cfg.dataset)
  assert tok.vocab_size == 300
  ds = sources.open_dataset(cfg.dataset)
  again = tokenize.train_bpe(text.split_documents(ds, 'train'), 300)
  assert again.digest == tok.digest                        # deterministic training
  files = list((__import__('pathlib').Path(data_dir) / 'pydocs' / 'tokenizers').glob('bpe-300-*.json'))
  assert len(files) == 1 and tokenize.load_tokenizer(str(files[0])).digest == tok.digest
  val = text.split_text(ds, 'validation')
  ids = tok.encode(val)
  assert tok.decode(ids) == val and int(tok.token_chars[ids].sum()) == len(val)
  assert len(ids) < 0.7 * len(val)                         # 44 merges already compress the text


def _stream(cfg, split='train'):
  ds = sources.open_dataset(cfg.dataset)
  return text.split_tokens(ds, cfg.dataset, split)[0]


def test_train_windows_are_deterministic_resumable_and_cover_epochs(text_config):
  cfg = text_config(seq_len=16, batch_size=8, seed=3)
  info = data.get_dataset_info(cfg.dataset)
  stream = _stream(cfg)
  L = 16
  assert info.kind == 'text' and info.vocab_size == 96 and info.element_spec == {'tokens': ((17,), np.dtype(np.int32))}
  assert info.num_train == len(stream) // L - 1
  it = data.make_train_iterator(cfg)
  first = [next(it)['tokens'] for _ in range(5)]
  state = it.get_state()
  more = [next(it)['tokens'] for _ in range(3)]
  it2 = data.make_train_iterator(cfg)
  it2.set_state(state)
  np.testing.assert_array_equal(np.stack([next(it2)['tokens'] for _ in range(3)]), np.stack(more))
  np.testing.assert_array_equal(it2.batch_at(0)['tokens'], first[0])
  # two processes build the two halves of every global batch
  halves = [data.make_train_iterator(cfg, p, 2).batch_at(1)['tokens'] for p in range(2)]
  np.testing.assert_array_equal(np.concatenate(halves), first[1])
  # every window is a slice of the stream; one epoch visits N distinct windows, all on one offset modulo L
  batches = it.__dict__['_batches']
  n = batches.num_windows
  starts = batches.starts(np.arange(n))
  assert len(np.unique(starts)) == n and len(np.unique(starts % L)) == 1
  nxt = batches.starts(np.arange(n, 2 * n))
  assert len(np.unique(nxt % L)) == 1
  w = batches(0)['tokens']
  s0 = batches.starts(np.arange(8))
  for row, s in zip(w, s0):
    np.testing.assert_array_equal(row, stream[s:s + L + 1])
  # a changed tokenizer, context or seed is refused on resume
  for change in (dict(tokenizer='bpe', vocab_size=300), dict(seq_len=32)):
    other = text_config(seed=3, **{**dict(seq_len=16), **change})
    with pytest.raises(data.DatasetError, match='different input stream'):
      data.make_train_iterator(other).set_state(state)


def test_eval_windows_predict_every_token_once(text_config):
  cfg = text_config(seq_len=16, batch_size=64)
  stream = _stream(cfg, 'test')
  info = data.get_dataset_info(cfg.dataset)
  it = data.make_eval_iterator(cfg)
  targets, rows = [], 0
  for b in it:
    assert b['tokens'].shape == (64, 17) and b['target_mask'].shape == (64, 16)
    keep = b['target_mask'] > 0
    targets.append(b['tokens'][:, 1:][keep])
    rows += int(b['mask'].sum())
    assert np.all(b['target_mask'][b['mask'] == 0] == 0)
  np.testing.assert_array_equal(np.concatenate(targets), stream[1:])
  assert rows == info.num_eval == -(-(len(stream) - 1) // 16)
