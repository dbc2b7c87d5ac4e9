"""Test helpers: load experiment configs, run the launcher in a subprocess."""
import glob
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def experiment_files() -> list[str]:
  files = sorted(glob.glob(os.path.join(ROOT, 'experiments', '*', '*.py')))
  from gen_jax.main import is_experiment_config
  return [os.path.relpath(f, ROOT) for f in files if is_experiment_config(f)]


def load_config(path: str, arg: str | None = None):
  from gen_jax.core.config import load_experiment
  return load_experiment(path, arg)


def env(devices: int = 1, **extra: str) -> dict:
  e = dict(os.environ)
  e['XLA_FLAGS'] = f'--xla_force_host_platform_device_count={devices}'
  if os.environ.get('GEN_JAX_TEST_XLA_OPT', '0') != 'default':  # as in conftest.py
    e['XLA_FLAGS'] += ' --xla_backend_optimization_level=1'
  e['JAX_PLATFORMS'] = 'cpu'
  e['PYTHONUNBUFFERED'] = '1'
  e['GEN_JAX_DISTRIBUTED'] = '0'
  e.pop('JAX_COORDINATOR_ADDRESS', None)
  e.update(extra)
  return e


def launcher(*args: str) -> list[str]:
  return [sys.executable, '-m', 'gen_jax.main', *args]


def run_launcher(*args: str, devices: int = 1, timeout: float = 300, **extra_env) -> subprocess.CompletedProcess:
  return subprocess.run(launcher(*args), cwd=ROOT, env=env(devices, **extra_env), capture_output=True,
                        text=True, timeout=timeout)


def load_script(path: str):
  """Imports a script (an experiment or study file) by path, relative to the repository root."""
  import importlib.util
  if not os.path.isabs(path):
    path = os.path.join(ROOT, path)
  spec = importlib.util.spec_from_file_location('_script_' + os.path.splitext(os.path.basename(path))[0], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def numbers(obj):
  """Every int / float (not bool) in a nested dict / list, e.g. a study's JSON."""
  if isinstance(obj, dict):
    for v in obj.values():
      yield from numbers(v)
  elif isinstance(obj, list):
    for v in obj:
      yield from numbers(v)
  elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
    yield obj
