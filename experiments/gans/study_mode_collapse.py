"""Mode collapse on the toy2d Gaussian mixtures: every loss x {plain, minibatch std, spectral norm, R1,
PacGAN}, several seeds each.

  ./launch.sh python experiments/gans/study_mode_collapse.py --workdir=runs/gan_mode_collapse
  ./launch.sh python experiments/gans/study_mode_collapse.py --tiny      # seconds: a smoke test

The MLP GAN of ``experiments/gans/mlp_gan.py`` (3 x 128 units, z of 16, batch 256, Adam(1e-3, 0.5,
0.999)) trained for ``--steps`` generator updates on ``toy2d/8gaussians`` (a ring of 8 modes, std 0.02)
and ``toy2d/25gaussians`` (a 5x5 grid, std 0.05), ``--seeds`` seeds per cell, all seeds of a cell in
one vmapped run (``gen_jax/families/gans/seeds.py``). Per run, from 2,500 samples (PacGAN's protocol,
``gen_jax.eval.mode_coverage``): ``modes_hit`` (modes with at least 1/5 of a uniform model's share of
high-quality samples), ``high_quality`` (share of samples within 3 std of a mode), ``true_nll`` (nats
under the true density), and whether the run diverged (a non-finite loss). Writes
``mode_collapse.json`` (every run, and the mean over seeds per cell), ``mode_collapse.md`` and
``mode_collapse_<density>.png`` (scatter plots of the first seed of every cell).
"""
import os
import time

import numpy as np
from absl import app, flags

from gen_jax import studies
from gen_jax.core.config import load_experiment
from gen_jax.families.gans import seeds as seeds_lib

EXPERIMENT = 'experiments/gans/mlp_gan.py'
DENSITIES = ('8gaussians', '25gaussians')
LOSSES = ('minimax', 'nonsaturating', 'lsgan', 'hinge', 'wgan_gp')
REGULARISERS = ('plain', 'mbstd', 'sn', 'r1', 'pac')
NUM_SAMPLES = 2500



def cell_config(density: str, loss: str, regulariser: str, tiny: bool, steps: int):
  variants = [density, loss] + ([] if regulariser == 'plain' else [regulariser]) + (['tiny'] if tiny else [])
  c = load_experiment(EXPERIMENT, ','.join(variants))
  if steps:
    c.num_train_steps = steps
  return c


def run(workdir: str, tiny: bool = False, steps: int = 0, num_seeds: int = 3, densities=DENSITIES, losses=LOSSES,
        regularisers=REGULARISERS) -> dict:
  """Trains every cell, scores it, writes the JSON, table and figures; returns the JSON's content."""
  plt = studies.pyplot()
  seeds = list(range(num_seeds))
  t_start = time.perf_counter()
  rows, runs = [], []
  for density in densities:
    c0 = cell_config(density, 'nonsaturating', 'plain', tiny, steps)
    data = studies.load_split(c0, 'train')
    test = studies.load_split(c0, 'test')['x']
    fig, axes = plt.subplots(len(losses), len(regularisers), figsize=(2.2 * len(regularisers), 2.2 * len(losses)),
                             squeeze=False)
    for i, loss in enumerate(losses):
      for j, reg in enumerate(regularisers):
        c = cell_config(density, loss, reg, tiny, steps)
        t0 = time.perf_counter()
        states, info = seeds_lib.train_seeds(c, data, seeds, c.num_train_steps, chunk=min(250, c.num_train_steps))
        samples = seeds_lib.sample_seeds(states, c, NUM_SAMPLES)
        wall = time.perf_counter() - t0
        cell = []
        for s in seeds:
          x = samples[s]
          finite = bool(np.isfinite(x).all()) and not info['diverged'][s]
          q = studies.point_quality(x, test, c.dataset.name) if finite else {}
          r = {'density': density, 'loss': loss, 'regulariser': reg, 'seed': s, 'diverged': not finite,
               'modes_hit': q.get('modes_hit', 0), 'num_modes': q.get('num_modes'),
               'high_quality': q.get('high_quality', 0.0), 'true_nll': q.get('true_nll'),
               'kid_raw': q.get('kid_raw')}
          runs.append(r)
          cell.append(r)
        ok = [r for r in cell if not r['diverged']]
        rows.append({'density': density, 'loss': loss, 'regulariser': reg, 'seeds': len(seeds),
                     'modes_hit': float(np.mean([r['modes_hit'] for r in cell])),
                     'modes_hit_min': int(min(r['modes_hit'] for r in cell)),
                     'high_quality': float(np.mean([r['high_quality'] for r in cell])),
                     'true_nll': float(np.mean([r['true_nll'] for r in ok])) if ok else None,
                     'diverged': sum(r['diverged'] for r in cell), 'steps': c.num_train_steps,
                     'wall_s': round(wall, 1)})
        ax = axes[i, j]
        ax.scatter(test[:NUM_SAMPLES, 0], test[:NUM_SAMPLES, 1], s=1, c='0.8')
        if np.isfinite(samples[0]).all():
          ax.scatter(samples[0][:, 0], samples[0][:, 1], s=1, c='C3')
        lim = 3.0 if density == '8gaussians' else 5.5
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_xticks([])
        ax.set_yticks([])
        r0 = cell[0]
        ax.set_title(f'{loss}/{reg}: {r0["modes_hit"]} modes', fontsize=7)
        print(f'{density:12s} {loss:14s} {reg:6s} modes {rows[-1]["modes_hit"]:5.1f} (min {rows[-1]["modes_hit_min"]}) '
              f'hq {rows[-1]["high_quality"]:.3f} diverged {rows[-1]["diverged"]}/{len(seeds)} {wall:.0f}s', flush=True)
    studies.save_figure(fig, os.path.join(workdir, f'mode_collapse_{density}.png'), dpi=90)
  result = {'experiment': EXPERIMENT, 'num_samples': NUM_SAMPLES, 'seeds': seeds, 'device': studies.device_kind(),
            'densities': list(densities), 'steps': rows[0]['steps'] if rows else steps,
            'wall_s': round(time.perf_counter() - t_start, 1), 'table': rows, 'runs': runs}
  studies.save_json(os.path.join(workdir, 'mode_collapse.json'), result)
  with open(os.path.join(workdir, 'mode_collapse.md'), 'w', encoding='utf-8') as f:
    f.write(studies.markdown(rows) + '\n')
  return result


def main(argv):
  del argv
  run(FLAGS.workdir, FLAGS.tiny, FLAGS.steps, 1 if FLAGS.tiny else FLAGS.seeds, densities=FLAGS.densities,
      regularisers=REGULARISERS[:2] if FLAGS.tiny else REGULARISERS,
      losses=LOSSES[:2] if FLAGS.tiny else LOSSES)


if __name__ == '__main__':
  FLAGS = flags.FLAGS
  studies.define_flags('runs/gan_mode_collapse')
  flags.DEFINE_integer('seeds', 3, 'seeds per (density, loss, regulariser) cell')
  flags.DEFINE_list('densities', list(DENSITIES), 'toy2d densities: ' + ', '.join(DENSITIES))
  app.run(main)
