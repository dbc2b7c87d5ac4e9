"""The plumbing every study script (``experiments/<family>/study_*.py``) and notebook shares.

A study trains or reuses runs, restores them, reads the eval split, measures, and writes a JSON
of its numbers plus figures into its ``--workdir``. Everything here is host-side code (not for use
inside a step), and every measurement is the one ``--mode=eval`` makes, with the same keys:

* runs: ``trained_state`` (train or resume a run in a given workdir, then restore it),
  ``study_model`` / ``train_model`` (runs named by a hash of their config under a shared
  ``--models_dir``, reused when finished), ``study_config`` (a study's copy of an experiment);
* data: ``load_split`` (a whole split, or its first N examples, as arrays), ``map_batches``;
* metrics: ``evaluate_model`` (the per-example eval metrics with the eval key of ``--mode=eval``),
  ``sample_quality`` (FID / KID / precision-recall / classifier scores as ``--mode=eval``
  computes them), ``point_quality`` (feature-free scores of points and signals), ``flat``;
* output: ``define_flags``, ``save_json``, ``save_figure``, ``pyplot``, ``markdown``.
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
from gen_jax.core.config import config_to_dict, load_experiment
from gen_jax.core.errors import CheckpointError

# ---------------------------------------------------------------------------------------------- runs


def load_spec(spec: str) -> Any:
  """The config of ``'experiments/<family>/<name>.py[:variants]'``."""
  path, _, arg = spec.partition(':')
  return load_experiment(path, arg or None)


def trained_state(config: Any, workdir: str, train: bool = True) -> tuple[Any, Any]:
  """``(run, state)`` of the latest checkpoint of ``config`` in ``workdir``.

  With ``train``, the run is first trained or resumed to ``config.num_train_steps`` (nothing is
  compiled when it is already there). Without, whatever checkpoint exists is used, and a workdir
  without one is a CheckpointError.
  """
  if train:
    train_lib.train_and_evaluate(config, workdir)
  elif not os.path.isdir(os.path.join(workdir, 'checkpoints')) or not any(
      d.isdigit() for d in os.listdir(os.path.join(workdir, 'checkpoints'))):
    raise CheckpointError(f'no checkpoint in {workdir}: train the run first (same --config, --workdir) or let '
                          'the script train it (--train).')
  return _restored(config, workdir)


def _restored(config: Any, workdir: str) -> tuple[Any, Any]:
  """``(run, state)`` of the latest checkpoint; the run's checkpointer is shut down (nothing more is saved)."""
  run = train_lib.setup(config, workdir, 'sample')
  try:
    state = train_lib.restore_for_inference(run)
  finally:
    run.close()
  return run, state


def model_dir(root: str, name: str, config: Any) -> str:
  """``root/<name>-<hash of the config>``: studies that need the same model share its run."""
  d = config_to_dict(config)
  if not d['model'].get('exclude_labels', None):  # the empty default is the same model as no field
    d['model'].pop('exclude_labels', None)
  blob = json.dumps(d, sort_keys=True)
  return os.path.join(root, f'{name}-{hashlib.sha1(blob.encode()).hexdigest()[:8]}')


def train_model(config: Any, workdir: str) -> tuple[Any, dict]:
  """Trains ``config`` in ``workdir`` (resuming if a checkpoint is there), or reuses a finished run.

  Returns ``(state, info)``: the final state and ``info = {'train_wall_s': seconds of training (as
  recorded by the run that trained it), 'train': the final train metrics}``.
  """
  record = os.path.join(workdir, 'study_train.json')
  finished = False
  if os.path.isfile(record):
    run = train_lib.setup(config, workdir, 'eval')
    finished = run.checkpointer.latest_step() == config.num_train_steps
    run.close()
  if not finished:
    t0 = time.perf_counter()
    out = train_lib.train_and_evaluate(config, workdir)
    save_json(record, {'train_wall_s': round(time.perf_counter() - t0, 1), 'train': out})
  with open(record, encoding='utf-8') as f:
    info = json.load(f)
  return _restored(config, workdir)[1], info


def restore_model(config: Any, workdir: str) -> Any:
  """The latest checkpoint's state of a run of ``config`` in ``workdir`` (CheckpointError if none)."""
  return _restored(config, workdir)[1]


