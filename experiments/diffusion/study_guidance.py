"""Classifier-free guidance: sample quality and class fidelity over guidance scales, one trained run.

  ./launch.sh python experiments/diffusion/study_guidance.py \
      --config=experiments/diffusion/ddpm_mnist5k.py:cfg --workdir=runs/ddpm_cfg --scales=0,1,2,3,5

For every scale w (0 = the unconditional model alone, 1 = the plain conditional model, w > 1 pushes
away from the unconditional prediction: ``eps = eps_null + w (eps_label - eps_null)``) draws ``--num``
samples with balanced labels (0..K-1 cycling) using ``--sampler`` (a spec of
``gen_jax.families.diffusion.sampler_study``, default DDIM-50) and reports, in the project classifier's
feature space against the test split, with the names of ``--mode=eval``: the classifier's accuracy on
the requested class (``conditional_accuracy``), FID, KID, precision / recall and the entropy of the
mean class prediction, plus timing. Writes ``guidance.png`` (one row of samples per scale, one column
per class), ``guidance_curve.png`` (FID and accuracy against w) and ``study_guidance.json`` to the workdir.
"""
import os

import numpy as np
from absl import app, flags
from ml_collections import config_flags

from gen_jax import studies
from gen_jax.core.config import config_to_dict
from gen_jax.core.images import save_image_grid
from gen_jax.families.diffusion import sampler_study

COLUMNS = ('guidance_scale', 'conditional_accuracy', 'fid', 'kid', 'kid_stderr', 'precision', 'recall',
           'class_entropy', 'nfe', 's_per_batch', 'samples_per_s')


def scale_spec(sampler: str, w: float) -> str:
  """``'ddim:50'``, 2.0 -> ``'ddim:50:guidance_scale=2.0'``."""
  return f'{sampler}:guidance_scale={float(w)!r}'


def run_guidance_study(config, state, data, scales, sampler: str, num: int, batch: int):
  """(rows, {w: samples}) for every guidance scale in ``scales``."""
  samples = {}
  rows = sampler_study.run_study(config, state, data, [scale_spec(sampler, w) for w in scales], num, batch=batch,
                                 on_samples=lambda spec, x: samples.__setitem__(spec, x))
  for w, row in zip(scales, rows):
    row['guidance_scale'] = float(w)
  return rows, {float(w): samples[scale_spec(sampler, w)] for w in scales}


def save_figures(rows, samples, num_classes: int, out_dir: str) -> None:
  # labels cycle 0..K-1 within every sampler call, so the first K samples are one of each class
  grid = [samples[w][:num_classes] for w in sorted(samples)]
  save_image_grid(np.clip((np.concatenate(grid) + 1.0) / 2.0, 0.0, 1.0), os.path.join(out_dir, 'guidance.png'),
                  ncols=num_classes, scale=3)
  ws = [r['guidance_scale'] for r in rows]
  fig, ax = studies.pyplot().subplots(figsize=(5, 3.4))
  ax.plot(ws, [r['fid'] for r in rows], 'o-', color='C0')
  ax.set_xlabel('guidance scale w')
  ax.set_ylabel('FID (classifier features)', color='C0')
  ax2 = ax.twinx()
  ax2.plot(ws, [100 * r['conditional_accuracy'] for r in rows], 's--', color='C3')
  ax2.set_ylabel('accuracy of requested class (%)', color='C3')
  ax.set_title('classifier-free guidance')
  studies.save_figure(fig, os.path.join(out_dir, 'guidance_curve.png'), dpi=120)


def main(argv):
  del argv
  config = FLAGS.config
  k = int(config.model.get('num_classes', 0) or 0)
  if not k or float(config.diffusion.get('label_dropout', 0.0)) <= 0:
    raise SystemExit('study_guidance needs a class-conditional model trained with null labels, e.g. '
                     'experiments/diffusion/ddpm_mnist5k.py:cfg.')
  workdir = FLAGS.workdir
  _, state = studies.trained_state(config, workdir, FLAGS.train)
  data = studies.load_split(config)['image']
  scales = [float(w) for w in FLAGS.scales]
  rows, samples = run_guidance_study(config, state, data, scales, FLAGS.sampler, FLAGS.num, FLAGS.batch)
  print(studies.markdown([{c: r[c] for c in COLUMNS} for r in rows]))
  save_figures(rows, samples, k, workdir)
  studies.save_json(os.path.join(workdir, 'study_guidance.json'), {
      'config': config_to_dict(config), 'device': studies.device_kind(),
      'checkpoint_step': int(np.asarray(state.step)), 'sampler': FLAGS.sampler, 'num': FLAGS.num, 'rows': rows})
  print(f'Wrote {workdir}/guidance.png, guidance_curve.png and study_guidance.json.')


if __name__ == '__main__':
  config_flags.DEFINE_config_file('config', os.path.join(os.path.dirname(__file__), 'ddpm_mnist5k.py'),
                                  'A class-conditional experiment config[:variants] (e.g. ddpm_mnist5k.py:cfg).',
                                  lock_config=False)
  flags.DEFINE_string('workdir', 'runs/ddpm_cfg', 'A trained run of that config.')
  flags.DEFINE_list('scales', ['0', '1', '2', '3', '5'], 'Guidance scales.')
  flags.DEFINE_string('sampler', 'ddim:50', 'Sampler spec (see gen_jax/families/diffusion/sampler_study.py).')
  flags.DEFINE_integer('num', 1000, 'Samples per scale.')
  flags.DEFINE_integer('batch', 500, 'Samples per compiled sampler call.')
  flags.DEFINE_bool('train', False, 'Train the run first when the workdir has no checkpoint.')
  FLAGS = flags.FLAGS
  app.run(main)
