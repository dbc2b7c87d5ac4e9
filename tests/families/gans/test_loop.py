"""The GAN steps inside the real loop (``gen_jax.train``): ProGAN's growth survives a resume in the middle
of a fade-in bitwise and compiles once per run; the tiny DCGAN on 8 fake CPU devices gives the losses
of one device."""
import os

import jax
import numpy as np

from gen_jax import train
from gen_jax.core.metrics import read_jsonl
from gen_jax.families import gans
from tests import helpers
from tests.families.gans import tiny


def _progan_config(steps):
  # 8x8 digits: stage 0 (4x4) on steps [0, 2), stage 1 fades in on [2, 6), then 8x8 to the end
  c = tiny.config('progan', **{'gan.loss': 'lsgan'})
  c.num_train_steps = steps
  c.log_every = 1
  c.checkpoint_every = 0
  c.eval_every = 0
  c.sample_every = 0
  c.async_checkpointing = False
  c.optim.schedule = c.optim_d.schedule = 'constant'
  return c


class _StopAt(train.PreemptionWatcher):
  """A preemption notice at a given step (what SIGTERM does, at a step chosen by the test)."""
  stop_at = 0

  def should_stop(self, step, checkpointer=None):
    return step >= self.stop_at


def _counting_steps(monkeypatch):
  traces = []
  make = gans.make_train_step

  def counted(config):
    step = make(config)

    def traced(*args):
      traces.append(1)
      return step(*args)
    return traced
  monkeypatch.setattr(gans, 'make_train_step', counted)
  return traces


def _losses(workdir):
  rows = read_jsonl(os.path.join(workdir, 'metrics.jsonl'))
  return [(r['train/loss'], r['train/stage'], r['train/alpha']) for r in rows if 'train/loss' in r]


def test_progan_resume_in_the_middle_of_a_fade_in_is_exact(tmp_path, monkeypatch):
  a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
  traces = _counting_steps(monkeypatch)
  _StopAt.stop_at = 4                       # step 4: alpha = 0.5 in the fade-in of stage 1
  monkeypatch.setattr(train, 'PreemptionWatcher', _StopAt)
  out = train.train_and_evaluate(_progan_config(9), a)
  assert out['stopped'] and out['step'] == 4 and len(traces) == 1
  monkeypatch.setattr(train, 'PreemptionWatcher', train.PreemptionWatcher.__mro__[1])
  train.train_and_evaluate(_progan_config(9), a)
  train.train_and_evaluate(_progan_config(9), b)
  assert len(traces) == 3                   # one compilation per run, whatever the stages it visits
  la, lb = _losses(a), _losses(b)
  assert la == lb and len(la) == 9
  assert [(s, al) for _, s, al in lb] == [(0, 1), (0, 1), (1, 0), (1, 0.25), (1, 0.5), (1, 0.75),
                                          (1, 1), (1, 1), (1, 1)]
  states = []
  for w in (a, b):
    run = train.setup(_progan_config(9), w, 'eval')
    states.append(jax.device_get(train.restore_for_inference(run)))
  assert int(states[0].step) == 9
  for x, y in zip(jax.tree.leaves(states[0]), jax.tree.leaves(states[1])):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


DCGAN = 'experiments/gans/dcgan.py'
ARGS = [f'--config={DCGAN}:tiny', '--config.num_train_steps=4', '--config.log_every=1', '--config.eval_every=0',
        '--config.sample_every=0', '--config.checkpoint_every=0', '--config.async_checkpointing=False']


def _run(workdir, devices):
  r = helpers.run_launcher(*ARGS, f'--workdir={workdir}', devices=devices)
  assert r.returncode == 0, r.stderr[-3000:]
  rows = read_jsonl(os.path.join(workdir, 'metrics.jsonl'))
  train_rows = [r for r in rows if 'train/loss' in r]
  keys = ('train/d_loss', 'train/g_loss', 'train/d_grad_norm', 'train/g_grad_norm')
  return np.array([[r[k] for k in keys] for r in train_rows])


def test_dcgan_on_eight_devices_matches_one(tmp_path):
  """Batch norm (over the global batch) and both optimizers: 8 fake CPU devices give 1 device's losses and
  gradient norms at every step."""
  one = _run(str(tmp_path / 'one'), 1)
  eight = _run(str(tmp_path / 'eight'), 8)
  assert one.shape == (4, 4)
  np.testing.assert_allclose(eight, one, rtol=2e-5, atol=1e-6)