def study_config(config: Any, tiny: bool, steps: int = 0) -> Any:
  """A study's copy of an experiment config: ``steps`` overrides the schedule; no intermediate
  evals or sample grids (the study evaluates the final model itself). Checkpoints keep the
  experiment's period (one kept), so a long study run that is stopped resumes where it was."""
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
  c.checkpoint_every = c.num_train_steps if tiny else min(
      int(c.get('checkpoint_every', 0) or c.num_train_steps), c.num_train_steps)
  c.keep_checkpoints = 1
  c.log_every = max(1, c.num_train_steps // 4)
  c.async_checkpointing = False
  if tiny:
    c.eval_batch_size = 500
  return c


def study_model(path: str, variant: str, models_root: str, tiny: bool = False, steps: int = 0,
                **model_overrides: Any) -> tuple[Any, Any, dict]:
  """Loads ``path:variant`` (plus ``,tiny``), applies ``config.model`` overrides and ``study_config``,
  and trains it under ``models_root`` (or reuses the identical finished run there).

  Returns ``(config, state, info)``; ``info`` adds 'config', 'model_overrides', 'workdir' and
  'steps' to ``train_model``'s.
  """
  full = ','.join(v for v in (variant, 'tiny' if tiny else '') if v)
  config = load_experiment(path, full or None)
  for k, v in model_overrides.items():
    config.model[k] = v
  config = study_config(config, tiny, steps)
  workdir = model_dir(models_root, config.model.name, config)  # named by content: shared when identical
  state, info = train_model(config, workdir)
  return config, state, {'config': f'{path}:{full}' if full else path, 'model_overrides': model_overrides,
                         'workdir': workdir, 'steps': config.num_train_steps, **info}


# ---------------------------------------------------------------------------------------------- data


def data_key(batch: dict) -> str:
  """The key of the generated data in a batch: 'image' for images, 'x' for points and signals."""
  return 'image' if 'image' in batch else 'x'


def load_split(config: Any, split: str | None = None, num: int | None = None) -> dict[str, np.ndarray]:
  """Examples of ``split`` (default: the eval split) preprocessed as in training, in order.

  Returns ``{'image' or 'x': float32 [N, ...], 'label': int32 [N] (if labelled)}`` with every
  example (or the first ``num``), padding rows dropped.
  """
  cfg = config.copy_and_resolve_references()
  cfg.batch_size = 500
  parts: dict[str, list] = {}
  count = 0
  for batch in data_lib.make_eval_iterator(cfg, 0, 1, split=split):
    keep = np.asarray(batch['mask']) > 0
    for k, v in batch.items():
      if k != 'mask':
        parts.setdefault(k, []).append(np.asarray(v)[keep])
    count += int(keep.sum())
    if num is not None and count >= num:
      break
  return {k: np.concatenate(v)[:num] for k, v in parts.items()}


def map_batches(fn: Callable, *arrays: np.ndarray | None, batch_size: int = 500) -> np.ndarray:
  """``fn(*chunks)`` over consecutive chunks of the leading axis (None passes through), concatenated on host."""
  n = next(a for a in arrays if a is not None).shape[0]
  outs = []
  for i in range(0, n, batch_size):
    outs.append(np.asarray(jax.device_get(fn(*[None if a is None else a[i:i + batch_size] for a in arrays]))))
  return np.concatenate(outs)


# ------------------------------------------------------------------------------------------- metrics


def evaluate_model(config: Any, workdir: str, state: Any = None) -> dict[str, dict]:
  """The per-example eval metrics of the run in ``workdir`` exactly as ``--mode=eval`` computes them
  (same key, every example once), without writing into ``workdir``.

  Returns ``{metric: {'value', 'stderr', 'num_samples'}}`` plus 'eval_wall_s' (its stderr is None).
  ``state``: the run's restored state if the caller has it.
  """
  t0 = time.perf_counter()
  if state is None:
    run, state = _restored(config, workdir)
  else:
    run = train_lib.setup(config, workdir, 'eval')
    run.close()
  metrics = train_lib.evaluate(run, state, train_lib.eval_rng(config))
  metrics['eval_wall_s'] = {'value': round(time.perf_counter() - t0, 1), 'stderr': None, 'num_samples': 1}
  return metrics


def sample_quality(config: Any, samples: Any, labels: Any = None) -> dict[str, dict]:
  """FID, KID, precision / recall and classifier scores of ``samples`` [N, H, W, C] (in
  ``config.dataset.scale``) in the project classifier's feature space against the eval split:
  the metrics, keys and settings of ``--mode=eval`` (``gen_jax.eval.config_eval.score_samples``).
  ``labels`` [N]: the classes a conditional model was asked for (adds ``conditional_accuracy``)."""
  from gen_jax.eval import config_eval  # pylint: disable=g-import-not-at-top
  out = config_eval.score_samples(config, samples, labels)
  out.pop('feature_net', None)
  out.pop('feature_net_digest', None)
  return out


def has_feature_net(config: Any) -> bool:
  """True when the project has a feature classifier for the config's dataset (mnist5k, digits)."""
  from gen_jax.eval.feature_net import DATASETS  # pylint: disable=g-import-not-at-top
  return config.dataset.name in DATASETS


def point_quality(samples: Any, data: Any, dataset_name: str) -> dict[str, float]:
  """Feature-free scores of points or signals ``samples`` [n, ...] against held-out ``data`` [m, ...].

  ``kid_raw`` (KID on the raw values, cubic kernel, with its std ``kid_raw_std`` over 20 subsets),
  ``mean_err`` / ``std_err`` (mean absolute error of the per-dimension mean and std), and for the
  toy2d Gaussian mixtures ``modes_hit`` of ``num_modes`` and ``high_quality`` (the fraction of
  samples within 3 std of a center; ``gen_jax.eval.mode_coverage``) plus ``true_nll``, the mean
  NLL (nats) of the samples under the true density (held-out data score its entropy).
  """
  from gen_jax.eval import kid, mode_coverage  # pylint: disable=g-import-not-at-top
  x = np.asarray(samples, np.float64).reshape(len(samples), -1)
  y = np.asarray(data, np.float64).reshape(len(data), -1)
  k, k_std = kid(x, y, num_subsets=20, subset_size=min(1000, len(x), len(y)))
  out = {'kid_raw': float(k), 'kid_raw_std': float(k_std), 'mean_err': float(np.abs(x.mean(0) - y.mean(0)).mean()),
         'std_err': float(np.abs(x.std(0) - y.std(0)).mean())}
  if dataset_name.startswith('toy2d/'):
    density = dataset_name.split('/', 1)[1]
    try:
      centers = data_lib.toy2d_modes(density)
    except ValueError:  # no modes
      return out
    try:
      std = data_lib.toy2d_mode_std(density)
    except ValueError:  # modes, but not a Gaussian mixture (checkerboard)
      return out
    cov = mode_coverage(x, centers, std)
    out.update(modes_hit=int(cov['modes_hit']), num_modes=len(centers),
               high_quality=float(cov['high_quality_fraction']),
               true_nll=float(-data_lib.toy2d_log_density(density, x).mean()))
  return out


def flat(results: dict[str, Any], digits: int | None = None) -> dict[str, Any]:
  """``{name: {'value', 'stderr', ...}}`` -> ``{name: value, name_stderr: stderr}`` (a table row); entries
  that are not metric dicts pass through. ``digits`` rounds the values."""
  out = {}
  rnd = (lambda v: v) if digits is None else (lambda v: v if v is None else round(float(v), digits))
  for k, v in results.items():
    if isinstance(v, dict) and 'value' in v:
      out[k] = rnd(v['value'])
      out[k + '_stderr'] = rnd(v.get('stderr'))
    else:
      out[k] = v
  return out


def metric_values(metrics: dict[str, dict]) -> dict[str, float]:
  """{metric: value} of an ``evaluate_model`` result, rounded for tables."""
  return {k: round(float(v['value']), 4) for k, v in metrics.items()}


def metric_stderrs(metrics: dict[str, dict]) -> dict[str, float | None]:
  """{metric: standard error} of an ``evaluate_model`` result, rounded; None where none is defined."""
  return {k: None if v.get('stderr') is None else round(float(v['stderr']), 4) for k, v in metrics.items()}


# -------------------------------------------------------------------------------------------- output


def define_flags(workdir: str) -> None:
  """The absl flags every study that trains its own models takes: ``--workdir`` (where its JSON and
  figures go), ``--tiny`` (a seconds-long smoke test of the same code), ``--steps`` (train steps per
  model; 0: the configs') and ``--models_dir`` (where its trained models live; studies given the
  same directory share identical models, which are named by a hash of their config)."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string('workdir', workdir, 'output directory (the JSON and figures)')
  flags.DEFINE_bool('tiny', False, 'seconds-long smoke test of the same code')
  flags.DEFINE_integer('steps', 0, "train steps per model (0: the config's)")
  flags.DEFINE_string('models_dir', '', 'where trained models live (default: WORKDIR/models); studies given the '
                      'same directory share identical models')


def _json_default(o: Any) -> Any:
  if isinstance(o, np.ndarray):
    return o.tolist()
  if isinstance(o, (np.floating, np.integer)):
    return o.item()
  if isinstance(o, np.bool_):
    return bool(o)
  raise TypeError(f'not JSON serialisable: {type(o)}')


def save_json(path: str, obj: Any) -> str:
  """Writes ``obj`` (numpy scalars and arrays converted) as indented JSON; returns the path."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'w', encoding='utf-8') as f:
    json.dump(obj, f, indent=2, default=_json_default)
  return path


def save_figure(fig: Any, path: str, dpi: int = 100) -> str:
  """Saves a matplotlib figure (tight layout) and closes it; returns the path."""
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.tight_layout()
  fig.savefig(path, dpi=dpi)
  plt.close(fig)
  return path


def pyplot():
  """matplotlib.pyplot with the non-interactive Agg backend (no display needed)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def markdown(rows: list[dict]) -> str:
  """A markdown table of ``rows`` (the union of their keys, in first-seen order)."""
  keys = list(dict.fromkeys(k for r in rows for k in r))
  fmt = lambda v: f'{v:.4g}' if isinstance(v, float) else ('' if v is None else str(v))  # noqa: E731
  lines = ['| ' + ' | '.join(keys) + ' |', '|' + '---|' * len(keys)]
  lines += ['| ' + ' | '.join(fmt(r.get(k, '')) for k in keys) + ' |' for r in rows]
  return '\n'.join(lines)


def device_kind() -> str:
  """The first device's kind, recorded in study JSONs (where the numbers were measured)."""
  return jax.devices()[0].device_kind
