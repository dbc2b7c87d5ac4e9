"""Every study script (experiments/autoencoders/study_*.py) runs end to end in --tiny mode.

The studies share one models directory, so a tiny model two studies both need is trained once.
"""
import glob
import json
import math
import os

import pytest

from tests import helpers

STUDIES = sorted(glob.glob(os.path.join(helpers.ROOT, 'experiments', 'autoencoders', 'study_*.py')))
OUTPUTS = {'study_denoising': ('denoising.json', 'denoising_psnr.png', 'denoising_examples.png'),
           'study_latent_size': ('latent_size.json', 'latent_size.png'),
           'study_visualization': ('visualization.json', 'latents_2d.png', 'manifold_2d.png'),
           'study_features': ('features.json', 'features.png'),
           'study_anomaly': ('anomaly.json', 'anomaly.png'),
           'study_interpolation': ('interpolation.json', 'interpolation.png'),
           'study_loss': ('loss.json', 'loss.png'),
           'study_models': ('models.json', 'models.png')}


_load = helpers.load_script
_numbers = helpers.numbers


@pytest.fixture(scope='module')
def models_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp('ae_models'))


def test_every_study_is_listed():
  assert sorted(os.path.splitext(os.path.basename(p))[0] for p in STUDIES) == sorted(OUTPUTS)


@pytest.mark.parametrize('path', STUDIES, ids=lambda p: os.path.basename(p))
def test_study_tiny_end_to_end(path, tmp_path, models_dir):
  name = os.path.splitext(os.path.basename(path))[0]
  workdir = str(tmp_path / name)
  result = _load(path).run(workdir, tiny=True, models_dir=models_dir)
  for f in OUTPUTS[name]:
    assert os.path.getsize(os.path.join(workdir, f)) > 0, f
  with open(os.path.join(workdir, OUTPUTS[name][0])) as f:
    assert json.load(f) == json.loads(json.dumps(result))
  nums = list(_numbers(result))
  assert nums and all(math.isfinite(v) for v in nums)
