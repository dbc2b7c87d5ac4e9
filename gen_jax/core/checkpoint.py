"""Orbax checkpoints: TrainState + data-iterator state + config, atomic, keep-last-N.

Layout of ``<workdir>/checkpoints/<step>/``: ``state/`` (the TrainState pytree, sharded
arrays written by every process), ``data/`` (the train iterator's JSON state; the
pipeline's state is the same on every process by construction) and ``config/`` (the
config as JSON, used to refuse a checkpoint from a different experiment). Orbax writes
into a temporary directory and renames it when complete, so a crash mid-save never
leaves a half checkpoint that a restart would pick up.
"""
import json
from typing import Any

import jax
import orbax.checkpoint as ocp
from etils import epath

from gen_jax.core.errors import CheckpointError

# Config entries that fix the shape of the state or the meaning of the data stream: a
# checkpoint whose config differs in one of these cannot be resumed. Everything else
# (num_train_steps, learning rate, logging intervals, ...) may change between runs.
IDENTITY_KEYS = ('family', 'model', 'dataset.name', 'batch_size', 'seed', 'optim.name', 'optim.ema_decay')


def _lookup(d: dict, dotted: str) -> Any:
  for part in dotted.split('.'):
    if not isinstance(d, dict) or part not in d:
      return None
    d = d[part]
  return d


_MISSING = object()


def _diff(key: str, a: Any, b: Any, out: list[str]) -> None:
  if a is _MISSING or b is _MISSING:
    # An entry only one side has: a field added (or dropped) by a newer version of the code,
    # whose default keeps the old behaviour. Not a difference.
    return
  if isinstance(a, dict) and isinstance(b, dict):
    for k in sorted(set(a) | set(b)):
      _diff(f'{key}.{k}', a.get(k, _MISSING), b.get(k, _MISSING), out)
  elif json.dumps(a, sort_keys=True, default=str) != json.dumps(b, sort_keys=True, default=str):
    out.append(f'  {key}: checkpoint has {a!r}, this run has {b!r}')


def config_differences(saved: dict, current: dict) -> list[str]:
  """Identity entries (``IDENTITY_KEYS``) whose values differ, as readable lines.

  Entries present on one side only are not differences (new fields with defaults).
  """
  diffs: list[str] = []
  for key in IDENTITY_KEYS:
    a, b = _lookup(saved, key), _lookup(current, key)
    _diff(key, _MISSING if a is None else a, _MISSING if b is None else b, diffs)
  return diffs


class Checkpointer:
  """Thin wrapper around ``ocp.CheckpointManager`` with gen_jax's three items."""

  def __init__(self, workdir: str, max_to_keep: int = 3, async_save: bool = True):
    self.directory = epath.Path(workdir) / 'checkpoints'
    if jax.process_index() == 0:
      remove_partial_checkpoints(str(self.directory))
    # Partial saves are removed above, synchronously: orbax's own clean-up runs in a background thread
    # that nothing waits for, and an error exit right after start-up then ends in its traceback.
    options = ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep, create=True, enable_async_checkpointing=async_save,
        cleanup_tmp_directories=False)
    self.manager = ocp.CheckpointManager(self.directory, options=options,
                                         item_names=('state', 'data', 'config'))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self.manager.all_steps())

  def save(self, step: int, state: Any, data_state: dict | None, config_dict: dict,
           force: bool = True) -> bool:
    """Saves (asynchronously when enabled); returns whether a save was started."""
    args = ocp.args.Composite(
        state=ocp.args.StandardSave(state),
        data=ocp.args.JsonSave(data_state or {}),
        config=ocp.args.JsonSave(config_dict))
    return self.manager.save(int(step), args=args, force=force)

  def read_config(self, step: int) -> dict:
    """The config saved with a checkpoint (raises CheckpointError if unreadable)."""
    try:
      out = self.manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))
      return dict(out.config)
    except Exception as e:  # noqa: BLE001 - any failure here means the checkpoint is unusable.
      raise self._corrupt(step, e) from e

  def check_config(self, step: int, config_dict: dict) -> None:
    """Refuses a checkpoint that belongs to a different experiment."""
    diffs = config_differences(self.read_config(step), config_dict)
    if diffs:
      raise CheckpointError(
          f'the checkpoint at step {step} in {self.directory} was written by a different config:\n'
          + '\n'.join(diffs)
          + '\nThese entries fix the model, data stream and optimizer state; a resumed run must keep them. '
            'Use another --workdir for a new experiment, or set them back to the checkpoint\'s values.')

  def restore(self, step: int, abstract_state: Any) -> tuple[Any, dict]:
    """Restores ``(state, data_state)`` into the shapes/shardings of ``abstract_state``."""
    try:
      out = self.manager.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(abstract_state), data=ocp.args.JsonRestore()))
    except Exception as e:  # noqa: BLE001
      raise self._corrupt(step, e) from e
    return out.state, dict(out.data or {})

  def _corrupt(self, step: int, err: Exception) -> CheckpointError:
    others = [s for s in self.all_steps() if s != step]
    hint = (f'Earlier checkpoints exist at steps {others}: delete {self.directory / str(step)} to resume from '
            f'step {max(others)}.' if others else
            f'Delete {self.directory / str(step)} (or use another --workdir) to start afresh.')
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return CheckpointError(f'the checkpoint at step {step} in {self.directory} is unreadable '
                           f'({type(err).__name__}: {first[:300]}). {hint}')

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def reached_preemption(self, step: int) -> bool:
    """Multi-host preemption sync point (JAX's preemption notice service)."""
    try:
      return bool(self.manager.reached_preemption(int(step)))
    except Exception:  # noqa: BLE001 - no preemption service (single process): never preempted through it.
      return False

  def close(self) -> None:
    self.manager.close()


def remove_partial_checkpoints(directory: str) -> list[str]:
  """Deletes the directories an interrupted save left half-written (orbax's ``*.orbax-checkpoint-tmp*``)
  in a checkpoint directory; returns their names. A complete checkpoint is never touched."""
  import glob  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  import shutil  # pylint: disable=g-import-not-at-top
  removed = []
  for d in sorted(glob.glob(os.path.join(directory, '*.orbax-checkpoint-tmp*'))):
    shutil.rmtree(d, ignore_errors=True)
    removed.append(os.path.basename(d))
  return removed


def abstract_like(state: Any, shardings: Any) -> Any:
  """``ShapeDtypeStruct``s with shardings, the target structure of a restore."""
  return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), state, shardings)
