"""The flow studies end to end in --tiny mode (sharing one models directory), and their helpers against
independent computations."""
import json
import math
import os

import numpy as np
import pytest
from scipy import integrate

from gen_jax.core.metrics import read_jsonl
from tests import helpers

OUTPUTS = {'study_mnist5k': ('mnist5k.json', 'samples.png', 'interpolation.png', 'ood.png'),
           'study_toy2d': ('toy2d.json', 'toy2d_density.png', 'toy2d_samples.png', 'toy2d_nfe.png'),
           'study_glow': ('glow.json', 'glow.png')}
ARGS = {'study_mnist5k': {'models': ('glow',), 'temperatures': (0.7, 1.0)},
        'study_toy2d': {'models': ('ffjord',), 'densities': ('rings',)},
        'study_glow': {}}


def _load(name):
  return helpers.load_script(os.path.join('experiments', 'flows', name + '.py'))


@pytest.fixture(scope='module')
def models_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp('flow_models'))


def test_every_study_is_listed():
  found = sorted(f[:-3] for f in os.listdir(os.path.join(helpers.ROOT, 'experiments', 'flows'))
                 if f.startswith('study_'))
  assert found == sorted(OUTPUTS)


@pytest.mark.parametrize('name', sorted(OUTPUTS))
def test_study_tiny_end_to_end(name, tmp_path, models_dir):
  workdir = str(tmp_path / name)
  result = _load(name).run(workdir, tiny=True, models_dir=models_dir, **ARGS[name])
  for f in OUTPUTS[name]:
    assert os.path.getsize(os.path.join(workdir, f)) > 0, f
  with open(os.path.join(workdir, OUTPUTS[name][0])) as f:
    assert json.load(f) == json.loads(json.dumps(result))
  nums = list(helpers.numbers(result))
  assert nums and all(math.isfinite(v) for v in nums)


def test_true_densities_integrate_to_one_and_match_quadrature():
  study = _load('study_toy2d')
  g = np.linspace(-4.5, 4.5, 901)
  pts = np.stack(np.meshgrid(g, g, indexing='xy'), -1).reshape(-1, 2)
  cell = (g[1] - g[0]) ** 2
  for name in ('checkerboard', 'rings'):
    mass = np.exp(study.true_log_density(name, pts)).sum() * cell
    np.testing.assert_allclose(mass, 1.0, atol=0.01)
  # rings against the definition: the angle integrated numerically for one ring
  x = np.array([[1.4, 0.3], [0.2, -2.3], [3.0, 0.1]])
  s = study.RING_STD
  num = [np.mean([integrate.quad(lambda a, r=r, xi=xi: np.exp(-np.sum((xi - r * np.array([np.cos(a), np.sin(a)])) ** 2)
                                                                / (2 * s * s)) / (2 * np.pi * s * s) / (2 * np.pi),
                                 0, 2 * np.pi, limit=200)[0] for r in study.RING_RADII]) for xi in x]
  np.testing.assert_allclose(study.true_log_density('rings', x), np.log(num), rtol=1e-6)
  # checkerboard: the embedded builder's points all lie where the density is 1/32
  from gen_jax.data.builders import toy2d
  data, _ = toy2d.sample_toy2d('checkerboard', 2000, np.random.default_rng(0))
  np.testing.assert_allclose(study.true_log_density('checkerboard', data), -math.log(32))
  assert study.true_log_density('spirals', data) is None


def test_ood_sets_are_dequantized_8bit_images_of_the_test_shape():
  study = _load('study_mnist5k')
  pixels = np.random.default_rng(0).integers(0, 256, (5, 28, 28, 1))
  sets = study.ood_images(pixels)
  assert set(sets) == set(study.OOD_SETS)
  for k, v in sets.items():
    assert v.shape == pixels.shape and v.dtype == np.float32 and v.min() >= 0 and v.max() < 1, k
  np.testing.assert_array_equal(np.floor(sets['inverted'] * 256), 255 - pixels)


def test_study_glow_refuses_an_unknown_choice(tmp_path):
  with pytest.raises(ValueError, match=r"unknown \['scale'\]; allowed: scale_fn, permutation"):
    _load('study_glow').run(str(tmp_path), choices=('scale_fn', 'scale'))
  assert not os.listdir(tmp_path)  # refused before anything was trained or written


def test_study_mnist5k_can_skip_the_ood_sets(tmp_path, models_dir):
  result = _load('study_mnist5k').run(str(tmp_path), tiny=True, models_dir=models_dir, models=('glow',),
                                      temperatures=(1.0,), ood_sets=False)
  assert 'ood' not in result['models']['glow'] and 'bits_per_dim' in result['models']['glow']['test']
  assert not os.path.exists(tmp_path / 'ood.png') and os.path.getsize(tmp_path / 'samples.png') > 0


def test_study_mnist5k_keeps_ffjords_log_every_for_its_nfe_curve(tmp_path, models_dir):
  study = _load('study_mnist5k')
  config, _, info = study.study_run('ffjord', True, 12, models_dir)
  every = helpers.load_config('experiments/flows/flows_mnist5k.py', 'ffjord,tiny').log_every
  assert config.num_train_steps == 12 and config.log_every == every < 12 // 4  # the study's own: 12 // 4
  rows = read_jsonl(os.path.join(info['workdir'], 'metrics.jsonl'))
  steps, nfe = zip(*[(r['step'], r['train/nfe']) for r in rows if 'train/nfe' in r])
  assert list(steps) == list(range(every, config.num_train_steps + 1, every))
  assert all(n >= 7 for n in nfe), nfe  # tsit5: at least one step of 6 evaluations, plus the first one
  study._plot_nfe({'ffjord': list(zip(steps, nfe))}, str(tmp_path / 'nfe.png'))
  assert os.path.getsize(tmp_path / 'nfe.png') > 0
