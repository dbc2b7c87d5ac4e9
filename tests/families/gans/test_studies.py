"""The GAN studies on their tiny settings, and the vmapped multi-seed trainer they use."""
import json
import math
import os

import jax
import numpy as np
import pytest

from gen_jax.families.gans import seeds as seeds_lib
from tests import helpers
from tests.families.gans import tiny


def _load(name):
  return helpers.load_script(os.path.join('experiments', 'gans', name + '.py'))


@pytest.mark.slow   # two compilations of a scanned, vmapped step: ~20 s; the study test below runs the same code
def test_vmapped_seeds_are_independent_runs():
  """Seed 1 of a two-seed vmapped run is the one-seed run of seed 1 (vmap changes nothing), and the two
  seeds differ."""
  c = tiny.config('mlp', 'toy2d/8gaussians')
  rng = np.random.default_rng(0)
  data = {'x': rng.normal(size=(64, 2)).astype(np.float32), 'label': (np.arange(64) % 8).astype(np.int32)}
  both, info = seeds_lib.train_seeds(c, data, [0, 1], 6, chunk=3)
  one, _ = seeds_lib.train_seeds(c, data, [1], 6, chunk=3)
  assert info['loss'].shape == (2, 2) and not info['diverged'].any()
  for a, b in zip(jax.tree.leaves(both), jax.tree.leaves(one)):
    np.testing.assert_allclose(np.asarray(a)[1], np.asarray(b)[0], rtol=2e-5, atol=1e-6)
  leaf = jax.tree.leaves(both.params['g'])[0]
  assert not np.allclose(leaf[0], leaf[1])


def test_mode_collapse_study_tiny(tmp_path):
  study = _load('study_mode_collapse')
  w = str(tmp_path)
  out = study.run(w, tiny=True, num_seeds=2, densities=('8gaussians',), losses=('nonsaturating',),
                  regularisers=('pac',))
  assert [(r['loss'], r['regulariser'], r['seeds']) for r in out['table']] == [('nonsaturating', 'pac', 2)]
  assert len(out['runs']) == 2
  for r in out['runs']:
    assert r['num_modes'] == 8 and 0 <= r['modes_hit'] <= 8 and 0 <= r['high_quality'] <= 1 and not r['diverged']
  with open(os.path.join(w, 'mode_collapse.json')) as f:
    assert json.load(f) == json.loads(json.dumps(out))
  assert os.path.getsize(os.path.join(w, 'mode_collapse_8gaussians.png')) > 0
  assert all(math.isfinite(v) for v in helpers.numbers(out['table']))


def test_image_generation_study_tiny(tmp_path):
  """The conditional DCGAN (the path with labels): the table, the per-class accuracy and the grids."""
  study = _load('study_image_generation')
  w = str(tmp_path)
  out = study.run(w, models=('cgan',), tiny=True)
  assert [r['model'] for r in out['table']] == ['cgan']
  cgan, = out['table']
  assert 0 <= cgan['conditional_accuracy'] <= 1
  assert set(out['conditional_per_class']['cgan']) == set(range(10))
  assert all(v is not None and math.isfinite(v) for r in out['table'] for k, v in r.items()
             if k in ('fid', 'kid', 'precision', 'recall', 'g_params', 'd_params', 'train_wall_s'))
  for name in ('samples_cgan.png', 'samples.png', 'image_generation.json'):
    assert os.path.getsize(os.path.join(w, name)) > 0


@pytest.mark.slow   # a tiny StyleGAN, six scored truncation levels and two path lengths: ~2 minutes on the shared CPU
def test_editing_study_tiny(tmp_path):
  study = _load('study_editing')
  w = str(tmp_path)
  out = study.run(w, tiny=True)
  assert set(out['path_length']) == {'z', 'w'} and all(v > 0 for v in out['path_length'].values())
  psis = [r['psi'] for r in out['truncation']]
  assert psis == sorted(psis) and psis[0] == 0.0 and psis[-1] == 1.0
  assert out['truncation'][0]['recall'] <= out['truncation'][-1]['recall'] + 0.05   # psi = 0: one image only
  for name in ('interpolation.png', 'style_mixing.png', 'truncation.png', 'editing.json'):
    assert os.path.getsize(os.path.join(w, name)) > 0


def test_sensitivity_study_tiny(tmp_path):
  study = _load('study_sensitivity')
  w = str(tmp_path)
  out = study.run(w, lrs=(2e-4,), beta1s=(0.5,), critics=(2,), tiny=True)
  assert [(r['n_critic'], r['batch']) for r in out['table']] == [(2, 16)]    # each critic update: its own batch of 8
  assert all(not r['diverged'] and math.isfinite(r['fid']) for r in out['table'])
  assert os.path.getsize(os.path.join(w, 'sensitivity.png')) > 0
