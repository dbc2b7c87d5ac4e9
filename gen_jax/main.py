"""gen_jax's launcher: ``python -m gen_jax.main --config=experiments/<family>/<name>.py[:variant]``.

Only three flags: ``--config`` (an ml_collections config file, with ``--config.a.b=value``
overrides), ``--workdir`` (default ``runs/<experiment name>``) and ``--mode``.

A user error (a bad flag, an unknown config entry, a file that is not an experiment, a config the
family refuses, an unusable checkpoint) ends with one line on stderr and exit code 2, before
anything compiles; a non-finite loss with exit code 3; a second Ctrl-C with 130. Anything else is
a bug: one line that names the file holding the traceback (``GEN_JAX_TRACEBACK=1`` prints it).
"""
import difflib
import glob
import logging as std_logging
import os
import signal
import sys
import tempfile
import traceback

from absl import app, flags, logging
from ml_collections import config_flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CONFIG = os.path.join('experiments', 'autoencoders', 'vae_mnist5k.py')
MODES = ('train', 'eval', 'sample')
_HELP_FLAGS = ('--help', '--helpshort', '--helpfull', '-h', '-?')


def is_experiment_config(path: str) -> bool:
  """Config files are ``experiments/<family>/<name>.py``; ``_*.py`` and ``study_*.py`` (scripts) are not, nor is
  anything outside a family's directory (e.g. ``experiments/peers/``, the PyTorch side-by-side kit)."""
  from gen_jax.families import FAMILIES  # (imports no JAX)
  base = os.path.basename(path)
  family = os.path.basename(os.path.dirname(os.path.abspath(path)))
  return family in FAMILIES and base.endswith('.py') and not base.startswith(('_', 'study_'))


def list_experiments() -> list[str]:
  """Experiment config files, relative to the repository root."""
  files = sorted(glob.glob(os.path.join(ROOT, 'experiments', '*', '*.py')))
  return [os.path.relpath(f, ROOT) for f in files if is_experiment_config(f)]


_CONFIG = config_flags.DEFINE_config_file(
    'config', os.path.join(ROOT, DEFAULT_CONFIG), 'Experiment config file[:variants], e.g. '
    'experiments/autoencoders/vae_mnist5k.py:tiny; override any entry with --config.<path>=<value>.',
    lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Directory for checkpoints, metrics and images; default '
                               'runs/<experiment name>[_<variant>]. Re-using it resumes the run.')
_MODE = flags.DEFINE_enum('mode', 'train', list(MODES),
                          'train (resumes from the workdir\'s latest checkpoint), eval (writes eval.json) or '
                          'sample (writes samples) from the latest checkpoint.')


class UserError(Exception):
  """A bad command line, reported as one line before anything runs."""


def default_workdir(config_arg: str) -> str:
  path, _, variant = config_arg.partition(':')
  name = os.path.splitext(os.path.basename(path))[0]
  return os.path.join('runs', name + (f'_{variant}' if variant else ''))


def _flag_value(argv: list[str], name: str) -> str | None:
  """The value of ``--name=value`` / ``--name value`` in ``argv`` (the last one wins, as in absl)."""
  value = None
  for i, a in enumerate(argv):
    if a.startswith(f'--{name}='):
      value = a.split('=', 1)[1]
    elif a == f'--{name}' and i + 1 < len(argv):
      value = argv[i + 1]
  return value


def _config_arg(argv: list[str]) -> str:
  return _flag_value(argv, 'config') or DEFAULT_CONFIG


def _variants_line(path: str) -> str:
  """``path:v1,v2,...`` from the experiment file's ``VARIANTS`` (its exclusive groups as a|b)."""
  from gen_jax.core.config import load_module  # pylint: disable=g-import-not-at-top
  try:
    variants = getattr(load_module(path), 'VARIANTS', None)
  except Exception:  # noqa: BLE001 - a broken file still gets listed
    variants = None
  if variants is None:
    return path
  grouped = {g[0]: '|'.join(g) for g in variants.exclusive}
  in_group = {n for g in variants.exclusive for n in g}
  names = [grouped.get(n, n) for n in variants.names if n not in in_group or n in grouped]
  return f'{path}:{",".join(names)}'


def help_text() -> str:
  lines = [
      'usage: ./launch.sh [--config=experiments/<family>/<name>.py[:variants]] [--workdir=DIR] '
      '[--mode=train|eval|sample] [--config.<entry>=<value> ...]',
      '',
      '  --config    ' + flags.FLAGS['config'].help + f' Default: {DEFAULT_CONFIG}.',
      '  --workdir   ' + flags.FLAGS['workdir'].help,
      '  --mode      ' + flags.FLAGS['mode'].help,
      '',
      'Experiments and their variants (combine with commas; a|b: pick at most one of a group):',
  ]
  lines += ['  ' + _variants_line(p) for p in list_experiments()]
  lines += ['', 'Also: ./launch.sh test [pytest args] | ./launch.sh bench [args] | ./launch.sh python [args]']
  return '\n'.join(lines)


