"""Hyperparameter sensitivity of DCGAN on mnist5k: FID and divergence over a grid of learning rates, Adam
beta1 and discriminator updates per generator update.

  ./launch.sh python experiments/gans/study_sensitivity.py --workdir=runs/gan_sensitivity --models_dir=runs/gan_models
  ./launch.sh python experiments/gans/study_sensitivity.py --variant=nearest --steps=300   # the faster CPU generator
  ./launch.sh python experiments/gans/study_sensitivity.py --tiny      # seconds: a smoke test

Every cell is ``experiments/gans/dcgan.py`` (with the variants of ``--variant``, e.g. ``nearest``: the
upsample + convolution generator, 2.25x faster on XLA:CPU) with the same learning rate for both
players (``--lrs``), Adam's beta1 (``--beta1s``; beta2 stays 0.999) and ``n_critic`` (``--critics``: discriminator
updates per generator update, each on its own batch of 64, so the batch grows with it), trained for
``--steps`` generator updates (default 1,000) and scored from 1,000 samples as ``--mode=eval`` does
(FID / precision / recall in the project classifier's feature space). A run whose loss becomes
non-finite counts as diverged (the loop stops it). Writes ``sensitivity.json``, ``sensitivity.md`` and
``sensitivity.png`` (FID heat maps, one per n_critic, diverged cells marked).
"""
import os

import numpy as np
from absl import app, flags

from gen_jax import studies
from gen_jax.core.config import load_experiment
from gen_jax.core.errors import NonFiniteLossError
from gen_jax.core.images import save_image_grid
from gen_jax.families.gans.sampling import sample_many

EXPERIMENT = 'experiments/gans/dcgan.py'



def cell_config(lr: float, beta1: float, n_critic: int, tiny: bool, steps: int, variant: str = ''):
  c = load_experiment(EXPERIMENT, ','.join(v for v in (variant, 'tiny' if tiny else '') if v) or None)
  for o in (c.optim, c.optim_d):
    o.lr, o.b1 = lr, beta1
  c.gan.n_critic = n_critic
  c.batch_size *= n_critic
  return studies.study_config(c, tiny, steps or (0 if tiny else 1000))


def run(workdir: str, lrs=(5e-5, 2e-4, 8e-4), beta1s=(0.0, 0.5, 0.9), critics=(1, 2), models_dir: str = '',
        tiny: bool = False, steps: int = 0, variant: str = '') -> dict:
  models_dir = models_dir or os.path.join(workdir, 'models')
  num = 100 if tiny else 1000
  rows = []
  for n_critic in critics:
    for beta1 in beta1s:
      for lr in lrs:
        c = cell_config(lr, beta1, n_critic, tiny, steps, variant)
        w = studies.model_dir(models_dir, 'dcgan', c)
        row = {'lr': lr, 'beta1': beta1, 'n_critic': n_critic, 'steps': c.num_train_steps, 'batch': c.batch_size}
        try:
          state, info = studies.train_model(c, w)
        except NonFiniteLossError as e:
          rows.append({**row, 'diverged': True, 'error': str(e).split(';')[0]})
          print(f'lr {lr:g} beta1 {beta1} n_critic {n_critic}: diverged', flush=True)
          continue
        samples = sample_many(state, c, num)
        q = studies.flat(studies.sample_quality(c, samples), 4)
        ok = bool(np.isfinite(samples).all())
        rows.append({**row, 'diverged': not ok, 'train_wall_s': info['train_wall_s'],
                     **{k: q.get(k) for k in ('fid', 'kid', 'precision', 'recall')}})
        save_image_grid(np.clip((samples[:64] + 1) / 2, 0, 1),
                        os.path.join(workdir, f'samples_lr{lr:g}_b{beta1:g}_c{n_critic}.png'), scale=1)
        print(f'lr {lr:g} beta1 {beta1} n_critic {n_critic}: FID {rows[-1]["fid"]} P {rows[-1]["precision"]} '
              f'R {rows[-1]["recall"]} ({info["train_wall_s"]} s)', flush=True)
  plt = studies.pyplot()
  fig, axes = plt.subplots(1, len(critics), figsize=(4.2 * len(critics), 3.6), squeeze=False)
  for ax, n_critic in zip(axes[0], critics):
    grid = np.full((len(beta1s), len(lrs)), np.nan)
    for r in rows:
      if r['n_critic'] == n_critic and not r['diverged']:
        grid[beta1s.index(r['beta1']), lrs.index(r['lr'])] = r['fid']
    im = ax.imshow(grid, cmap='viridis_r')
    for i in range(len(beta1s)):
      for j in range(len(lrs)):
        ax.text(j, i, 'div.' if np.isnan(grid[i, j]) else f'{grid[i, j]:.0f}', ha='center', va='center',
                color='w' if np.isnan(grid[i, j]) or grid[i, j] > np.nanmedian(grid) else 'k', fontsize=9)
    ax.set_xticks(range(len(lrs)), [f'{v:g}' for v in lrs])
    ax.set_yticks(range(len(beta1s)), [f'{v:g}' for v in beta1s])
    ax.set_xlabel('learning rate')
    ax.set_ylabel('Adam beta1')
    ax.set_title(f'FID, n_critic = {n_critic}', fontsize=10)
    fig.colorbar(im, ax=ax, shrink=0.8)
  studies.save_figure(fig, os.path.join(workdir, 'sensitivity.png'), dpi=90)
  result = {'experiment': EXPERIMENT + (f':{variant}' if variant else ''), 'num_samples': num,
            'device': studies.device_kind(), 'table': rows}
  studies.save_json(os.path.join(workdir, 'sensitivity.json'), result)
  with open(os.path.join(workdir, 'sensitivity.md'), 'w', encoding='utf-8') as f:
    f.write(studies.markdown(rows) + '\n')
  return result


def main(argv):
  del argv
  run(FLAGS.workdir, [float(v) for v in FLAGS.lrs], [float(v) for v in FLAGS.beta1s], [int(v) for v in FLAGS.critics],
      FLAGS.models_dir, FLAGS.tiny, FLAGS.steps, FLAGS.variant)


if __name__ == '__main__':
  FLAGS = flags.FLAGS
  studies.define_flags('runs/gan_sensitivity')
  flags.DEFINE_list('lrs', ['5e-5', '2e-4', '8e-4'], 'learning rates (both players)')
  flags.DEFINE_list('beta1s', ['0.0', '0.5', '0.9'], "Adam's beta1 (both players)")
  flags.DEFINE_list('critics', ['1', '2'], 'discriminator updates per generator update')
  flags.DEFINE_string('variant', '', 'variants of experiments/gans/dcgan.py for every cell, e.g. nearest')
  app.run(main)
