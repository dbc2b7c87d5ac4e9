"""The default XLA flags: set only on the jaxlib versions they were measured on, never over the user's own."""
import os
import subprocess
import sys

from gen_jax.core import xla_flags

FLAG = xla_flags.DEFAULTS[0]
TESTED = FLAG.jaxlib[0] + '0'
ALL = ' '.join(f'--{f.name}={f.value}' for f in xla_flags.DEFAULTS if TESTED.startswith(f.jaxlib))


def test_set_on_a_measured_jaxlib_and_said_once():
  env = {'JAX_PLATFORMS': 'cpu'}
  message = xla_flags.apply(env, version=TESTED)
  assert env['XLA_FLAGS'] == ALL and FLAG.name in ALL
  assert all(f.name in message for f in xla_flags.DEFAULTS) and 'GEN_JAX_XLA_DEFAULTS=0' in message
  assert xla_flags.apply(env, version=TESTED) is None            # already there: nothing added, nothing said
  assert env['XLA_FLAGS'] == ALL


def test_user_flags_kept_and_win():
  env = {'XLA_FLAGS': '--xla_force_host_platform_device_count=8', 'JAX_PLATFORMS': 'cpu'}
  xla_flags.apply(env, version=TESTED)
  assert env['XLA_FLAGS'].startswith('--xla_force_host_platform_device_count=8 ') and FLAG.name in env['XLA_FLAGS']
  mine = ' '.join(f'--{f.name}=mine' for f in xla_flags.DEFAULTS)
  env = {'XLA_FLAGS': mine, 'JAX_PLATFORMS': 'cpu'}
  assert xla_flags.apply(env, version=TESTED) is None and env['XLA_FLAGS'] == mine
  env = {'XLA_FLAGS': f'--{FLAG.name}=mine', 'JAX_PLATFORMS': 'cpu'}     # one of them set: only the others added
  xla_flags.apply(env, version=TESTED)
  others = [f for f in ALL.split() if not f.startswith(f'--{FLAG.name}=')]
  assert env['XLA_FLAGS'].split() == [f'--{FLAG.name}=mine'] + others


def test_untested_jaxlib_turned_off_or_not_cpu_sets_nothing():
  cpu = {'JAX_PLATFORMS': 'cpu'}
  for env, version in ((dict(cpu), '99.1.0'), (dict(cpu), None), ({**cpu, 'GEN_JAX_XLA_DEFAULTS': '0'}, TESTED),
                       ({'JAX_PLATFORMS': 'cuda'}, TESTED), ({'JAX_PLATFORMS': 'tpu,cpu'}, TESTED)):
    before = dict(env)
    assert xla_flags.apply(env, version=version or '') is None and env == before


def test_command_line_for_launch_sh():
  """launch.sh runs the module (without importing JAX): line 1 the new XLA_FLAGS, line 2 the note that the
  launcher logs once (``note`` hands it over, and applies the defaults itself when launch.sh did not)."""
  env = {k: v for k, v in os.environ.items() if k not in ('XLA_FLAGS', 'GEN_JAX_XLA_DEFAULTS')}
  env['XLA_FLAGS'] = '--xla_dump_to=/tmp/x'
  env['JAX_PLATFORMS'] = 'cpu'
  out = subprocess.run([sys.executable, '-c', 'import runpy, sys; runpy.run_module("gen_jax.core.xla_flags", '
                        'run_name="__main__"); assert "jax" not in sys.modules'],
                       env=env, capture_output=True, text=True, check=True)
  flags = xla_flags.default_flags(xla_flags.jaxlib_version(), env['XLA_FLAGS'])
  line1, line2 = out.stdout.split('\n')[:2]
  assert line1 == ' '.join(['--xla_dump_to=/tmp/x'] + [f'--{f.name}={f.value}' for f in flags])
  assert bool(flags) == line2.startswith('XLA:CPU flags set by gen_jax')
  handed = {'XLA_FLAGS': line1, xla_flags.NOTE_ENV: line2, 'JAX_PLATFORMS': 'cpu'}
  assert xla_flags.note(handed) == line2 and xla_flags.NOTE_ENV not in handed and handed['XLA_FLAGS'] == line1
  fresh = {'JAX_PLATFORMS': 'cpu'}
  assert xla_flags.note(fresh) == xla_flags.apply({'JAX_PLATFORMS': 'cpu'})
