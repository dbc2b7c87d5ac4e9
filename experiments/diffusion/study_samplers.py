"""Sampling speed vs quality of the diffusion samplers on one trained run.

  ./launch.sh python experiments/diffusion/study_samplers.py \
      --config=experiments/diffusion/ddpm_toy2d.py:8gaussians --workdir=runs/ddpm_toy2d_8g
  ./launch.sh python experiments/diffusion/study_samplers.py --config=experiments/diffusion/ddpm_mnist5k.py \
      --workdir=runs/ddpm_mnist5k --specs=ddpm,ddim:10,ddim:50,ddim:50:eta=1 --num=500

Trains the run first when its workdir has no checkpoint (``--train``). Then, for every sampler spec
(``gen_jax.families.diffusion.sampler_study``: ``name[:steps][:key=value...]``, e.g. ``ddim:25:eta=0.5``,
``pc:200:snr=0.1``, ``ode:rtol=1e-3``), draws ``--num`` samples from the EMA parameters in compiled
calls of ``--batch`` samples and reports: compile time (s), seconds per batch and samples/s, network
evaluations per sample (NFE), and quality. For datasets with a project classifier (mnist5k, digits):
FID, KID, precision / recall, class entropy (and ``conditional_accuracy`` for a conditional model) in
its feature space, as ``--mode=eval`` computes them. For every dataset: KID on raw values
(``kid_raw``), the error of the per-dimension mean / std, and mode coverage for the Gaussian-mixture
toys. Writes ``<workdir>/study_samplers.json`` and prints a markdown table.
"""
import os

from absl import app, flags
from ml_collections import config_flags

from gen_jax import studies
from gen_jax.core.config import config_to_dict
from gen_jax.families.diffusion import sampler_study


def main(argv):
  del argv
  config, workdir = FLAGS.config, FLAGS.workdir
  _, state = studies.trained_state(config, workdir, FLAGS.train)
  held_out = studies.load_split(config, num=max(FLAGS.num, 1000))
  specs = FLAGS.specs or list(sampler_study.DISCRETE_SPECS if config.diffusion.formulation == 'discrete'
                              else sampler_study.SDE_SPECS)
  rows = sampler_study.run_study(config, state, held_out[studies.data_key(held_out)], specs, FLAGS.num,
                                 batch=FLAGS.batch)
  print(studies.markdown(rows))
  path = studies.save_json(os.path.join(workdir, 'study_samplers.json'), {
      'config': config_to_dict(config), 'device': studies.device_kind(), 'num': FLAGS.num, 'rows': rows})
  print(f'Wrote {path}.')


if __name__ == '__main__':
  config_flags.DEFINE_config_file('config', 'experiments/diffusion/ddpm_toy2d.py', 'Experiment config[:variant].',
                                  lock_config=False)
  flags.DEFINE_string('workdir', 'runs/study_samplers', 'A trained run of that config (trained here if empty).')
  flags.DEFINE_list('specs', [], 'Sampler specs (default: all for the formulation).')
  flags.DEFINE_integer('num', 1000, 'Samples per sampler.')
  flags.DEFINE_integer('batch', 500, 'Samples per sampler call (the timed unit; 0: all --num at once).')
  flags.DEFINE_bool('train', True, 'Train the run first when the workdir has no checkpoint.')
  FLAGS = flags.FLAGS
  app.run(main)
