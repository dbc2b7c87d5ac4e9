"""Noise schedules, parameterizations and losses compared on one experiment: train each variant, then
report the eval loss, the variational bound (bits/dim) and sample quality.

  .venv/bin/python experiments/diffusion/study_schedules.py \
      --config=experiments/diffusion/ddpm_toy2d.py:8gaussians --workdir=runs/study_schedules_8g
  .venv/bin/python experiments/diffusion/study_schedules.py --config=experiments/diffusion/ddpm_mnist5k.py \
      --workdir=runs/study_schedules_mnist --variants=linear,cosine,sigmoid,v,hybrid --num=500

Each variant is ``<config's variant>,<variant>`` trained for ``--steps`` in ``<workdir>/<variant>`` (resumed
if present; a run trained elsewhere with ``--config.num_train_steps=<steps>`` can be placed there),
evaluated on the eval split (mean and standard error) and sampled with ``--sampler`` (a spec of
study_samplers.py). Writes ``<workdir>/study_schedules.json`` and prints a markdown table.
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

DEFAULT_VARIANTS = ('linear', 'cosine', 'sigmoid', 'v', 'minsnr', 'hybrid')


def _sibling(name: str, path: str | None = None):
  """Imports a script or config file by path (default: ``<this directory>/<name>.py``)."""
  import importlib.util
  path = path or os.path.join(os.path.dirname(os.path.abspath(__file__)), name + '.py')
  if not os.path.isabs(path) and not os.path.isfile(path):
    path = os.path.join(ROOT, path)
  spec = importlib.util.spec_from_file_location(f'_study_{name}', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def study_variant(path: str, base_variant: str, variant: str, workdir: str, sampler: str, num: int,
                  overrides: dict | None = None, sample_batch: int = 0) -> dict:
  """Trains (or resumes) ``path:base_variant,variant`` in ``workdir``; returns its row of the table."""
  import jax
  import numpy as np
  from gen_jax import data as data_lib
  from gen_jax import train
  study_samplers = _sibling('study_samplers')
  config = _sibling(os.path.splitext(os.path.basename(path))[0], path).get_config(
      ','.join(v for v in (base_variant, variant) if v))
  for k, v in (overrides or {}).items():
    node = config
    *parents, last = k.split('.')
    for p in parents:
      node = node[p]
    node[last] = v
  train.train_and_evaluate(config, workdir)
  run = train.setup(config, workdir, 'eval')
  state = train.restore_for_inference(run)
  results = train.evaluate(run, state, jax.random.key(config.seed))
  data = []
  for batch in data_lib.make_eval_iterator(config):
    key = 'image' if 'image' in batch else 'x'
    data.append(np.asarray(batch[key])[np.asarray(batch['mask']) > 0])
    if sum(len(d) for d in data) >= max(num, 1000):
      break
  sample_row = study_samplers.run_study(config, state, np.concatenate(data), [sampler], num, batch=sample_batch)[0]
  row = {'variant': variant or 'default', 'steps': int(np.asarray(state.step))}
  for k in ('loss', 'bits_per_dim'):
    if k in results:
      row[k] = round(results[k]['value'], 4)
      row[k + '_se'] = round(results[k]['stderr'], 4)
  row.update({k: v for k, v in sample_row.items() if k not in ('spec', 'compile_s')})
  return row


def main(argv):
  del argv
  from gen_jax import families
  if 'diffusion' not in families.FAMILIES:  # until the family is registered
    families.FAMILIES = families.FAMILIES + ('diffusion',)
  path, _, base = FLAGS.config.partition(':')
  overrides = {'num_train_steps': FLAGS.steps} if FLAGS.steps else {}
  rows = [study_variant(path, base, v, os.path.join(FLAGS.workdir, v), FLAGS.sampler, FLAGS.num, overrides,
                        FLAGS.batch) for v in FLAGS.variants]
  print(_sibling('study_samplers').markdown(rows))
  os.makedirs(FLAGS.workdir, exist_ok=True)
  with open(os.path.join(FLAGS.workdir, 'study_schedules.json'), 'w', encoding='utf-8') as f:
    json.dump({'config': FLAGS.config, 'sampler': FLAGS.sampler, 'num': FLAGS.num, 'rows': rows}, f, indent=2)
  print(f'Wrote {os.path.join(FLAGS.workdir, "study_schedules.json")}.')


if __name__ == '__main__':
  from absl import app, flags
  flags.DEFINE_string('config', 'experiments/diffusion/ddpm_toy2d.py:8gaussians', 'Experiment file[:variants].')
  flags.DEFINE_string('workdir', 'runs/study_schedules', 'One sub-directory per variant.')
  flags.DEFINE_list('variants', list(DEFAULT_VARIANTS), 'Variants of the experiment to compare.')
  flags.DEFINE_string('sampler', 'ddim:50', 'Sampler spec for the quality columns (see study_samplers.py).')
  flags.DEFINE_integer('num', 1000, 'Samples per variant.')
  flags.DEFINE_integer('batch', 500, 'Samples per compiled sampler call.')
  flags.DEFINE_integer('steps', 0, 'Training steps of every variant (the equal budget; 0: the config\'s).')
  FLAGS = flags.FLAGS
  app.run(main)
