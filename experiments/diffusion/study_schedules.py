"""Noise schedules, parameterizations and losses compared on one experiment: train each variant, then
report the eval loss, the variational bound (bits/dim) and sample quality.

  ./launch.sh python experiments/diffusion/study_schedules.py \
      --config=experiments/diffusion/ddpm_toy2d.py:8gaussians --workdir=runs/study_schedules_8g
  ./launch.sh python experiments/diffusion/study_schedules.py --config=experiments/diffusion/ddpm_mnist5k.py \
      --workdir=runs/study_schedules_mnist --variants=linear,cosine,sigmoid,v,hybrid --num=500

Each variant is ``<config's variant>,<variant>`` trained for ``--steps`` in ``<workdir>/<variant>`` (resumed
if present; a run trained elsewhere with ``--config.num_train_steps=<steps>`` can be placed there),
evaluated on the eval split exactly as ``--mode=eval`` evaluates it (``gen_jax.studies.evaluate_model``:
mean and standard error, the same key) and sampled with ``--sampler`` (a spec of
``gen_jax.families.diffusion.sampler_study``). Writes ``<workdir>/study_schedules.json`` and prints a
markdown table.
"""
import os

import numpy as np
from absl import app, flags

from gen_jax import studies
from gen_jax.core.config import load_experiment
from gen_jax.families.diffusion import sampler_study

DEFAULT_VARIANTS = ('linear', 'cosine', 'sigmoid', 'v', 'minsnr', 'hybrid')


def study_variant(path: str, base_variant: str, variant: str, workdir: str, sampler: str, num: int,
                  steps: int = 0, sample_batch: int = 0) -> dict:
  """Trains (or resumes) ``path:base_variant,variant`` in ``workdir``; returns its row of the table."""
  config = load_experiment(path, ','.join(v for v in (base_variant, variant) if v) or None)
  if steps:
    config.num_train_steps = int(steps)
  _, state = studies.trained_state(config, workdir)
  results = studies.evaluate_model(config, workdir, state)
  held_out = studies.load_split(config, num=max(num, 1000))
  sample_row = sampler_study.run_study(config, state, held_out[studies.data_key(held_out)], [sampler], num,
                                       batch=sample_batch)[0]
  row = {'variant': variant or 'default', 'steps': int(np.asarray(state.step))}
  row.update(studies.flat({k: results[k] for k in ('loss', 'bits_per_dim') if k in results}, digits=4))
  row.update({k: v for k, v in sample_row.items() if k not in ('spec', 'compile_s')})
  return row


def main(argv):
  del argv
  path, _, base = FLAGS.config.partition(':')
  rows = [study_variant(path, base, v, os.path.join(FLAGS.workdir, v), FLAGS.sampler, FLAGS.num, FLAGS.steps,
                        FLAGS.batch) for v in FLAGS.variants]
  print(studies.markdown(rows))
  out = studies.save_json(os.path.join(FLAGS.workdir, 'study_schedules.json'),
                          {'config': FLAGS.config, 'sampler': FLAGS.sampler, 'num': FLAGS.num, 'rows': rows})
  print(f'Wrote {out}.')


if __name__ == '__main__':
  flags.DEFINE_string('config', 'experiments/diffusion/ddpm_toy2d.py:8gaussians', 'Experiment file[:variants].')
  flags.DEFINE_string('workdir', 'runs/study_schedules', 'One sub-directory per variant.')
  flags.DEFINE_list('variants', list(DEFAULT_VARIANTS), 'Variants of the experiment to compare.')
  flags.DEFINE_string('sampler', 'ddim:50', 'Sampler spec (see gen_jax/families/diffusion/sampler_study.py).')
  flags.DEFINE_integer('num', 1000, 'Samples per variant.')
  flags.DEFINE_integer('batch', 500, 'Samples per compiled sampler call.')
  flags.DEFINE_integer('steps', 0, 'Training steps of every variant (the equal budget; 0: the config\'s).')
  FLAGS = flags.FLAGS
  app.run(main)
