"""A tiny GPT on 8 fake CPU devices, 2-way data parallel x 4-way FSDP (parameters split), trains exactly like on
1 device (plain 8-way data parallelism is the same code path with fsdp=1: tests/test_multidevice.py)."""
import os

import numpy as np
import pytest

from gen_jax import train
from gen_jax.core.metrics import read_jsonl
from tests import helpers

GPT = 'experiments/transformers/gpt_pydocs.py'
STEPS = 4
# width 64: the MLP kernels (64 x 256 = 2^14 entries) are large enough to be split under FSDP
OVERRIDES = {'num_train_steps': STEPS, 'log_every': 1, 'eval_every': STEPS, 'sample_every': 0,
             'checkpoint_every': STEPS, 'async_checkpointing': False, 'batch_size': 8, 'eval_batch_size': 64,
             'model.width': 64, 'dataset.eval_split': 'test[:25%]'}


def _losses(workdir):
  rows = read_jsonl(os.path.join(workdir, 'metrics.jsonl'))
  return (np.array([r['train/loss'] for r in rows if 'train/loss' in r]),
          [r for r in rows if 'eval/nll' in r][-1]['eval/nll'])


@pytest.fixture(scope='module')
def one_device(tmp_path_factory):
  c = helpers.load_config(GPT, 'tiny')
  for k, v in OVERRIDES.items():
    node = c
    *path, last = k.split('.')
    for p in path:
      node = node[p]
    node[last] = v
  w = str(tmp_path_factory.mktemp('gpt1') / 'w')
  train.train_and_evaluate(c, w)
  return _losses(w)


def test_gpt_on_eight_devices_with_fsdp_matches_one(one_device, tmp_path):
  w = str(tmp_path / 'w')
  args = [f'--config={GPT}:tiny'] + [f'--config.{k}={v}' for k, v in OVERRIDES.items()]
  r = helpers.run_launcher(*args, '--config.mesh.fsdp=4', f'--workdir={w}', devices=8)
  assert r.returncode == 0, r.stderr[-3000:]
  assert '8 devices' in r.stderr and "'data': 2, 'fsdp': 4" in r.stderr
  losses, nll = _losses(w)
  np.testing.assert_allclose(losses, one_device[0], rtol=2e-5)
  np.testing.assert_allclose(nll, one_device[1], rtol=2e-5)
