"""Process-level runtime: multi-host initialisation, preemption signals, workdir checks."""
import os
import signal
import tempfile
import threading

import jax
import numpy as np

from gen_jax.core.errors import ConfigError


def maybe_initialize_distributed() -> bool:
  """Joins a multi-host job when the environment describes one; returns whether it did.

  * ``JAX_COORDINATOR_ADDRESS`` (+ ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``): explicit,
    e.g. several local processes on 127.0.0.1 or a hand-rolled cluster.
  * SLURM with more than one task (``SLURM_NTASKS`` > 1), or a multi-host TPU slice
    (``TPU_WORKER_HOSTNAMES`` lists several hosts): ``jax.distributed.initialize()``
    detects everything itself.
  Set ``GEN_JAX_DISTRIBUTED=0`` to skip it, ``=1`` to force auto-detection.
  """
  flag = os.environ.get('GEN_JAX_DISTRIBUTED', '')
  if flag == '0':
    return False
  if os.environ.get('JAX_COORDINATOR_ADDRESS'):
    kwargs = {}
    if os.environ.get('JAX_NUM_PROCESSES'):
      kwargs['num_processes'] = int(os.environ['JAX_NUM_PROCESSES'])
    if os.environ.get('JAX_PROCESS_ID'):
      kwargs['process_id'] = int(os.environ['JAX_PROCESS_ID'])
    # Cross-process collectives between CPU devices need a backend; gloo ships with jaxlib
    # (harmless on GPU/TPU, where the accelerator's own collectives are used).
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
    jax.distributed.initialize(coordinator_address=os.environ['JAX_COORDINATOR_ADDRESS'], **kwargs)
    return True
  multi_slurm = int(os.environ.get('SLURM_NTASKS', '1') or 1) > 1
  multi_tpu = len([h for h in os.environ.get('TPU_WORKER_HOSTNAMES', '').split(',') if h]) > 1
  if flag == '1' or multi_slurm or multi_tpu:
    jax.distributed.initialize()
    return True
  return False


def check_workdir(workdir: str, must_exist: bool = False) -> str:
  """Creates (train) or checks (eval/sample) the workdir; raises ConfigError if unusable."""
  if not workdir:
    raise ConfigError('--workdir is empty; give a directory for checkpoints, metrics and images.')
  path = os.path.abspath(workdir)
  if os.path.exists(path) and not os.path.isdir(path):
    raise ConfigError(f'--workdir={workdir} exists and is not a directory; give a directory path.')
  if must_exist and not os.path.isdir(path):
    raise ConfigError(f'--workdir={workdir} does not exist; eval and sample modes need the workdir of a '
                      'training run (train first with --mode=train).')
  try:
    os.makedirs(path, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path, prefix='.write_test_'):
      pass
  except OSError as e:
    raise ConfigError(f'--workdir={workdir} is not writable ({e.strerror}); choose a directory you can write to.') from e
  return path


_HARD_INTERRUPT = None


def set_hard_interrupt(callback) -> None:
  """What a second Ctrl-C does in the train loop: ``callback()`` (the launcher's: clean up and exit at
  once, without unwinding through a checkpoint save in flight); None (the default, for library use)
  raises KeyboardInterrupt."""
  global _HARD_INTERRUPT
  _HARD_INTERRUPT = callback


class PreemptionWatcher:
  """Turns SIGTERM (and a first Ctrl-C) into a flag the train loop polls between steps.

  A second Ctrl-C interrupts at once (``set_hard_interrupt``). In a multi-process job every process must agree
  on when to stop, because saving a checkpoint is collective: ``should_stop`` combines
  the local flag of all processes (one tiny all-gather) with JAX's preemption service.
  """

  def __init__(self):
    self._flag = threading.Event()
    self._previous = {}
    self._signum = None

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for sig in (signal.SIGTERM, signal.SIGINT):
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    self._previous.clear()

  def _handle(self, signum, frame):
    if signum == signal.SIGINT and self._flag.is_set():
      if _HARD_INTERRUPT is not None:
        _HARD_INTERRUPT()
      raise KeyboardInterrupt
    self._signum = signum
    self._flag.set()

  @property
  def signal_name(self) -> str:
    return signal.Signals(self._signum).name if self._signum else 'preemption notice'

  def should_stop(self, step: int, checkpointer=None) -> bool:
    local = self._flag.is_set()
    if jax.process_count() == 1:
      return local
    from jax.experimental import multihost_utils
    flags = multihost_utils.process_allgather(np.asarray(local, np.int32))
    stop = bool(np.asarray(flags).any())
    if not stop and checkpointer is not None:
      stop = checkpointer.reached_preemption(step)
    return stop


def enable_compilation_cache(path: str | None = None) -> str | None:
  """Turns on JAX's persistent compilation cache (``GEN_JAX_COMPILATION_CACHE``; '0' disables).

  Re-running an experiment (a resume, an eval, the test suite) then loads compiled steps
  from disk instead of recompiling them. Default location: ``~/.cache/gen_jax/xla``.
  """
  path = path or os.environ.get('GEN_JAX_COMPILATION_CACHE', os.path.expanduser('~/.cache/gen_jax/xla'))
  if path == '0':
    return None
  jax.config.update('jax_compilation_cache_dir', path)
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.5)
  jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)
  return path
