"""End-to-end behaviour of the train loop: resume, preemption, bad input, non-finite loss."""
import os
import signal
import subprocess

import jax
import numpy as np
import pytest

from gen_jax import train
from gen_jax.core.errors import CheckpointError, ConfigError, NonFiniteLossError
from gen_jax.core.metrics import read_jsonl
from tests import helpers

VAE = 'experiments/autoencoders/vae_mnist5k.py'


TINY = 'tiny,mlp'  # the loop is family-agnostic: the MLP VAE compiles in a fraction of the conv one's time


def tiny(**overrides):
  c = helpers.load_config(VAE, TINY)
  c.async_checkpointing = False
  for k, v in overrides.items():
    node = c
    *path, last = k.split('.')
    for p in path:
      node = node[p]
    node[last] = v
  return c


def _params(workdir):
  run = train.setup(tiny(), workdir, 'eval')
  state = train.restore_for_inference(run)
  return jax.device_get(state)


def test_resume_is_exact(tmp_path):
  """N steps + resume + M steps == N+M steps, bitwise (params, opt state, EMA, metrics).

  The schedule is constant so that extending num_train_steps does not change the
  learning rate of the first N steps (a cosine schedule depends on the total).
  """
  a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
  kw = dict(log_every=1, checkpoint_every=6, eval_every=0, sample_every=0, **{'optim.schedule': 'constant'})
  train.train_and_evaluate(tiny(num_train_steps=6, **kw), a)
  train.train_and_evaluate(tiny(num_train_steps=12, **kw), a)
  train.train_and_evaluate(tiny(num_train_steps=12, **kw), b)
  sa, sb = _params(a), _params(b)
  assert int(sa.step) == int(sb.step) == 12
  for x, y in zip(jax.tree.leaves(sa), jax.tree.leaves(sb)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
  la = [r['train/loss'] for r in read_jsonl(os.path.join(a, 'metrics.jsonl')) if 'train/loss' in r]
  lb = [r['train/loss'] for r in read_jsonl(os.path.join(b, 'metrics.jsonl')) if 'train/loss' in r]
  assert la == lb and len(la) == 12
  # a finished run given the same command again trains nothing and writes nothing
  assert train.train_and_evaluate(tiny(num_train_steps=12, **kw), b) == {'step': 12, 'stopped': False}
  assert len([r for r in read_jsonl(os.path.join(b, 'metrics.jsonl')) if 'train/loss' in r]) == 12


def test_sigterm_saves_and_restart_continues(tmp_path):
  workdir = str(tmp_path / 'run')
  args = [f'--config={VAE}:{TINY}', f'--workdir={workdir}', '--config.num_train_steps=400', '--config.log_every=1',
          '--config.checkpoint_every=1000', '--config.eval_every=0', '--config.sample_every=0']
  proc = subprocess.Popen(helpers.launcher(*args), cwd=helpers.ROOT, env=helpers.env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
  lines = []
  for line in proc.stdout:  # wait until it is really training
    lines.append(line)
    if line.startswith('step') and '/400' in line and not line.startswith('step   1/'):
      break
  proc.send_signal(signal.SIGTERM)
  out, _ = proc.communicate(timeout=120)
  assert proc.returncode == 0, ''.join(lines) + out
  assert 'Stopped by SIGTERM' in out
  steps = sorted(int(d) for d in os.listdir(os.path.join(workdir, 'checkpoints')) if d.isdigit())
  assert steps and 0 < steps[-1] < 400
  stopped_at = steps[-1]
  r = helpers.run_launcher(*args)  # the same command resumes and finishes
  assert r.returncode == 0, r.stderr
  assert f'resuming at step {stopped_at}' in r.stderr
  rows = [row for row in read_jsonl(os.path.join(workdir, 'metrics.jsonl')) if 'train/loss' in row]
  resumed = {row['step']: row['train/loss'] for row in rows}
  assert sorted(resumed) == list(range(1, 401))
  # ... and exactly as if it had never stopped.
  ref = str(tmp_path / 'ref')
  c = tiny(num_train_steps=400, log_every=1, checkpoint_every=1000, eval_every=0, sample_every=0)
  train.train_and_evaluate(c, ref)
  want = {row['step']: row['train/loss'] for row in read_jsonl(os.path.join(ref, 'metrics.jsonl'))
          if 'train/loss' in row}
  assert resumed == want


def test_checkpoint_from_different_config_is_refused(tmp_path):
  w = str(tmp_path / 'w')
  train.train_and_evaluate(tiny(num_train_steps=4, checkpoint_every=4, eval_every=0, sample_every=0), w)
  with pytest.raises(CheckpointError, match=r'different config[\s\S]*model'):
    train.setup(tiny(**{'model.latent_dim': 7}), w, 'train')
  # Changing what may change (the number of steps, the learning rate) is allowed.
  train.setup(tiny(num_train_steps=50, **{'optim.lr': 1e-4}), w, 'train')


def test_corrupt_checkpoint_is_reported(tmp_path):
  w = str(tmp_path / 'w')
  train.train_and_evaluate(tiny(num_train_steps=4, checkpoint_every=4, eval_every=0, sample_every=0), w)
  state_dir = os.path.join(w, 'checkpoints', '4', 'state')
  for root, _, files in os.walk(state_dir):
    for f in files:
      with open(os.path.join(root, f), 'wb') as fh:
        fh.write(b'\x00garbage')
  with pytest.raises(CheckpointError, match='unreadable'):
    run = train.setup(tiny(), w, 'train')
    train.init_or_restore(run, jax.random.key(0), train._example_batch(run))


def test_non_finite_loss_stops_with_step_and_keeps_checkpoint(tmp_path):
  w = str(tmp_path / 'w')
  c = tiny(num_train_steps=30, checkpoint_every=2, log_every=10, eval_every=0, sample_every=0,
           **{'optim.lr': 1e30, 'optim.grad_clip': 0.0, 'optim.warmup_steps': 0, 'optim.schedule': 'constant'})
  with pytest.raises(NonFiniteLossError, match=r'at step \d+') as e:
    train.train_and_evaluate(c, w)
  steps = sorted(int(d) for d in os.listdir(os.path.join(w, 'checkpoints')) if d.isdigit())
  msg = str(e.value)
  bad_step = int(msg.split('at step ')[1].split(';')[0])
  assert all(s < bad_step for s in steps)
  assert 'Lower config.optim.lr (it is 1e+30), set config.optim.grad_clip (e.g. 1.0)' in msg  # what the config has


def test_eval_failure_says_the_checkpoint_is_intact(tmp_path, monkeypatch):
  from gen_jax.core.errors import RunError

  def broken(*args, **kwargs):
    raise RuntimeError('the eval broke')

  monkeypatch.setattr(train, 'evaluate', broken)
  w = str(tmp_path / 'w')
  c = tiny(num_train_steps=4, checkpoint_every=4, eval_every=4, sample_every=0)
  with pytest.raises(RunError, match=r'evaluation at step 4 failed \(RuntimeError: the eval broke\); the '
                                     r'checkpoint at step 4 in .* is intact'):
    train.train_and_evaluate(c, w)
  assert sorted(os.listdir(os.path.join(w, 'checkpoints'))) == ['4']  # committed, nothing half-written


def test_a_step_that_cannot_fit_in_memory_is_refused_before_it_runs(tmp_path, monkeypatch):
  from gen_jax.core import memory
  monkeypatch.setattr(memory, 'host_available_bytes', lambda: 10_000)  # 10 kB of "free RAM"
  w = str(tmp_path / 'w')
  with pytest.raises(ConfigError, match=r'the train step at config.batch_size=16 needs about .* but only '
                                        r'10 KiB is host RAM available; lower config.batch_size'):
    train.train_and_evaluate(tiny(num_train_steps=4), w)
  assert not os.path.exists(os.path.join(w, 'metrics.jsonl'))


def test_checkpoint_every_0_still_saves_the_final_step(tmp_path):
  w = str(tmp_path / 'w')
  train.train_and_evaluate(tiny(num_train_steps=3, checkpoint_every=0, eval_every=0, sample_every=0), w)
  assert sorted(os.listdir(os.path.join(w, 'checkpoints'))) == ['3']


@pytest.mark.parametrize('override,expect', [
    ({'model.name': 'vq_vae'}, "config.model.name='vq_vae' is not an autoencoder; allowed: "),
    ({'family': 'gams'}, "config.family='gams' is not a family; allowed:"),
    ({'model.data_shape': (32, 32, 1)}, 'does not match the images'),
    ({'optim.name': 'lion'}, 'allowed: adam, adamw, sgd'),
])
def test_bad_config_messages(tmp_path, override, expect):
  with pytest.raises(ConfigError) as e:
    train.setup(tiny(**override), str(tmp_path / 'w'), 'train')
  assert expect in str(e.value)


def test_unknown_dataset_message(tmp_path):
  from gen_jax.data import DatasetError
  with pytest.raises(DatasetError) as e:
    train.setup(tiny(**{'dataset.name': 'mnist5000'}), str(tmp_path / 'w'), 'train')
  assert 'mnist5k' in str(e.value)  # lists what is allowed


def test_workdir_messages(tmp_path):
  f = tmp_path / 'afile'
  f.write_text('x')
  with pytest.raises(ConfigError, match='not a directory'):
    train.setup(tiny(), str(f), 'train')
  with pytest.raises(ConfigError, match='not writable'):
    train.setup(tiny(), '/proc/gen_jax_cannot_write_here', 'train')
  with pytest.raises(ConfigError, match='does not exist'):
    train.setup(tiny(), str(tmp_path / 'missing'), 'eval')
  os.makedirs(tmp_path / 'empty')
  with pytest.raises(CheckpointError, match='no checkpoint'):
    train.setup(tiny(), str(tmp_path / 'empty'), 'sample')
