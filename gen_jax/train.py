"""The family-agnostic loop: data -> step -> log / eval / checkpoint / preempt.

``train_and_evaluate`` runs any family (``config.family``) on any mesh. Everything that
can be wrong with the inputs is checked in ``setup`` before a step is compiled.
"""
import dataclasses
import json
import math
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from gen_jax import data as data_lib
from gen_jax import families
from gen_jax.core import checkpoint as ckpt_lib
from gen_jax.core import sharding as shard_lib
from gen_jax.core.config import config_to_dict, validate_common
from gen_jax.core import memory
from gen_jax.core.errors import CheckpointError, ConfigError, NonFiniteLossError, RunError
from gen_jax.core.images import save_image_grid
from gen_jax.core.metrics import MetricWriter, ProgressLine, format_seconds
from gen_jax.core.runtime import PreemptionWatcher, check_workdir
from gen_jax.eval import config_eval
from gen_jax.eval.harness import format_results
from gen_jax.eval.likelihood import mean_with_stderr_from_sums


@dataclasses.dataclass
class Run:
  """Everything a mode needs, built and checked before compiling anything."""
  config: Any
  workdir: str
  family: Any
  info: Any
  mesh: Any
  checkpointer: ckpt_lib.Checkpointer
  config_dict: dict
  is_main: bool

  def path(self, *parts: str) -> str:
    return os.path.join(self.workdir, *parts)

  def close(self) -> None:
    """Waits for checkpoint saves in flight to commit, then shuts the checkpointer down."""
    self.checkpointer.wait()
    self.checkpointer.close()


def eval_batch_size(config: Any) -> int:
  """The global batch of the eval passes (``config.eval_batch_size``; 0 means ``config.batch_size``)."""
  return int(config.get('eval_batch_size', 0) or config.batch_size)


def validate(config: Any) -> tuple[Any, Any, Any]:
  """Checks config, dataset, family and mesh; returns ``(family, dataset_info, mesh)``."""
  validate_common(config)
  family = families.get_family(config.family)
  info = data_lib.get_dataset_info(config.dataset)
  family.validate_config(config, info)
  config_eval.validate_eval_config(config, info)
  mesh = shard_lib.make_mesh(config.mesh)
  shard_lib.check_batch_size(config.batch_size, mesh)
  shard_lib.check_batch_size(eval_batch_size(config), mesh, 'config.eval_batch_size')
  if info.num_train and config.batch_size > info.num_train:
    raise ConfigError(f'config.batch_size={config.batch_size} is larger than the {info.num_train} examples of the '
                      f'train split of {info.name!r}: every batch would repeat examples. Use at most '
                      f'{info.num_train}.')
  return family, info, mesh


def setup(config: Any, workdir: str, mode: str = 'train') -> Run:
  """Validates config, data, mesh, workdir and any existing checkpoint (no compilation)."""
  family, info, mesh = validate(config)
  # a run that starts from pretrained weights (the family's optional ``starts_pretrained``) can be evaluated or
  # sampled before any training: without a checkpoint, eval and sample modes use its initial state (step 0)
  pretrained = bool(getattr(family, 'starts_pretrained', lambda c: False)(config))
  workdir = check_workdir(workdir, must_exist=(mode != 'train' and not pretrained))
  checkpointer = ckpt_lib.Checkpointer(workdir, max_to_keep=config.get('keep_checkpoints', 3),
                                       async_save=config.get('async_checkpointing', True))
  try:
    config_dict = config_to_dict(config)
    latest = checkpointer.latest_step()
    if latest is not None:
      checkpointer.check_config(latest, config_dict)
    elif mode != 'train' and not pretrained:
      raise CheckpointError(f'no checkpoint in {checkpointer.directory}; --mode={mode} needs a trained run '
                            '(train first with --mode=train and the same --workdir).')
  except BaseException:
    checkpointer.close()  # no orbax thread left running behind the error message
    raise
  return Run(config, workdir, family, info, mesh, checkpointer, config_dict, jax.process_index() == 0)


def _example_batch(run: Run) -> dict[str, jax.Array]:
  """One global train batch for (data-dependent) initialisation, without consuming the stream."""
  it = data_lib.make_train_iterator(run.config, jax.process_index(), jax.process_count())
  return shard_lib.global_batch(next(it), run.mesh)