def _check_command_line(argv: list[str]) -> None:
  """Everything about the command line that can be wrong, checked before absl parses it (one-line errors)."""
  from gen_jax.core.config import load_experiment, load_module  # pylint: disable=g-import-not-at-top
  from gen_jax.core.errors import ConfigError  # pylint: disable=g-import-not-at-top
  mode = _flag_value(argv, 'mode')
  if mode is not None and mode not in MODES:
    raise UserError(f'--mode={mode!r} is not a mode; allowed: {", ".join(MODES)}.')
  workdir = _flag_value(argv, 'workdir')
  if workdir is not None and not workdir.strip():
    raise UserError('--workdir is empty; give a directory (or leave the flag out for runs/<experiment>).')
  spec = _config_arg(argv)
  path, _, arg = spec.partition(':')
  experiments = '\n  '.join(list_experiments())
  full = path if os.path.isfile(path) else os.path.join(ROOT, path)
  if not path or not os.path.isfile(full):
    raise UserError(f'experiment config {path!r} not found. Available experiments:\n  {experiments}')
  if not is_experiment_config(full) or not hasattr(load_module(full), 'get_config'):
    raise UserError(f'{path} is not an experiment config (it has no get_config(arg); study_*.py files are '
                    f'scripts: run them with ./launch.sh python {path}). Available experiments:\n  {experiments}')
  try:
    config = load_experiment(path, arg or None)
  except ConfigError as e:
    raise UserError(f'--config={spec}: {e}') from e
  for a in argv[1:]:
    if a.startswith('--config.'):
      key = a[len('--config.'):].split('=', 1)[0]
      _check_entry(config, key)


def _check_entry(config, dotted: str) -> None:
  """``config.<dotted>`` must exist; otherwise name the closest existing entry."""
  node, done = config, []
  for part in dotted.split('.'):
    keys = list(node.keys()) if hasattr(node, 'keys') else []
    if part not in keys:
      where = 'config' + ''.join(f'.{d}' for d in done)
      close = difflib.get_close_matches(part, keys, n=1, cutoff=0.6)
      hint = f'; did you mean {where}.{close[0]}?' if close else (
          f'; it has {", ".join(sorted(keys))}.' if keys else f' ({where} is a value, not a group).')
      raise UserError(f'--config.{dotted}: {where} has no entry {part!r}{hint}')
    node = node[part]
    done.append(part)


def _parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing with one-line errors (a bad value for a --config.<entry> override, an unknown flag)."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    print(f'error: {str(e).strip().splitlines()[0]}', file=sys.stderr, flush=True)
    sys.exit(2)
  except (AttributeError, KeyError, TypeError, ValueError) as e:
    msg = str(e).strip().strip('"\'').replace('\\n', ' ').splitlines()[0]
    print(f'error: a --config override could not be applied ({type(e).__name__}: {msg}).', file=sys.stderr,
          flush=True)
    sys.exit(2)


def _internal_error(err: BaseException, workdir: str | None) -> None:
  """A bug, not a user error: one line naming the file with the full traceback."""
  text = ''.join(traceback.format_exception(type(err), err, err.__traceback__))
  where = workdir if workdir and os.path.isdir(workdir) else tempfile.gettempdir()
  path = os.path.join(where, 'error.log' if where == workdir else f'gen_jax_error_{os.getpid()}.log')
  try:
    with open(path, 'w', encoding='utf-8') as f:
      f.write(text)
  except OSError:
    path = None
  first = (str(err).strip().splitlines() or [''])[0][:300]
  print(f'error: internal error ({type(err).__name__}: {first}); this is a bug in gen_jax. '
        + (f'The traceback is in {path}' if path else 'Set GEN_JAX_TRACEBACK=1 to print the traceback')
        + ' (GEN_JAX_TRACEBACK=1 prints it).', file=sys.stderr, flush=True)


def _remove_partial_checkpoints(workdir: str) -> list[str]:
  """Removes half-written checkpoints until none reappears for 0.2 s (a save thread still running may
  recreate files in a directory just removed), for at most about a second."""
  import time  # pylint: disable=g-import-not-at-top
  from gen_jax.core.checkpoint import remove_partial_checkpoints  # pylint: disable=g-import-not-at-top
  removed, quiet = [], 0
  for _ in range(20):
    now = remove_partial_checkpoints(os.path.join(workdir, 'checkpoints'))
    removed += [d for d in now if d not in removed]
    quiet = 0 if now else quiet + 1
    if quiet >= 4:
      break
    time.sleep(0.05)
  return removed


