"""Every experiment's `tiny` variant runs end to end: train, checkpoint, eval, sample."""
import json
import os

import pytest
from PIL import Image

from gen_jax import train
from tests import helpers


@pytest.mark.parametrize('path', helpers.experiment_files())
def test_tiny_variant_end_to_end(path, tmp_path):
  config = helpers.load_config(path, 'tiny')
  config.async_checkpointing = False
  w = str(tmp_path / 'w')
  out = train.train_and_evaluate(config, w)
  assert out['step'] == config.num_train_steps
  steps = sorted(int(d) for d in os.listdir(os.path.join(w, 'checkpoints')) if d.isdigit())
  assert steps[-1] == config.num_train_steps
  report = train.run_eval(config, w)
  with open(os.path.join(w, 'eval.json')) as f:
    assert json.load(f) == json.loads(json.dumps(report))
  assert report['checkpoint_step'] == config.num_train_steps
  for v in report['metrics'].values():
    assert v['num_samples'] > 0 and (v['stderr'] is None or v['stderr'] >= 0)
  path = train.run_sample(config, w)
  if path.endswith('.png'):
    assert Image.open(path).size[0] > 0
  images = os.listdir(os.path.join(w, 'images')) if os.path.isdir(os.path.join(w, 'images')) else []
  if config.sample_every:
    assert images, 'training wrote no sample/reconstruction grids'