def init_or_restore(run: Run, rng: jax.Array, example: dict) -> tuple[Any, Any, dict | None]:
  """Returns ``(state, state_shardings, data_state)``: the latest checkpoint if any, else a fresh init."""
  latest = run.checkpointer.latest_step()
  if latest is not None:
    abstract, shardings = abstract_state(run.family, run.config, run.mesh, rng, example)
    state, data_state = run.checkpointer.restore(latest, ckpt_lib.abstract_like(abstract, shardings))
    return state, shardings, data_state
  state, shardings = init_state(run.family, run.config, run.mesh, rng, example)
  return state, shardings, None


def abstract_state(family: Any, config: Any, mesh: Any, rng: jax.Array, example: dict) -> tuple[Any, Any]:
  """Shapes of the family's TrainState (nothing computed) and the shardings chosen for them."""
  abstract = jax.eval_shape(lambda r, b: family.init(r, config, b), rng, example)
  return abstract, shard_lib.state_shardings(abstract, mesh)


def init_state(family: Any, config: Any, mesh: Any, rng: jax.Array, example: dict) -> tuple[Any, Any]:
  """A fresh TrainState, created directly in its shardings; returns ``(state, shardings)``."""
  _, shardings = abstract_state(family, config, mesh, rng, example)
  state = jax.jit(lambda r, b: family.init(r, config, b), out_shardings=shardings)(rng, example)
  return state, shardings


def jit_train_step(family: Any, config: Any, mesh: Any, shardings: Any, example: dict):
  """``jax.jit`` of the family's step with explicit shardings and donation of the state."""
  batch_shardings = {k: shard_lib.batch_sharding(mesh) for k in example}
  return jax.jit(family.make_train_step(config),
                 in_shardings=(shardings, batch_shardings, shard_lib.replicated(mesh)),
                 out_shardings=(shardings, shard_lib.replicated(mesh)),
                 donate_argnums=0)


def _check_finite(step: int, metrics: dict, run: Run) -> dict:
  host = {k: float(v) for k, v in jax.device_get(metrics).items()}
  if not math.isfinite(host.get('loss', 0.0)):
    run.checkpointer.wait()
    last = run.checkpointer.latest_step()
    where = (f'the last finite checkpoint (step {last}) is kept in {run.checkpointer.directory}'
             if last is not None else 'no checkpoint was written before it')
    detail = ''
    if hasattr(run.family, 'describe_nonfinite'):  # e.g. the layer where a flow first overflowed
      detail = ' ' + run.family.describe_nonfinite(host, run.config).strip()
    optim = run.config.optim
    clip = optim.get('grad_clip', 0.0)
    hints = [f'lower config.optim.lr (it is {optim.lr:g})',
             f'lower config.optim.grad_clip (it is {clip:g})' if clip else 'set config.optim.grad_clip (e.g. 1.0)',
             'or check the data preprocessing']
    raise NonFiniteLossError(f'the loss became {host["loss"]} at step {step}; {where}.{detail} '
                             f'{hints[0][0].upper()}{hints[0][1:]}, {hints[1]}, {hints[2]}.')
  # names starting with '_' are a family's diagnostics for describe_nonfinite (above): not logged
  return {k: v for k, v in host.items() if not k.startswith('_')}


def _compile_checked(fn, args: tuple, what: str, lower: str):
  """``fn`` lowered and compiled for ``args``, refused (ConfigError) if one call cannot fit in memory."""
  compiled = fn.lower(*args).compile()
  memory.check_fits(compiled, what, lower)
  return compiled


def _due(step: int, every: int, last: int) -> bool:
  return bool(every) and (step % every == 0 or step == last)


def write_images(run: Run, state: Any, batch: dict, rng: jax.Array, step: int, visualize=None) -> list[str]:
  """Writes the family's visualisations (samples, reconstructions) as PNG grids (``visualize``: a compiled
  ``(state, batch, rng) -> images`` to use; default: the family's, jitted)."""
  if not hasattr(run.family, 'visualize') or run.info.kind != 'image':
    return []
  if visualize is None:
    visualize = jax.jit(lambda s, b, r: run.family.visualize(s, b, r, run.config))
  images = shard_lib.to_host(visualize(state, batch, rng))
  paths = []
  if run.is_main:
    for name, imgs in images.items():
      paths.append(save_image_grid(imgs, run.path('images', f'{name}_{step:07d}.png'), scale=2))
  return paths


@jax.jit
def _masked_sums(per_example: dict, mask: jax.Array):
  """Masked sum and sum of squares of each per-example metric, and the number of real rows."""
  sums = {k: (jnp.sum(v * mask), jnp.sum(jnp.square(v) * mask)) for k, v in per_example.items()}
  return sums, jnp.sum(mask)


