"""Helpers for analysis scripts (``experiments/autoencoders/study_*.py``) and notebooks.

Train a config in a workdir and get its state back, load a whole split as arrays, apply a
jitted function batch by batch, and write JSON. Host-side code: not for use inside a step.
"""
import hashlib
import json
import math
import os
import time
from typing import Any, Callable

import jax
import numpy as np

from gen_jax import data as data_lib
from gen_jax import train as train_lib
from gen_jax.core.config import config_to_dict


def model_dir(root: str, name: str, config: Any) -> str:
  """``root/<name>-<hash of the config>``: studies that need the same model share its run."""
  d = config_to_dict(config)
  if not d['model'].get('exclude_labels', None):  # the empty default is the same model as no field
    d['model'].pop('exclude_labels', None)
  blob = json.dumps(d, sort_keys=True)
  return os.path.join(root, f'{name}-{hashlib.sha1(blob.encode()).hexdigest()[:8]}')


def train_model(config: Any, workdir: str) -> tuple[Any, dict]:
  """Trains ``config`` in ``workdir`` with ``gen_jax.train.train_and_evaluate`` (resuming if a
  checkpoint is there), or reuses a finished run; returns ``(state, info)``: the final state and
  ``info = {'train_wall_s': seconds of training (as recorded by the run that trained it), 'train':
  the final train metrics}``."""
  record = os.path.join(workdir, 'study_train.json')
  run = None
  if os.path.isfile(record):
    run = train_lib.setup(config, workdir, 'eval')
    if run.checkpointer.latest_step() != config.num_train_steps:
      run = None
  if run is None:
    t0 = time.perf_counter()
    out = train_lib.train_and_evaluate(config, workdir)
    save_json(record, {'train_wall_s': round(time.perf_counter() - t0, 1), 'train': out})
    run = train_lib.setup(config, workdir, 'eval')
  with open(record, encoding='utf-8') as f:
    info = json.load(f)
  return train_lib.restore_for_inference(run), info


def restore_model(config: Any, workdir: str) -> Any:
  """The latest checkpoint's state of a run of ``config`` in ``workdir`` (CheckpointError if none)."""
  return train_lib.restore_for_inference(train_lib.setup(config, workdir, 'eval'))


def evaluate_model(config: Any, workdir: str, state: Any = None) -> dict[str, dict]:
  """Evaluates the run in ``workdir`` on the eval split exactly as ``--mode=eval`` does (same key,
  all examples once), without writing into ``workdir``: {metric: {'value', 'stderr', 'num_samples'}}
  plus 'eval_wall_s'. ``state``: the run's restored state if the caller has it."""
  t0 = time.perf_counter()
  run = train_lib.setup(config, workdir, 'eval')
  state = train_lib.restore_for_inference(run) if state is None else state
  metrics = train_lib.evaluate(run, state, jax.random.split(jax.random.key(config.seed), 4)[2])
  metrics['eval_wall_s'] = {'value': round(time.perf_counter() - t0, 1), 'stderr': 0.0, 'num_samples': 1}
  return metrics


def load_split(config: Any, split: str | None = None) -> dict[str, np.ndarray]:
  """Every example of ``split`` (default: the eval split) preprocessed as in training:
  {'image': float32 [N, H, W, C], 'label': int32 [N] (if labelled)}; padding rows dropped."""
  cfg = config.copy_and_resolve_references()
  cfg.batch_size = 500
  parts: dict[str, list] = {}
  for batch in data_lib.make_eval_iterator(cfg, 0, 1, split=split):
    keep = batch['mask'] > 0
    for k, v in batch.items():
      if k != 'mask':
        parts.setdefault(k, []).append(np.asarray(v)[keep])
  return {k: np.concatenate(v) for k, v in parts.items()}


def map_batches(fn: Callable, *arrays: np.ndarray | None, batch_size: int = 500) -> np.ndarray:
  """``fn(*chunks)`` over consecutive chunks of the leading axis (None passes through), concatenated on host."""
  n = next(a for a in arrays if a is not None).shape[0]
  outs = []
  for i in range(0, n, batch_size):
    outs.append(np.asarray(jax.device_get(fn(*[None if a is None else a[i:i + batch_size] for a in arrays]))))
  return np.concatenate(outs)


def save_json(path: str, obj: Any) -> str:
  """Writes ``obj`` (numpy scalars/arrays converted) as indented JSON; returns the path."""
  def default(o):
    if isinstance(o, np.ndarray):
      return o.tolist()
    if isinstance(o, (np.floating, np.integer)):
      return o.item()
    raise TypeError(f'not JSON serialisable: {type(o)}')
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'w', encoding='utf-8') as f:
    json.dump(obj, f, indent=2, default=default)
  return path


def metric_values(metrics: dict[str, dict]) -> dict[str, float]:
  """{metric: value} of an ``evaluate_model`` result, rounded for tables."""
  return {k: round(float(v['value']), 4) for k, v in metrics.items()}


def study_config(config: Any, tiny: bool, steps: int = 0) -> Any:
  """A study's copy of an experiment config: ``steps`` overrides the schedule; no intermediate
  evals, sample grids or extra checkpoints (the study evaluates the final model itself)."""
  c = config.copy_and_resolve_references()
  if steps:
    c.num_train_steps = int(steps)
    c.optim.warmup_steps = min(c.optim.warmup_steps, max(int(steps) // 10, 1))
    if c.model.get('kl_warmup_steps', 0):
      c.model.kl_warmup_steps = max(1, int(steps) // 4)
    if c.model.get('gumbel_anneal_rate', 0):  # keep tau reaching gumbel_tau_min at the end
      c.model.gumbel_anneal_rate = math.log(c.model.gumbel_tau / c.model.gumbel_tau_min) / int(steps)
  c.eval_every = 0
  c.sample_every = 0
  c.checkpoint_every = c.num_train_steps
  c.log_every = max(1, c.num_train_steps // 4)
  c.async_checkpointing = False
  if tiny:
    c.eval_batch_size = 500
  return c


def study_model(path: str, variant: str, models_root: str, tiny: bool = False, steps: int = 0,
                **model_overrides: Any) -> tuple[Any, Any, dict]:
  """Loads ``path:variant`` (plus ``,tiny``), applies ``config.model`` overrides and ``study_config``,
  and trains it under ``models_root`` (or reuses the identical finished run there).

  Returns ``(config, state, info)``; ``info`` adds 'variant', 'workdir' and 'steps' to ``train_model``'s.
  """
  from gen_jax.core.config import load_experiment  # pylint: disable=g-import-not-at-top
  full = ','.join(v for v in (variant, 'tiny' if tiny else '') if v)
  config = load_experiment(path, full or None)
  for k, v in model_overrides.items():
    config.model[k] = v
  config = study_config(config, tiny, steps)
  workdir = model_dir(models_root, config.model.name, config)  # named by content: shared when identical
  state, info = train_model(config, workdir)
  return config, state, {'config': f'{path}:{full}' if full else path, 'model_overrides': model_overrides,
                         'workdir': workdir, 'steps': config.num_train_steps, **info}
