"""The pixel GPT on mnist5k: exact test bits/dim on the 8-bit scale next to the other families' numbers on the
same 1,000 test digits, samples, and completions of half-images.

Uses (trains or resumes to the end, then restores) the run of ``pixel_gpt_mnist5k.py`` in ``--run``
(``runs/transformers/pixel_gpt``, the run the docs' command trains). The other families' bits/dim are read from
their committed eval JSONs in ``docs/results/`` (``--mode=eval`` of those runs), never typed in.

  ./launch.sh python experiments/transformers/study_pixel_gpt.py --workdir=runs/transformers/study_pixel [--tiny]
Writes pixel_gpt.json, pixel_gpt_samples.png (64 samples, temperature 1) and pixel_gpt_completions.png (test
digits: top half given, bottom half drawn 3 times; first column the original).
"""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from gen_jax import studies
from gen_jax.core.images import save_image_grid
from gen_jax.families import transformers as fam

CONFIG = 'experiments/transformers/pixel_gpt_mnist5k.py'
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Other families' test bits/dim on the same digits and 8-bit scale: (row, committed eval JSON).
OTHERS = (('diffusion: DDPM, linear schedule, VLB (T=1000, 50-term estimate)', 'diffusion_mnist5k_schedules_linear_eval.json'),
          ('diffusion: VP SDE, probability-flow ODE', 'diffusion_mnist5k_sde_vp_eval.json'),
          ('diffusion: VE SDE, probability-flow ODE', 'diffusion_mnist5k_sde_ve_eval.json'))


def other_families() -> list[dict]:
  rows = []
  for name, f in OTHERS:
    path = os.path.join(ROOT, 'docs', 'results', f)
    if os.path.isfile(path):
      with open(path, encoding='utf-8') as fh:
        m = json.load(fh)['metrics']['bits_per_dim']
      rows.append({'model': name, 'bits_per_dim': round(m['value'], 4), 'stderr': round(m['stderr'], 4),
                   'num_samples': m['num_samples'], 'source': f'docs/results/{f}'})
  return rows


def run(workdir: str, tiny: bool = False, run_dir: str = 'runs/transformers/pixel_gpt', num_samples: int = 64) -> dict:
  config = studies.load_spec(CONFIG + (':tiny' if tiny else ''))
  run_dir = os.path.join(workdir, 'models', 'pixel_gpt_tiny') if tiny else run_dir
  _, state = studies.trained_state(config, run_dir)
  metrics = studies.evaluate_model(config, run_dir, state)
  n = 4 if tiny else num_samples
  sample = jax.jit(lambda s, r: fam.sample(s, r, n, config))
  samples = np.asarray(sample(state, jax.random.key(1)))
  save_image_grid(samples, os.path.join(workdir, 'pixel_gpt_samples.png'), ncols=8 if n >= 8 else None, scale=2)
  test = studies.load_split(config, num=4 if tiny else 8)['image']
  h, w, c = test.shape[1:]
  keep = (h // 2) * w * c
  complete = jax.jit(lambda s, r, x: fam.sampling.complete_images(s, r, x, keep, config))
  draws = [np.asarray(complete(state, jax.random.key(10 + i), jnp.asarray(test))) for i in range(3)]
  grid = np.stack([test] + draws, 1).reshape((-1,) + test.shape[1:])     # rows: original, 3 completions
  save_image_grid(grid, os.path.join(workdir, 'pixel_gpt_completions.png'), ncols=4, scale=2)
  top_kept = all(np.allclose(d.reshape(len(d), -1)[:, :keep], test.reshape(len(test), -1)[:, :keep], atol=1 / 255)
                 for d in draws)
  n_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(state.params))
  ours = {'model': f'transformers: pixel GPT ({config.model.num_layers} layers, width {config.model.width}, '
                   f'{n_params:,} parameters), exact', 'bits_per_dim': round(metrics['bits_per_dim']['value'], 4),
          'stderr': round(metrics['bits_per_dim']['stderr'], 4), 'num_samples': metrics['bits_per_dim']['num_samples'],
          'source': 'this study'}
  results = {'device': studies.device_kind(), 'run': run_dir, 'steps': int(state.step), 'parameters': n_params,
             'test': studies.flat(metrics, 4), 'table': [ours] + ([] if tiny else other_families()),
             'completions_keep_given_pixels': bool(top_kept), 'num_samples': n}
  studies.save_json(os.path.join(workdir, 'pixel_gpt.json'), results)
  return results


def main(argv):
  del argv
  out = run(FLAGS.workdir, FLAGS.tiny, FLAGS.run)
  print(studies.markdown(out['table']))
  print(f'Wrote {os.path.join(FLAGS.workdir, "pixel_gpt.json")}, pixel_gpt_samples.png, pixel_gpt_completions.png.')


if __name__ == '__main__':
  FLAGS = flags.FLAGS
  flags.DEFINE_string('workdir', 'runs/transformers/study_pixel', 'output directory')
  flags.DEFINE_bool('tiny', False, 'seconds-long smoke test of the same code')
  flags.DEFINE_string('run', 'runs/transformers/pixel_gpt', 'the pixel_gpt_mnist5k.py run (trained if absent)')
  app.run(main)
