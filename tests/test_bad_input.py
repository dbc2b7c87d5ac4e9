"""The bad-input catalogue: every user error through the real launcher, in a subprocess.

Each case asserts the exit code, exactly one ``error:`` line that says what is wrong (and what is
allowed), and no traceback anywhere in the output. Most fail before anything compiles (seconds
each). The signal cases check that a run stopped at any moment leaves nothing half-written and a
record without duplicate steps.
"""
import os
import signal
import subprocess
import time

import pytest

from gen_jax.core.metrics import read_jsonl
from tests import helpers

VAE = 'experiments/autoencoders/vae_mnist5k.py'
TINY = f'--config={VAE}:tiny,mlp'
DDPM = 'experiments/diffusion/ddpm_mnist5k.py'


def _check(r: subprocess.CompletedProcess, code: int, *needles: str) -> str:
  out = r.stdout + r.stderr
  assert 'Traceback' not in out, out[-3000:]
  lines = r.stderr.splitlines()
  errors = [i for i, line in enumerate(lines) if line.startswith('error:')]
  assert r.returncode == code, (r.returncode, out[-3000:])
  if code == 2:
    assert len(errors) == 1, r.stderr[-3000:]
    message = '\n'.join(lines[errors[0]:])  # the error line (and a list of what is allowed after it)
    for n in needles:
      assert n in message, (n, message)
    return message
  return out


CASES = {  # id: (launcher args, fake devices, text the one error line must contain)
    'unknown_entry': ([TINY, '--config.foo=1'], 1, ["config has no entry 'foo'", 'batch_size']),
    'typo_entry': ([TINY, '--config.model.latnet_dim=4'], 1, ['did you mean config.model.latent_dim']),
    'bad_value_type': ([TINY, '--config.batch_size=abc'], 1, ['--config.batch_size=abc']),
    'study_script_as_config': (['--config=experiments/diffusion/study_toy2d.py'], 1,
                               ['is not an experiment config', VAE]),
    'missing_config_file': (['--config=experiments/autoencoders/nope.py'], 1, ['not found', VAE]),
    'unknown_variant': ([f'--config={VAE}:huge'], 1, ["'huge'", 'allowed: tiny']),
    'conflicting_variants': ([f'--config={DDPM}:tiny,linear,cosine'], 1, ['linear and cosine exclude each other']),
    'empty_workdir': ([TINY, '--workdir='], 1, ['--workdir is empty']),
    'bad_mode': ([TINY, '--mode=train_and_eval'], 1, ['allowed: train, eval, sample']),
    'unknown_flag': ([TINY, '--learning_rate=3'], 1, ['learning_rate']),
    'positional_argument': ([TINY, 'extra'], 1, ['unexpected arguments']),
    'batch_larger_than_split': ([f'--config={VAE}', '--config.batch_size=100000'], 1,
                                ['config.batch_size=100000 is larger than the 4000 examples']),
    'batch_not_divisible': ([TINY, '--config.batch_size=12'], 8, ['not divisible by the 8 devices']),
    'eval_batch_not_divisible': ([TINY, '--config.batch_size=15'], 3,
                                 ['config.eval_batch_size=200 (global) is not divisible by the 3 devices']),
    'keep_no_checkpoints': ([TINY, '--config.keep_checkpoints=0'], 1, ['config.keep_checkpoints=0', '>= 1']),
    'negative_checkpoint_every': ([TINY, '--config.checkpoint_every=-1'], 1, ['config.checkpoint_every=-1']),
    'zero_steps': ([TINY, '--config.num_train_steps=0'], 1, ['config.num_train_steps=0']),
    'unknown_model': ([TINY, '--config.model.name=vq_vae'], 1, ['is not an autoencoder; allowed: conv_ae']),
    'unknown_dataset': ([TINY, '--config.dataset.name=mnist5000'], 1, ['mnist5k']),
    'unknown_optimizer': ([TINY, '--config.optim.name=lion'], 1, ['allowed: adam, adamw, sgd']),
    'bad_dtype': ([TINY, '--config.model.dtype=float16'], 1, ['allowed: float32, bfloat16']),
    'guidance_unconditional': ([f'--config={DDPM}:tiny', '--config.sample.guidance_scale=3.0'], 1,
                               ['class-conditional']),
    'shape_mismatch': ([TINY, '--config.model.data_shape=(32,32,1)'], 1, ['does not match the images']),
}


@pytest.mark.parametrize('case', list(CASES))
def test_bad_input_gives_one_line(case, tmp_path):
  args, devices, needles = CASES[case]
  if not any(a.startswith('--workdir') for a in args):
    args = args + [f'--workdir={tmp_path / "w"}']
  _check(helpers.run_launcher(*args, devices=devices, timeout=120), 2, *needles)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """A 4-step tiny run (the MLP VAE: seconds) for the cases that need a checkpoint."""
  w = str(tmp_path_factory.mktemp('trained') / 'w')
  r = helpers.run_launcher(TINY, f'--workdir={w}', '--config.num_train_steps=4', '--config.eval_every=0',
                           '--config.sample_every=0', '--config.async_checkpointing=False')
  assert r.returncode == 0, r.stderr[-3000:]
  return w


