"""The super-resolution and augmentation studies (use cases 6 and 7) end to end in --tiny mode."""
import json
import math
import os

from tests import helpers


def _load(name):
  return helpers.load_script(os.path.join('experiments', 'gans', name + '.py'))


def test_super_resolution_study_tiny(tmp_path):
  study = _load('study_super_resolution')
  w = str(tmp_path)
  out = study.run(w, scale=2, tiny=True)
  assert [r['method'] for r in out['table']] == ['bicubic', 'l1', 'srgan']
  assert out['lr_shape'] == [14, 14, 1] and out['hr_shape'] == [28, 28, 1]
  for r in out['table']:
    assert 5 < r['psnr'] < 60 and 0 < r['ssim'] <= 1 and r['fid'] >= 0 and 0 <= r['precision'] <= 1
  with open(os.path.join(w, 'super_resolution.json')) as f:
    assert json.load(f) == json.loads(json.dumps(out))
  assert os.path.getsize(os.path.join(w, 'super_resolution.png')) > 0
  saved = sorted(os.listdir(os.path.join(w, 'models')))   # the generators a second run would reuse
  assert len(saved) == 2 and all(os.path.isfile(os.path.join(w, 'models', d, 'generator.msgpack')) for d in saved)


def test_augmentation_study_tiny(tmp_path):
  study = _load('study_augmentation')
  w = str(tmp_path)
  out = study.run(w, per_class=(1, 2), num_seeds=2, tiny=True)
  assert [(r['per_class'], r['seeds']) for r in out['table']] == [(1, 2), (2, 2)]
  assert len(out['runs']) == 2 * 2 * 2
  for r in out['table']:
    assert 0 <= r['real_accuracy'] <= 1 and 0 <= r['real+cgan_accuracy'] <= 1
    assert math.isclose(r['gain'], r['real+cgan_accuracy'] - r['real_accuracy'], abs_tol=2e-4)
    assert r['real_stderr'] is not None and r['gain_stderr'] is not None
  assert 0 <= out['cgan']['synthetic_classified_as_requested'] <= 1
  with open(os.path.join(w, 'augmentation.json')) as f:
    assert json.load(f) == json.loads(json.dumps(out))
  assert os.path.getsize(os.path.join(w, 'augmentation.png')) > 0
