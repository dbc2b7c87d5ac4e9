"""A flow trained on 8 (fake CPU) devices gives the losses of 1 device: ActNorm's data-dependent init
reduces over the whole global batch, not one device's shard."""
import os

import jax
import numpy as np

from gen_jax import train
from gen_jax.core.metrics import read_jsonl
from tests import helpers

SPEC = 'experiments/flows/flows_toy2d.py:tiny,glow'
OVERRIDES = {'num_train_steps': 4, 'log_every': 1, 'eval_every': 4, 'checkpoint_every': 4, 'eval_batch_size': 1000,
             'async_checkpointing': False}


def _rows(workdir):
  rows = read_jsonl(os.path.join(workdir, 'metrics.jsonl'))
  return (np.array([r['train/loss'] for r in rows if 'train/loss' in r]),
          [r['eval/nll'] for r in rows if 'eval/nll' in r])


def test_eight_devices_match_one(tmp_path):
  one = str(tmp_path / 'one')
  if jax.device_count() == 1:
    path, variants = SPEC.split(':')
    c = helpers.load_config(path, variants)
    c.update(OVERRIDES)
    train.train_and_evaluate(c, one)
  else:
    r = helpers.run_launcher(f'--config={SPEC}', *[f'--config.{k}={v}' for k, v in OVERRIDES.items()],
                             f'--workdir={one}', devices=1)
    assert r.returncode == 0, r.stderr[-3000:]
  eight = str(tmp_path / 'eight')
  r = helpers.run_launcher(f'--config={SPEC}', *[f'--config.{k}={v}' for k, v in OVERRIDES.items()],
                           f'--workdir={eight}', devices=8)
  assert r.returncode == 0, r.stderr[-3000:]
  assert '8 devices' in r.stderr
  losses1, evals1 = _rows(one)
  losses8, evals8 = _rows(eight)
  assert len(losses1) == 4 and len(evals1) == 1
  np.testing.assert_allclose(losses8, losses1, rtol=2e-5)
  np.testing.assert_allclose(evals8, evals1, rtol=2e-5)