def test_checkpoint_cases(trained, tmp_path):
  # eval / sample without a checkpoint: one line, and no checkpointer traceback behind it
  os.makedirs(tmp_path / 'empty')
  for mode in ('eval', 'sample'):
    _check(helpers.run_launcher(TINY, f'--workdir={tmp_path / "empty"}', f'--mode={mode}'), 2, 'no checkpoint')
  _check(helpers.run_launcher(TINY, f'--workdir={tmp_path / "missing"}', '--mode=eval'), 2, 'does not exist')
  # a checkpoint of another config, then an unreadable one
  _check(helpers.run_launcher(TINY, f'--workdir={trained}', '--config.model.latent_dim=7'), 2, 'different config',
         )
  import shutil
  broken = str(tmp_path / 'broken')
  shutil.copytree(trained, broken)
  for root, _, files in os.walk(os.path.join(broken, 'checkpoints', '4', 'state')):
    for f in files:
      with open(os.path.join(root, f), 'wb') as fh:
        fh.write(b'\x00garbage')
  _check(helpers.run_launcher(TINY, f'--workdir={broken}', '--mode=sample'), 2, 'unreadable')


def test_help_exits_0_and_lists_variants():
  r = helpers.run_launcher('--help')
  assert r.returncode == 0 and 'Traceback' not in r.stdout + r.stderr
  assert f'{DDPM}:tiny,linear|cosine|sigmoid' in r.stdout and f'{VAE}:tiny,mlp' in r.stdout


def _popen(*args: str) -> subprocess.Popen:
  return subprocess.Popen(helpers.launcher(*args), cwd=helpers.ROOT, env=helpers.env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


def _wait_for(proc: subprocess.Popen, predicate, lines: list[str]) -> None:
  for line in proc.stdout:
    lines.append(line)
    if predicate(line):
      return
  raise AssertionError('the run ended before: ' + ''.join(lines)[-3000:])


def test_sigterm_before_the_first_step_exits_0(tmp_path):
  w = str(tmp_path / 'w')
  proc = _popen(TINY, f'--workdir={w}')
  lines: list[str] = []
  _wait_for(proc, lambda line: 'JAX ' in line and 'process(es)' in line, lines)  # set-up, nothing compiled yet
  proc.send_signal(signal.SIGTERM)
  out, _ = proc.communicate(timeout=120)
  out = ''.join(lines) + out
  assert proc.returncode == 0 and 'Traceback' not in out, out[-3000:]
  assert 'Stopped by SIGTERM' in out


def test_second_ctrl_c_exits_at_once_leaving_nothing_half_written(tmp_path):
  w = str(tmp_path / 'w')
  args = [TINY, f'--workdir={w}', '--config.num_train_steps=100000', '--config.log_every=1',
          '--config.checkpoint_every=20', '--config.eval_every=0', '--config.sample_every=0',
          '--config.async_checkpointing=False']  # step 20's checkpoint is complete before step 21 runs
  proc = _popen(*args)
  lines: list[str] = []
  _wait_for(proc, lambda line: line.startswith('step') and int(line.split()[1].split('/')[0]) > 25, lines)
  proc.send_signal(signal.SIGINT)
  time.sleep(0.05)
  proc.send_signal(signal.SIGINT)
  out, _ = proc.communicate(timeout=120)
  out = ''.join(lines) + out
  assert 'Traceback' not in out, out[-3000:]
  assert proc.returncode in (0, 130), out[-3000:]  # 0: the first Ctrl-C's save finished before the second
  ckpt = os.path.join(w, 'checkpoints')
  assert not [d for d in os.listdir(ckpt) if 'tmp' in d], os.listdir(ckpt)
  steps = [int(d) for d in os.listdir(ckpt) if d.isdigit()]
  assert steps and max(steps) >= 20
  r = helpers.run_launcher(*[a.replace('100000', str(max(steps) + 2)) for a in args])
  assert r.returncode == 0 and f'resuming at step {max(steps)}' in r.stderr, r.stderr[-3000:]


def test_kill_9_then_resume_keeps_one_row_per_step(tmp_path):
  w = str(tmp_path / 'w')
  args = [TINY, f'--workdir={w}', '--config.num_train_steps=100000', '--config.log_every=1',
          '--config.checkpoint_every=20', '--config.eval_every=0', '--config.sample_every=0',
          '--config.async_checkpointing=False']
  proc = _popen(*args)
  lines: list[str] = []
  _wait_for(proc, lambda line: line.startswith('step') and int(line.split()[1].split('/')[0]) >= 25, lines)
  proc.kill()
  proc.communicate(timeout=60)
  saved = max(int(d) for d in os.listdir(os.path.join(w, 'checkpoints')) if d.isdigit())
  logged = [r['step'] for r in read_jsonl(os.path.join(w, 'metrics.jsonl')) if 'train/loss' in r]
  assert max(logged) > saved  # the killed run logged steps it never saved
  final = saved + 10
  r = helpers.run_launcher(*[a.replace('100000', str(final)) for a in args])
  assert r.returncode == 0, r.stderr[-3000:]
  assert f'resuming at step {saved}' in r.stderr
  rows = [r['step'] for r in read_jsonl(os.path.join(w, 'metrics.jsonl')) if 'train/loss' in r]
  assert rows == list(range(1, final + 1))