def _exit_at_once(workdir: str) -> None:
  """The second Ctrl-C: drop a half-written checkpoint, say what is kept, and exit now (no unwinding
  through a save in flight, no interpreter teardown running orbax's exit hooks)."""
  _leave(workdir, 'Interrupted at once (second Ctrl-C)', 130)


def _stop_at_once(workdir: str, signum: int) -> None:
  """SIGTERM / Ctrl-C outside the train loop (which saves and stops by itself): nothing is being trained,
  so stop now -- an exception raised from a signal handler could be swallowed by library code (logging,
  orbax) that catches broadly."""
  _leave(workdir, f'Stopped by {signal.Signals(signum).name} outside the train loop',
         0 if signum == signal.SIGTERM else 130)


def _leave(workdir: str, what: str, code: int) -> None:
  """Removes half-written checkpoints and exits with one line. A save thread that loses its directory
  dies with a traceback of its own: all output but ours is silenced while we clean up."""
  import threading  # pylint: disable=g-import-not-at-top
  sys.stdout.flush()
  sys.stderr.flush()
  err = os.dup(2)
  devnull = os.open(os.devnull, os.O_WRONLY)
  os.dup2(devnull, 1)
  os.dup2(devnull, 2)
  threading.excepthook = lambda args: None
  removed = _remove_partial_checkpoints(workdir)
  steps = _saved_steps(workdir)
  kept = (f'the checkpoint at step {steps[-1]} in {workdir}/checkpoints is kept' if steps else
          'no checkpoint had been completed')
  extra = f'; removed the half-written {", ".join(removed)}' if removed else ''
  os.write(err, f'{what}: {kept}{extra}. Run the same command again to continue.\n'.encode())
  os._exit(code)


def _saved_steps(workdir: str) -> list[int]:
  d = os.path.join(workdir, 'checkpoints')
  return sorted(int(s) for s in os.listdir(d) if s.isdigit()) if os.path.isdir(d) else []


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    print(f'error: unexpected arguments {argv[1:]}; only --config, --workdir, --mode and '
          '--config.<entry>=<value> overrides are accepted.', file=sys.stderr, flush=True)
    sys.exit(2)
  workdir = _WORKDIR.value or default_workdir(_config_arg(sys.argv))
  # Outside the train loop (which installs its own handlers), SIGTERM / Ctrl-C stop the launcher at once.
  for sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(sig, lambda signum, frame: _stop_at_once(workdir, signum))
  from gen_jax.core import runtime  # pylint: disable=g-import-not-at-top
  runtime.set_hard_interrupt(lambda: _exit_at_once(workdir))
  try:
    from gen_jax.core import xla_flags
    message = xla_flags.note()  # before any backend starts (launch.sh has usually applied them already)
    if message:
      logging.info(message)
    from gen_jax.core.runtime import enable_compilation_cache, maybe_initialize_distributed
    maybe_initialize_distributed()
    enable_compilation_cache()
    import jax
    from gen_jax import train
    from gen_jax.core.errors import CheckpointError, ConfigError, NonFiniteLossError
    from gen_jax.data import DatasetError
    config = _CONFIG.value
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
  except KeyboardInterrupt:
    _exit_at_once(workdir)
  except SystemExit:
    raise
  except Exception as e:  # noqa: BLE001 - a bug: say so in one line, keep the traceback in a file
    if os.environ.get('GEN_JAX_TRACEBACK', '') == '1':
      raise
    _internal_error(e, workdir)
    sys.exit(1)


class _QuietLibraries(std_logging.Filter):
  """Keeps INFO lines of gen_jax; libraries (orbax, tfds, grain, ...) speak only at WARNING and above."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    return record.levelno >= std_logging.WARNING or f'{os.sep}gen_jax{os.sep}' in record.pathname


def run() -> None:
  argv = sys.argv
  if any(a in _HELP_FLAGS for a in argv[1:]):
    print(help_text())
    sys.exit(0)
  try:
    _check_command_line(argv)
  except UserError as e:
    print(f'error: {e}', file=sys.stderr, flush=True)
    sys.exit(2)
  logging.set_verbosity(logging.INFO)
  logging.get_absl_handler().addFilter(_QuietLibraries())
  app.run(main, flags_parser=_parse_flags)


if __name__ == '__main__':
  run()