def evaluate(run: Run, state: Any, rng: jax.Array, eval_step=None, split: str | None = None) -> dict:
  """One full pass over the eval split: mean and standard error of each per-example metric.

  The family's eval step returns per-example values ``[B]``; padding rows (``mask == 0``)
  of the last batch are excluded, so every example counts exactly once.
  """
  cfg = run.config
  eval_cfg = cfg
  if cfg.get('eval_batch_size', None):
    eval_cfg = cfg.copy_and_resolve_references()
    eval_cfg.batch_size = cfg.eval_batch_size
  if eval_step is None:
    eval_step = jax.jit(run.family.make_eval_step(cfg))
  sums: dict[str, float] = {}
  sqs: dict[str, float] = {}
  count = 0.0
  it = data_lib.make_eval_iterator(eval_cfg, jax.process_index(), jax.process_count(), split=split)
  for i, local in enumerate(it):
    batch = shard_lib.global_batch(local, run.mesh)
    vals, m = shard_lib.to_host(_masked_sums(eval_step(state, batch, jax.random.fold_in(rng, i)), batch['mask']))
    count += float(m)
    for k, (s, sq) in vals.items():
      sums[k] = sums.get(k, 0.0) + float(s)
      sqs[k] = sqs.get(k, 0.0) + float(sq)
  results = {}
  for k in sums:
    mean, stderr = mean_with_stderr_from_sums(sums[k], sqs[k], count)
    results[k] = {'value': mean, 'stderr': stderr, 'num_samples': int(count)}
  if hasattr(run.family, 'summarize_eval'):  # metrics of the whole split, e.g. a corpus's exact bits/char
    results.update(run.family.summarize_eval(results, cfg))
  return results


def eval_rng(config: Any) -> jax.Array:
  """The key of the per-example eval metrics of ``--mode=eval`` (and of the evals during training)."""
  return jax.random.split(jax.random.key(config.seed), 4)[2]


def sample_quality_rng(config: Any) -> jax.Array:
  """The key of the samples that ``--mode=eval`` scores (FID, KID, ...)."""
  return jax.random.fold_in(jax.random.key(config.seed), 20_000_003)


def train_and_evaluate(config: Any, workdir: str) -> dict:
  """Trains ``config`` in ``workdir`` (resuming from its latest checkpoint); returns final metrics.

  Checkpoints that were started are committed before this returns or raises (a second Ctrl-C,
  ``KeyboardInterrupt``, leaves at once).
  """
  run = setup(config, workdir, 'train')
  try:
    out = _train(run)
  except KeyboardInterrupt:
    raise
  except BaseException:
    run.close()
    raise
  run.close()
  return out


def _eval_example(run: Run) -> dict[str, jax.Array]:
  """The first global eval batch (its shapes compile the eval step)."""
  cfg = run.config.copy_and_resolve_references()
  cfg.batch_size = eval_batch_size(run.config)
  it = data_lib.make_eval_iterator(cfg, jax.process_index(), jax.process_count())
  return shard_lib.global_batch(next(iter(it)), run.mesh)


def _evaluate_or_explain(run: Run, state: Any, eval_step, step: int) -> dict:
  """``evaluate`` after the checkpoints in flight have committed; a failure says the checkpoint is kept."""
  run.checkpointer.wait()
  try:
    return evaluate(run, state, eval_rng(run.config), eval_step)
  except (ConfigError, CheckpointError, KeyboardInterrupt):
    raise
  except Exception as e:  # noqa: BLE001 - re-raised with what is kept
    last = run.checkpointer.latest_step()
    kept = f'the checkpoint at step {last} in {run.checkpointer.directory} is intact' if last is not None else (
        'no checkpoint had been written')
    raise RunError(f'evaluation at step {step} failed ({type(e).__name__}: '
                   f'{(str(e).strip().splitlines() or [""])[0][:200]}); {kept}.') from e


