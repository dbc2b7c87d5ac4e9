"""gen_jax's launcher: ``python -m gen_jax.main --config=experiments/<family>/<name>.py[:variant]``.

Only three flags: ``--config`` (an ml_collections config file, with ``--config.a.b=value``
overrides), ``--workdir`` (default ``runs/<experiment name>``) and ``--mode``.
"""
import glob
import logging as std_logging
import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CONFIG = os.path.join('experiments', 'autoencoders', 'vae_mnist5k.py')


def is_experiment_config(path: str) -> bool:
  """Config files are ``experiments/<family>/<name>.py``; ``_*.py`` and ``study_*.py`` (scripts) are not."""
  base = os.path.basename(path)
  return base.endswith('.py') and not base.startswith(('_', 'study_'))


def list_experiments() -> list[str]:
  """Experiment config files, relative to the repository root."""
  files = sorted(glob.glob(os.path.join(ROOT, 'experiments', '*', '*.py')))
  return [os.path.relpath(f, ROOT) for f in files if is_experiment_config(f)]


_HELP = ('Experiment config file[:variant], e.g. experiments/autoencoders/vae_mnist5k.py:tiny; override any '
         'entry with --config.<path>=<value>. Available experiments:\n  ' + '\n  '.join(list_experiments()))
_CONFIG = config_flags.DEFINE_config_file('config', os.path.join(ROOT, DEFAULT_CONFIG), _HELP, lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Directory for checkpoints, metrics and images; default '
                               'runs/<experiment name>[_<variant>]. Re-using it resumes the run.')
_MODE = flags.DEFINE_enum('mode', 'train', ['train', 'eval', 'sample'],
                          'train (resumes from the workdir\'s latest checkpoint), eval (writes eval.json) or '
                          'sample (writes a sample grid) from the latest checkpoint.')


def default_workdir(config_arg: str) -> str:
  path, _, variant = config_arg.partition(':')
  name = os.path.splitext(os.path.basename(path))[0]
  return os.path.join('runs', name + (f'_{variant}' if variant else ''))


def _config_arg(argv: list[str]) -> str:
  for i, a in enumerate(argv):
    if a.startswith('--config='):
      return a.split('=', 1)[1]
    if a == '--config' and i + 1 < len(argv):
      return argv[i + 1]
  return DEFAULT_CONFIG


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments {argv[1:]}; only --config, --workdir, --mode and '
                         '--config.<entry>=<value> overrides are accepted.')
  from gen_jax.core.runtime import enable_compilation_cache, maybe_initialize_distributed
  maybe_initialize_distributed()
  enable_compilation_cache()
  import jax
  from gen_jax import train
  from gen_jax.core.errors import CheckpointError, ConfigError, NonFiniteLossError
  from gen_jax.data import DatasetError

  config = _CONFIG.value
  workdir = _WORKDIR.value or default_workdir(_config_arg(sys.argv))
  if jax.process_index() == 0:
    logging.info('JAX %s: %d process(es), %d devices (%s).', jax.__version__, jax.process_count(),
                 jax.device_count(), jax.devices()[0].platform)
  try:
    if _MODE.value == 'train':
      train.train_and_evaluate(config, workdir)
    elif _MODE.value == 'eval':
      train.run_eval(config, workdir)
    else:
      train.run_sample(config, workdir)
  except (ConfigError, CheckpointError, DatasetError) as e:
    print(f'error: {e}', file=sys.stderr, flush=True)
    sys.exit(2)
  except NonFiniteLossError as e:
    print(f'error: {e}', file=sys.stderr, flush=True)
    sys.exit(3)


def _check_config_arg(argv: list[str]) -> None:
  """Fails fast with our own message (absl's flag parser would truncate it) when --config names
  a file that does not exist (listing the experiments) or a variant the file does not have."""
  if any(a in ('--help', '--helpshort', '--helpfull', '-h') for a in argv):
    return
  path, _, arg = _config_arg(argv).partition(':')
  if not os.path.isfile(path) and not os.path.isfile(os.path.join(ROOT, path)):
    print(f'error: experiment config {path!r} not found. Available experiments:\n  '
          + '\n  '.join(list_experiments()), file=sys.stderr, flush=True)
    sys.exit(2)
  from gen_jax.core.config import load_experiment
  from gen_jax.core.errors import ConfigError
  try:
    load_experiment(path, arg or None)
  except ConfigError as e:
    print(f'error: --config={path}:{arg}: {e}', file=sys.stderr, flush=True)
    sys.exit(2)


class _QuietLibraries(std_logging.Filter):
  """Keeps INFO lines of gen_jax; libraries (orbax, tfds, grain, ...) speak only at WARNING and above."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    return record.levelno >= std_logging.WARNING or f'{os.sep}gen_jax{os.sep}' in record.pathname


def run() -> None:
  _check_config_arg(sys.argv)
  logging.set_verbosity(logging.INFO)
  logging.get_absl_handler().addFilter(_QuietLibraries())
  app.run(main)


if __name__ == '__main__':
  run()
