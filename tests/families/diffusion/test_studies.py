"""The diffusion study scripts: on non-image data (study_toy2d.py, study_signals1d.py) their helpers
against independent computations and each end to end on its tiny variant; on images
(study_editing.py, study_guidance.py) their measurements on a tiny untrained UNet."""
import json
import math
import os

import numpy as np
import pytest

from tests import helpers


def _load(name):
  return helpers.load_script(os.path.join('experiments', 'diffusion', name + '.py'))


_numbers = helpers.numbers


def _check_outputs(workdir, result, stem):
  assert os.path.getsize(os.path.join(workdir, stem + '.png')) > 0
  with open(os.path.join(workdir, stem + '.json')) as f:
    assert json.load(f) == json.loads(json.dumps(result))
  nums = list(_numbers(result))
  assert nums and all(math.isfinite(v) for v in nums)


def test_toy2d_helpers_on_true_samples():
  from scipy.stats import multivariate_normal
  from gen_jax import studies
  from gen_jax.data.builders import toy2d
  study = _load('study_toy2d')
  x, _ = toy2d.sample_toy2d('8gaussians', 4000, np.random.default_rng(0))
  # the exact mixture log density, against scipy's Gaussian pdfs
  centers = toy2d.toy2d_modes('8gaussians')
  ref = np.log(np.mean([multivariate_normal(c, 0.02 ** 2 * np.eye(2)).pdf(x[:50]) for c in centers], axis=0))
  np.testing.assert_allclose(toy2d.toy2d_log_density('8gaussians', x[:50]), ref, rtol=1e-6)
  with pytest.raises(ValueError):
    toy2d.toy2d_log_density('moons', x[:5])
  assert study.mixture('toy2d/moons') is None
  q = studies.point_quality(x[:2000], x[2000:], 'toy2d/8gaussians')
  assert q['modes_hit'] == q['num_modes'] == 8 and q['high_quality'] > 0.98
  entropy = math.log(8) + math.log(2 * math.pi * math.e * 0.02 ** 2)  # well-separated mixture
  assert abs(q['true_nll'] - entropy) < 0.1 and abs(q['kid_raw']) < 0.05
  assert 'modes_hit' not in studies.point_quality(x[:100], x[100:200], 'toy2d/moons')
  box = study.grid_box(x)
  assert box[0] < -2 and box[1] > 2 and abs((box[1] - box[0]) - (box[3] - box[2])) < 1e-9


def test_signals1d_helpers_on_real_signals():
  from gen_jax.data.builders import signals1d
  study = _load('study_signals1d')
  d = signals1d.sample_signals(1000, np.random.default_rng(0))
  real = signals1d.sample_signals(1000, np.random.default_rng(1))['x']
  r = study.compare(d['x'], real, labels=d['label'])
  assert r['label_accuracy'] == 1.0 and r['peaks_in_1_3'] == 1.0 and r['peaks_tv'] < 0.1
  assert r['spectrum_l1'] < 0.2 and r['peak_histogram'][0] == 0
  # white noise of the same variance: no dominant peaks and a flat spectrum
  noise = np.random.default_rng(2).normal(0, real.std(), real.shape)
  n = study.compare(noise, real)
  assert n['peaks_in_1_3'] < 0.5 and n['spectrum_l1'] > 1.0 and n['peaks_tv'] > 0.5
  # power spectrum: a unit sine on bin 3 has |X_3|^2 / L = L / 4
  t = np.arange(64) / 64
  ps = study.power_spectrum(np.sin(2 * np.pi * 3 * t)[None])
  np.testing.assert_allclose(ps[3], 16.0, rtol=1e-9)
  assert ps[np.arange(33) != 3].max() < 1e-20
  assert study.peak_histogram(np.zeros((4, 64))).tolist() == [1.0] + [0.0] * study.MAX_PEAKS