def _train(run: Run) -> dict:
  config = run.config
  total = config.num_train_steps
  rng = jax.random.key(config.seed)
  init_rng, train_rng, _, vis_rng = jax.random.split(rng, 4)
  example = _example_batch(run)
  state, shardings, data_state = init_or_restore(run, init_rng, example)
  train_it = data_lib.make_train_iterator(config, jax.process_index(), jax.process_count())
  if data_state:
    train_it.set_state(data_state)
  step = int(jax.device_get(state.step))
  if step >= total:  # nothing to train: do not compile the step
    if run.is_main:
      print(f'{run.workdir} is already trained to step {step} (num_train_steps={total}); nothing to do. '
            'Raise --config.num_train_steps to train further.', flush=True)
    return {'step': step, 'stopped': False}
  t_compile = time.perf_counter()
  train_step = _compile_checked(jit_train_step(run.family, config, run.mesh, shardings, example),
                                (state, example, train_rng), f'the train step at config.batch_size={config.batch_size}',
                                'config.batch_size')
  eval_step = None
  if config.eval_every:
    eval_step = _compile_checked(jax.jit(run.family.make_eval_step(config)), (state, _eval_example(run), train_rng),
                                 f'the eval step at config.eval_batch_size={eval_batch_size(config)}',
                                 'config.eval_batch_size')
  if run.is_main:
    logging.info('train step compiled in %.1fs', time.perf_counter() - t_compile)
  # The record of a resumed run restarts at its checkpoint: rows of steps after it (a run killed
  # before it could save) are dropped, so no step appears twice.
  writer = MetricWriter(run.workdir, enabled=run.is_main, resume_step=step)
  if run.is_main:
    with open(run.path('config.json'), 'w', encoding='utf-8') as f:
      json.dump(run.config_dict, f, indent=2, sort_keys=True)
    n_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(state.params))
    logging.info('%s: %s on %s (%d train / %d eval examples); %s parameters; mesh %s; %s at step %d.',
                 config.family, config.model.name, run.info.name, run.info.num_train, run.info.num_eval,
                 f'{n_params:,}', dict(run.mesh.shape), 'resuming' if step else 'starting', step)
  progress = ProgressLine(total, step, enabled=run.is_main)
  visualize = None
  last_host: dict = {}
  stopped_by = None
  t_start = time.perf_counter()
  try:
    with PreemptionWatcher() as watcher:
      pending = None
      while step < total:
        batch = shard_lib.global_batch(next(train_it), run.mesh)
        state, metrics = train_step(state, batch, train_rng)
        step += 1
        if pending is not None:  # check the previous step while this one runs (no pipeline stall)
          last_host = _check_finite(*pending, run)
        pending = (step, metrics)
        if _due(step, config.log_every, total):
          last_host = _check_finite(step, metrics, run)
          pending = None
          writer.write_scalars(step, last_host, prefix='train/')
          progress.update(step, last_host)
        # checkpoint_every=0: no periodic checkpoints, but the final step is always saved
        if _due(step, config.checkpoint_every, total) or step == total:
          if pending is not None:
            last_host = _check_finite(*pending, run)
            pending = None
          run.checkpointer.save(step, state, train_it.get_state(), run.config_dict)
        if eval_step is not None and _due(step, config.eval_every, total):
          results = _evaluate_or_explain(run, state, eval_step, step)
          writer.write_scalars(step, {k: v['value'] for k, v in results.items()}, prefix='eval/')
          if run.is_main:
            logging.info('eval at step %d: %s', step, ', '.join(f'{k} {v["value"]:.4f}' for k, v in results.items()))
        if _due(step, config.sample_every, total) and run.info.kind == 'image' and hasattr(run.family, 'visualize'):
          key = jax.random.fold_in(vis_rng, step)
          if visualize is None:
            visualize = _compile_checked(jax.jit(lambda s, b, r: run.family.visualize(s, b, r, config)),
                                         (state, batch, key), 'the sample grid of config.sample',
                                         'config.sample.num_visualize (or set config.sample_every=0)')
          write_images(run, state, batch, key, step, visualize)
        if step < total and watcher.should_stop(step, run.checkpointer):
          if pending is not None:
            last_host = _check_finite(*pending, run)
          stopped_by = watcher.signal_name
          if run.checkpointer.latest_step() != step:
            run.checkpointer.save(step, state, train_it.get_state(), run.config_dict)
          break
      if pending is not None:
        last_host = _check_finite(*pending, run)
  finally:
    writer.close()
  run.checkpointer.wait()
  elapsed = time.perf_counter() - t_start
  if run.is_main:
    if stopped_by:
      print(f'Stopped by {stopped_by} at step {step}/{total}: checkpoint saved in {run.checkpointer.directory}. '
            f'Run the same command again to resume.', flush=True)
    else:
      print(f'Finished {total} steps in {format_seconds(elapsed)}. Outputs in {run.workdir}: metrics.jsonl, '
            f'tb/ (tensorboard --logdir {run.workdir}), checkpoints/'
            f'{", images/" if os.path.isdir(os.path.join(run.workdir, "images")) else ""}.\n'
            f'Evaluate with --mode=eval (writes eval.json) or draw samples with --mode=sample, giving the same '
            f'--config and --workdir.', flush=True)
  return {'step': step, 'stopped': bool(stopped_by), **last_host}


