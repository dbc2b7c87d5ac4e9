"""Train and eval iterators: determinism, reshuffling, resumption, sharding, padding, errors."""
import json

import numpy as np
import pytest
import tensorflow_datasets as tfds

from gen_jax import data


def take(it, n):
  return [next(it) for _ in range(n)]


def assert_batches_equal(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    assert x.keys() == y.keys()
    for k in x:
      np.testing.assert_array_equal(x[k], y[k])


def test_dataset_info(make_config):
  info = data.get_dataset_info(make_config('mnist5k').dataset)
  assert info == data.DatasetInfo('mnist5k', 'image', {'image': ((28, 28, 1), np.dtype('float32')),
                                                       'label': ((), np.dtype('int32'))}, 4000, 1000, 10)
  info = data.get_dataset_info(make_config('digits').dataset)
  assert (info.element_spec['image'][0], info.num_train, info.num_eval) == ((8, 8, 1), 1437, 360)
  info = data.get_dataset_info(make_config('toy2d/8gaussians').dataset)
  assert info.kind == 'points' and info.num_classes == 8 and (info.num_train, info.num_eval) == (50_000, 10_000)
  assert info.element_spec == {'x': ((2,), np.dtype('float32')), 'label': ((), np.dtype('int32'))}
  info = data.get_dataset_info(make_config('digits', train_split='train[:1000]', eval_split='train[1000:]').dataset)
  assert (info.num_train, info.num_eval) == (1000, 437)


def test_train_batches_shapes_and_ranges(make_config):
  b = next(data.make_train_iterator(make_config('mnist5k', batch_size=16, scale='-11')))
  assert b['image'].shape == (16, 28, 28, 1) and b['image'].dtype == np.float32
  assert b['label'].shape == (16,) and b['label'].dtype == np.int32
  assert b['image'].min() == -1.0 and b['image'].max() == 1.0
  b = next(data.make_train_iterator(make_config('toy2d/8gaussians', batch_size=64)))
  assert b['x'].shape == (64, 2) and b['x'].dtype == np.float32 and b['label'].dtype == np.int32
  assert np.all((b['label'] >= 0) & (b['label'] < 8))
  modes = data.toy2d_modes('8gaussians')[b['label']]
  assert np.linalg.norm(b['x'] - modes, axis=1).max() < 5 * data.toy2d_mode_std('8gaussians')


def test_train_is_deterministic_and_seeded(make_config):
  cfg = make_config('digits', batch_size=64, binarize='sample')
  a, b = take(data.make_train_iterator(cfg), 30), take(data.make_train_iterator(cfg), 30)
  assert_batches_equal(a, b)  # 30 steps > 1 epoch: reshuffles and fresh binarization are seeded too
  c = take(data.make_train_iterator(make_config('digits', batch_size=64, binarize='sample', seed=1)), 30)
  assert not np.array_equal(a[0]['image'], c[0]['image'])
  assert not np.array_equal(a[0]['label'], c[0]['label'])


def test_each_epoch_is_a_fresh_permutation(make_config):
  """1437 = 3 x 479: batches 0-2 are epoch 0, 3-5 epoch 1; each holds every example once."""
  batches = take(data.make_train_iterator(make_config('digits', batch_size=479, prefetch=0)), 6)
  rows = [np.concatenate([b['image'].reshape(479, -1), b['label'][:, None]], 1) for b in batches]
  e0, e1 = np.concatenate(rows[:3]), np.concatenate(rows[3:])
  reference = np.concatenate(
      [np.concatenate([b['image'].reshape(len(b['mask']), -1), b['label'][:, None]], 1)[b['mask'] > 0]
       for b in data.make_eval_iterator(make_config('digits', batch_size=500), split='train')])
  def as_sorted(a):
    return a[np.lexsort(a.T[::-1])]
  np.testing.assert_array_equal(as_sorted(e0), as_sorted(reference))
  np.testing.assert_array_equal(as_sorted(e1), as_sorted(reference))
  assert not np.array_equal(e0, e1)  # reshuffled


@pytest.mark.parametrize('fields', [dict(binarize='sample'), dict(dequantize='uniform', prefetch=0)])
def test_resume_gives_identical_next_batches(make_config, fields):
  cfg = make_config('mnist5k', batch_size=48, **fields)
  it = data.make_train_iterator(cfg)
  take(it, 7)
  state = json.loads(json.dumps(it.get_state()))  # JSON round trip (checkpointed with the model)
  expected = take(it, 90)  # crosses an epoch boundary (4000 / 48 = 83.3 steps per epoch)
  resumed = data.make_train_iterator(cfg)
  resumed.set_state(state)
  assert_batches_equal(take(resumed, 90), expected)
  assert resumed.get_state() == it.get_state()
  it.set_state(state)  # rewinding the same iterator works too
  assert_batches_equal(take(it, 3), expected[:3])


def test_resume_rejects_a_different_stream(make_config):
  state = data.make_train_iterator(make_config('mnist5k', batch_size=32)).get_state()
  other = data.make_train_iterator(make_config('mnist5k', batch_size=32, seed=3))
  with pytest.raises(data.DatasetError, match='seed'):
    other.set_state(state)


@pytest.mark.parametrize('fields', [dict(name='digits', binarize='sample'), dict(name='toy2d/moons')])
def test_processes_split_the_global_batch(make_config, fields):
  """Process p's local batch k == rows [p L, (p+1) L) of the 1-process global batch k."""
  cfg = make_config(batch_size=96, **fields)
  steps = 20  # > 1 epoch of digits (1437 / 96 = 15 steps)
  whole = take(data.make_train_iterator(cfg, 0, 1), steps)
  parts = [take(data.make_train_iterator(cfg, p, 2), steps) for p in range(2)]
  for k in range(steps):
    for key in whole[k]:
      np.testing.assert_array_equal(np.concatenate([parts[0][k][key], parts[1][k][key]]), whole[k][key])
  # a run saved with 1 process resumes with 2, on the same global stream
  it = data.make_train_iterator(cfg, 1, 2)
  it.set_state({**data.make_train_iterator(cfg).get_state(), 'step': 5})
  np.testing.assert_array_equal(next(it)[list(whole[5])[0]], parts[1][5][list(whole[5])[0]])


def test_batch_not_divisible_by_processes(make_config):
  with pytest.raises(data.DatasetError, match='not divisible by the 3 processes'):
    data.make_train_iterator(make_config('digits', batch_size=32), 0, 3)
  with pytest.raises(data.DatasetError, match='not divisible'):
    data.make_eval_iterator(make_config('digits', batch_size=10), 0, 4)


@pytest.mark.parametrize('count', [1, 3])
def test_eval_covers_each_example_once(make_config, count):
  cfg = make_config('mnist5k', batch_size=96, binarize='sample')  # 1000 = 10 x 96 + 40
  runs = [list(data.make_eval_iterator(cfg, p, count)) for p in range(count)]
  assert len({len(r) for r in runs}) == 1 and len(runs[0]) == 11  # same number of batches per process
  for r in runs:
    for b in r:
      assert b['image'].shape == (96 // count, 28, 28, 1) and b['mask'].shape == (96 // count,)
      assert b['mask'].dtype == np.float32 and b['label'].shape == (96 // count,)
  assert sum(float(b['mask'].sum()) for r in runs for b in r) == 1000
  # in global order the real rows are the eval split, once each, in stored order
  merged = np.concatenate([np.concatenate([runs[p][k]['image'] for p in range(count)])
                           for k in range(len(runs[0]))])
  mask = np.concatenate([np.concatenate([runs[p][k]['mask'] for p in range(count)])
                         for k in range(len(runs[0]))])
  assert np.all(mask[:1000] == 1) and np.all(mask[1000:] == 0) and np.all(merged[1000:] == 0)
  single = np.concatenate([b['image'] for b in data.make_eval_iterator(cfg)])
  np.testing.assert_array_equal(merged, single)  # dynamic binarization in eval is fixed-seeded


def test_eval_pads_with_fully_masked_batches(make_config):
  """360 digits, global batch 352 over 4 processes: 2 batches each; process 3 has no real row in batch 1."""
  cfg = make_config('digits', batch_size=352, seed=5)
  runs = [list(data.make_eval_iterator(cfg, p, 4)) for p in range(4)]
  assert [len(r) for r in runs] == [2, 2, 2, 2]
  assert [float(r[1]['mask'].sum()) for r in runs] == [8, 0, 0, 0]
  other = list(data.make_eval_iterator(make_config('digits', batch_size=352, seed=6), 0, 4))
  assert_batches_equal(runs[0], other)  # eval does not depend on config.seed


def test_unknown_and_bad_names(make_config):
  with pytest.raises(data.DatasetError) as e:
    data.get_dataset_info(make_config('mnist5000').dataset)
  for name in data.EMBEDDED:
    assert name in str(e.value)
  with pytest.raises(data.DatasetError, match='toy2d/moons'):
    data.get_dataset_info(make_config('toy2d/moon').dataset)
  with pytest.raises(data.DatasetError, match='holds points'):
    data.get_dataset_info(make_config('toy2d/moons', scale='01').dataset)
  with pytest.raises(data.DatasetError, match="splits: test, train"):
    data.get_dataset_info(make_config('digits', eval_split='validation').dataset)


def test_catalog_not_prepared_offline(make_config, tmp_path):
  with pytest.raises(data.DatasetError, match='not prepared') as e:
    data.get_dataset_info(make_config('mnist', data_dir=str(tmp_path), download=False).dataset)
  assert 'mnist5k' in str(e.value)


def test_catalog_prepared_as_tfrecord(make_config, tmp_path):
  builder = tfds.builder('mnist', data_dir=str(tmp_path))  # fake a tfrecord-prepared copy
  builder.data_path.mkdir(parents=True)
  builder.info.write_to_directory(builder.data_path)
  with pytest.raises(data.DatasetError, match="'tfrecord' format.*requires array_record"):
    data.get_dataset_info(make_config('mnist', data_dir=str(tmp_path)).dataset)


def test_catalog_dataset_through_mock_data(make_config):
  with tfds.testing.mock_data(num_examples=50, policy=tfds.testing.MockPolicy.USE_CODE):
    cfg = make_config('mnist', batch_size=16, binarize='threshold')
    info = data.get_dataset_info(cfg.dataset)
    assert info.kind == 'image' and info.num_classes == 10 and info.num_eval == 50
    assert info.element_spec['image'] == ((28, 28, 1), np.dtype('float32'))
    it = data.make_train_iterator(cfg)
    a = take(it, 5)  # 80 rows: crosses an epoch of 50
    assert a[0]['image'].shape == (16, 28, 28, 1) and set(np.unique(a[0]['image'])) <= {0.0, 1.0}
    state = it.get_state()
    nxt = take(it, 2)
    again = data.make_train_iterator(cfg)
    again.set_state(state)
    assert_batches_equal(take(again, 2), nxt)
    ev = [list(data.make_eval_iterator(cfg, p, 2)) for p in range(2)]  # 50 = 3 x 16 + 2
    assert [[float(b['mask'].sum()) for b in e] for e in ev] == [[8, 8, 8, 2], [8, 8, 8, 0]]
    info = data.get_dataset_info(make_config('cifar10').dataset)
    assert info.element_spec['image'][0] == (32, 32, 3) and info.num_classes == 10


def test_catalog_offline_fails_fast(make_config, tmp_path, monkeypatch):
  from gen_jax.data import sources
  monkeypatch.setattr(sources, '_network_reachable', lambda *a, **k: False)
  with pytest.raises(data.DatasetError, match='network is unreachable'):
    data.get_dataset_info(make_config('fashion_mnist', data_dir=str(tmp_path)).dataset)


def test_worker_processes_give_the_same_batches(make_config):
  cfg = make_config('digits', batch_size=32, dequantize='uniform')
  expected = take(data.make_train_iterator(cfg), 6)
  cfg.dataset.num_workers = 2
  it = data.make_train_iterator(cfg)
  try:
    assert_batches_equal(take(it, 6), expected)
  finally:
    it.close()
