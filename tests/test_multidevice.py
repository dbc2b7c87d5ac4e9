"""The same global batch on 1 device, 8 fake devices, and 2 processes x 4 devices (gloo) trains identically."""
import os
import socket
import subprocess

import numpy as np
import pytest

from gen_jax.core.metrics import read_jsonl
from tests import helpers

VAE = 'experiments/autoencoders/vae_mnist5k.py'
STEPS = 6
ARGS = [f'--config={VAE}:tiny,mlp', f'--config.num_train_steps={STEPS}', '--config.log_every=1',
        '--config.eval_every=6', '--config.sample_every=0', '--config.checkpoint_every=3',
        '--config.async_checkpointing=False']


def _losses(workdir):
  rows = read_jsonl(os.path.join(workdir, 'metrics.jsonl'))
  return (np.array([r['train/loss'] for r in rows if 'train/loss' in r]),
          [r for r in rows if 'eval/nelbo' in r])


@pytest.fixture(scope='module')
def one_device_run(tmp_path_factory):
  w = str(tmp_path_factory.mktemp('one') / 'w')
  r = helpers.run_launcher(*ARGS, f'--workdir={w}', devices=1)
  assert r.returncode == 0, r.stderr[-3000:]
  return _losses(w)


@pytest.mark.parametrize('mesh', [[], ['--config.mesh.fsdp=4']], ids=['data8', 'data2_fsdp4'])
def test_eight_devices_match_one(one_device_run, tmp_path, mesh):
  """Data parallel over 8 devices, and 2-way data x 4-way FSDP (parameters split), match 1 device."""
  w = str(tmp_path / 'w')
  r = helpers.run_launcher(*ARGS, *mesh, f'--workdir={w}', devices=8)
  assert r.returncode == 0, r.stderr[-3000:]
  assert '8 devices' in r.stderr
  if mesh:
    assert "'data': 2, 'fsdp': 4" in r.stderr
  losses, evals = _losses(w)
  np.testing.assert_allclose(losses, one_device_run[0], rtol=2e-5)
  np.testing.assert_allclose(evals[-1]['eval/nelbo'], one_device_run[1][-1]['eval/nelbo'], rtol=2e-5)


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _two_process_run(workdir, steps, port):
  procs = []
  for pid in range(2):
    env = helpers.env(4, GEN_JAX_DISTRIBUTED='', JAX_COORDINATOR_ADDRESS=f'127.0.0.1:{port}',
                      JAX_NUM_PROCESSES='2', JAX_PROCESS_ID=str(pid))
    args = [a.replace(f'num_train_steps={STEPS}', f'num_train_steps={steps}') for a in ARGS]
    procs.append(subprocess.Popen(helpers.launcher(*args, f'--workdir={workdir}'), cwd=helpers.ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
  outs = [p.communicate(timeout=400) for p in procs]
  for p, (out, err) in zip(procs, outs):
    assert p.returncode == 0, err[-4000:]
  return outs


def test_two_processes_gloo_train_checkpoint_restore(one_device_run, tmp_path):
  """A real 2-process job (4 fake CPU devices each): trains, checkpoints, and a restart restores."""
  w = str(tmp_path / 'w')
  outs = _two_process_run(w, 3, _free_port())
  assert '2 process(es), 8 devices' in outs[0][1]
  assert 'steps/s' in outs[0][0] and 'steps/s' not in outs[1][0]  # only process 0 prints progress
  assert os.path.isdir(os.path.join(w, 'checkpoints', '3'))
  outs = _two_process_run(w, STEPS, _free_port())  # resumes from step 3
  assert 'resuming at step 3' in outs[0][1]
  losses, evals = _losses(w)
  np.testing.assert_allclose(losses, one_device_run[0], rtol=2e-5)
  np.testing.assert_allclose(evals[-1]['eval/nelbo'], one_device_run[1][-1]['eval/nelbo'], rtol=2e-5)