def restore_for_inference(run: Run) -> Any:
  """The latest checkpoint's state (eval and sample modes)."""
  rng = jax.random.key(run.config.seed)
  example = _example_batch(run)
  state, _, _ = init_or_restore(run, jax.random.split(rng, 4)[0], example)
  return state


def _closing(fn):
  """Runs ``fn(run)`` and then shuts the run's checkpointer down, on every path but a second Ctrl-C."""
  def wrapped(config: Any, workdir: str, mode: str):
    run = setup(config, workdir, mode)
    try:
      out = fn(run)
    except KeyboardInterrupt:
      raise
    except BaseException:
      run.close()
      raise
    run.close()
    return out
  return wrapped


def run_eval(config: Any, workdir: str) -> dict:
  """Evaluates the latest checkpoint on the eval split; writes ``eval.json``."""
  return _closing(_run_eval)(config, workdir, 'eval')


def _run_eval(run: Run) -> dict:
  config = run.config
  state = restore_for_inference(run)
  step = int(jax.device_get(state.step))
  settings = config_eval.eval_settings(config)
  results = {}
  if 'nll' in settings['metrics']:
    eval_step = _compile_checked(jax.jit(run.family.make_eval_step(config)), (state, _eval_example(run),
                                 eval_rng(config)), f'the eval step at config.eval_batch_size={eval_batch_size(config)}',
                                 'config.eval_batch_size')
    results.update(evaluate(run, state, eval_rng(config), eval_step))
  report = {'checkpoint_step': step, 'dataset': run.info.name,
            'split': config.dataset.get('eval_split', 'test'), 'metrics': results}
  if config_eval.sample_metrics(config):
    n = settings['sample_batch_size']
    what, lower = f'sampling at config.eval.sample_batch_size={n}', 'config.eval.sample_batch_size'
    key = sample_quality_rng(config)
    if settings['conditional']:
      labels = jax.numpy.zeros((n,), jax.numpy.int32)
      sample = _compile_checked(jax.jit(lambda s, r, y: run.family.sample(s, r, n, config, labels=y)),
                                (state, key, labels), what, lower)
      sample_fn = lambda r, num, y: shard_lib.to_host(sample(state, r, jax.numpy.asarray(y, jax.numpy.int32)))  # noqa: E731
    else:
      sample = _compile_checked(jax.jit(lambda s, r: run.family.sample(s, r, n, config)), (state, key), what, lower)
      sample_fn = lambda r, num: shard_lib.to_host(sample(state, r))  # noqa: E731
    quality = config_eval.evaluate_sample_quality(config, sample_fn, key)
    report['feature_net'] = quality.pop('feature_net', None)
    report['feature_net_digest'] = quality.pop('feature_net_digest', None)
    results.update(quality)
  if run.is_main:
    with open(run.path('eval.json'), 'w', encoding='utf-8') as f:
      json.dump(report, f, indent=2)
    print(format_results(results))
    print(f'Wrote {run.path("eval.json")} (checkpoint step {step}).', flush=True)
  return report


def run_sample(config: Any, workdir: str) -> str:
  """Draws ``config.sample.num`` samples from the latest checkpoint; writes them with the family's
  ``save_samples`` hook, else a PNG grid (images) or .npy."""
  return _closing(_run_sample)(config, workdir, 'sample')


def _run_sample(run: Run) -> str:
  config = run.config
  state = restore_for_inference(run)
  step = int(jax.device_get(state.step))
  num = int(config.get('sample', {}).get('num', 64))
  rng = jax.random.fold_in(jax.random.key(config.seed), 10_000_019)
  sample_fn = _compile_checked(jax.jit(lambda s, r: run.family.sample(s, r, num, config)), (state, rng),
                               f'drawing config.sample.num={num} samples at once', 'config.sample.num')
  samples = shard_lib.to_host(sample_fn(state, rng))
  if not run.is_main:
    return ''
  if hasattr(run.family, 'save_samples'):  # e.g. token ids decoded to text
    path = run.family.save_samples(samples, run.path(f'samples_{step:07d}'), config)
  elif run.info.kind == 'image':
    path = save_image_grid(samples, run.path(f'samples_{step:07d}.png'), scale=2)
  else:
    path = run.path(f'samples_{step:07d}.npy')
    np.save(path, samples)
  print(f'Wrote {num} samples to {path} (checkpoint step {step}).', flush=True)
  return path