@pytest.mark.parametrize('name,config_path,variant', [
    ('study_toy2d', 'experiments/diffusion/ddpm_toy2d.py', 'tiny,8gaussians'),
    ('study_signals1d', 'experiments/diffusion/ddpm_signals1d.py', 'tiny'),
])
def test_study_tiny_end_to_end(name, config_path, variant, tmp_path):
  study = _load(name)
  config = helpers.load_config(config_path, variant)
  config.async_checkpointing = False
  workdir = str(tmp_path / name)
  kwargs = {'grid': 12} if name == 'study_toy2d' else {}
  result = study.run(config, workdir, num=200, **kwargs)  # trains the tiny run first
  assert result['checkpoint_step'] == config.num_train_steps
  stem = name.split('_', 1)[1]
  _check_outputs(workdir, result, stem)
  if name == 'study_toy2d':
    assert result['density']['zoom']['grid'] == 8 and result['samples']['num_modes'] == 8
  else:
    assert {'model', 'floor', 'gaussian_diag', 'gaussian_cov'} <= set(result)
    assert result['floor']['peaks_in_1_3'] == 1.0
  again = study.run(config, workdir, num=200, train_if_needed=False, **kwargs)  # reuses the checkpoint
  assert again['checkpoint_step'] == config.num_train_steps


def test_editing_masks_metrics_and_tables_on_a_tiny_model(tmp_path):
  import jax
  from gen_jax.families import diffusion as fam
  study = _load('study_editing')
  masks = study.make_masks(28, 28)
  assert masks['bottom_half'][:14].all() and not masks['bottom_half'][14:].any()
  assert (1 - masks['center']).sum() == 12 * 12
  # border jump: a constant image has none; PSNR over the hidden pixels only
  flat = np.zeros((2, 28, 28, 1))
  assert study.border_jump(flat, masks['center']) == 0.0
  off = flat + (1 - masks['center']) * 0.2 + masks['center'] * 0.7  # 0.2 off where hidden, 0.7 where known
  assert study.psnr_region(off, flat, masks['center']) == pytest.approx(10 * math.log10(4 / 0.04))  # 20 dB
  config = helpers.load_config('experiments/diffusion/ddpm_mnist5k.py', 'tiny')
  state = fam.init(jax.random.key(0), config, None)
  from gen_jax import studies
  test = studies.load_split(config, num=6)
  images, labels = test['image'], test['label']
  assert images.shape == (6, 28, 28, 1) and images.min() >= -1 and images.max() <= 1
  rows, outputs = study.run_inpainting(config, state, images, labels, jump_length=5, jump_n_sample=2, batch=4)
  assert [(r['mask'], r['method']) for r in rows] == [('bottom_half', 'replacement'), ('bottom_half', 'repaint'),
                                                      ('center', 'replacement'), ('center', 'repaint')]
  assert rows[0]['nfe'] == 20 and rows[1]['nfe'] > 20  # T = 20; RePaint revisits steps
  for (mask_name, _), x in outputs.items():  # the known pixels are kept exactly
    m = masks[mask_name] > 0.5
    np.testing.assert_allclose(x[:, m[..., 0]], images[:, m[..., 0]], atol=1e-5)
  interp, psnr = study.run_interpolation(config, state, images, pairs=1, points=4, ddim_steps=5)
  assert interp.shape == (1, 4, 28, 28, 1) and np.isfinite(psnr)


def test_guidance_study_rows_and_figures_on_a_tiny_model(tmp_path):
  import jax
  from gen_jax.families import diffusion as fam
  study = _load('study_guidance')
  assert study.scale_spec('ddim:50', 2) == 'ddim:50:guidance_scale=2.0'
  config = helpers.load_config('experiments/diffusion/ddpm_mnist5k.py', 'tiny,cfg')
  state = fam.init(jax.random.key(0), config, None)
  data = np.random.default_rng(0).uniform(-1, 1, size=(30, 28, 28, 1))
  rows, samples = study.run_guidance_study(config, state, data, [0.0, 1.0, 3.0], 'ddim:2', num=20, batch=10)
  assert [r['guidance_scale'] for r in rows] == [0.0, 1.0, 3.0]
  assert [r['nfe'] for r in rows] == [4, 2, 4]  # guided calls run the conditional and null passes
  assert all(0 <= r['conditional_accuracy'] <= 1 and np.isfinite(r['fid']) for r in rows)
  assert set(samples) == {0.0, 1.0, 3.0} and samples[1.0].shape == (20, 28, 28, 1)
  study.save_figures(rows, samples, 10, str(tmp_path))
  assert os.path.getsize(tmp_path / 'guidance.png') > 0 and os.path.getsize(tmp_path / 'guidance_curve.png') > 0
