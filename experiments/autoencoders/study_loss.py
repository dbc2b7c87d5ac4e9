"""Study 7 -- loss choice: cross-entropy (Bernoulli) vs squared-error (Gaussian) decoders on the same data.

Trains three VAEs on the same dequantized grey-level digits, differing only in the decoder:
``vae_mnist5k.py:mlp,grey`` (cross-entropy), ``:mlp,gaussian`` (MSE: a Gaussian with fixed std 0.1)
and ``:mlp,learned`` (a Gaussian with a learned per-pixel std). Compared on the 1,000 test digits by
reconstruction quality (per-pixel MSE, PSNR and BCE of the decoder mean at the posterior mean),
by active units, and by their samples (a grid each, plus the mean absolute difference between
neighbouring pixels as a sharpness number, next to that of the test digits). The negative ELBO is
reported too, but only the two Gaussian decoders define a density of this data (cross-entropy on
grey levels is not a normalised likelihood), so only theirs are comparable as bits/dim.

  ./launch.sh python experiments/autoencoders/study_loss.py --workdir=runs/ae_loss [--tiny] [--steps=N]
      [--models_dir=runs/ae_models]
Writes loss.json and loss.png.
"""
import os

import jax
import numpy as np
from absl import app, flags

from gen_jax import studies
from gen_jax.core.images import make_grid
from gen_jax.families import autoencoders as ae

CONFIG = 'experiments/autoencoders/vae_mnist5k.py'
DECODERS = {'cross_entropy': 'mlp,grey', 'mse_fixed_std': 'mlp,gaussian', 'gaussian_learned_std': 'mlp,learned'}


def sharpness(images: np.ndarray) -> float:
  """Mean absolute difference between horizontally and vertically adjacent pixels (data units)."""
  x = np.clip(np.asarray(images, np.float64), 0, 1)
  return float((np.abs(np.diff(x, axis=1)).mean() + np.abs(np.diff(x, axis=2)).mean()) / 2)


def run(workdir: str, tiny: bool = False, steps: int = 0, models_dir: str = '') -> dict:
  """Trains the decoders' VAEs; writes the comparison and the sample/reconstruction grids; returns it."""
  decoders = dict(list(DECODERS.items())[:2]) if tiny else DECODERS
  results, grids = {'models': {}}, {}
  test = None
  for name, variant in decoders.items():
    config, state, info = studies.study_model(CONFIG, variant, models_dir or os.path.join(workdir, 'models'),
                                               tiny, steps)
    test = test if test is not None else studies.load_split(config)
    metrics = studies.evaluate_model(config, info['workdir'], state)
    samples = np.asarray(jax.jit(lambda s, r, c=config: ae.sample(s, r, 500, c))(state, jax.random.key(0)))
    recon = np.asarray(jax.jit(lambda s, x, c=config: ae.reconstruct(s, x, c))(state, test['image'][:16]))
    means = studies.map_batches(jax.jit(lambda x, s=state, c=config: ae.posterior_means(s, x, c)), test['image'])
    results['models'][name] = {**info, 'likelihood': config.model.likelihood,
                               'learn_scale': bool(config.model.learn_scale),
                               'test': studies.metric_values(metrics),
                               'active_units': ae.active_units(means)[0],
                               'sample_sharpness': round(sharpness(samples), 4)}
    grids[name] = (samples[:32], recon)
  results['test_data_sharpness'] = round(sharpness(test['image']), 4)
  studies.save_json(os.path.join(workdir, 'loss.json'), results)
  _plot(grids, test['image'][:16], workdir)
  return results


def _plot(grids: dict, originals: np.ndarray, workdir: str) -> None:
  plt = studies.pyplot()
  fig, axes = plt.subplots(2, len(grids) + 1, figsize=(3.6 * (len(grids) + 1), 7))
  axes[1, 0].imshow(make_grid(originals, ncols=4)[..., 0], cmap='gray')
  axes[1, 0].set_title('test digits')
  axes[0, 0].axis('off')
  for i, (name, (samples, recon)) in enumerate(grids.items(), start=1):
    axes[0, i].imshow(make_grid(np.clip(samples, 0, 1), ncols=8)[..., 0], cmap='gray')
    axes[0, i].set_title(f'{name}: samples')
    axes[1, i].imshow(make_grid(np.clip(recon, 0, 1), ncols=4)[..., 0], cmap='gray')
    axes[1, i].set_title(f'{name}: reconstructions')
  for ax in axes.ravel():
    ax.axis('off')
  studies.save_figure(fig, os.path.join(workdir, 'loss.png'))


def main(argv):
  del argv
  out = run(FLAGS.workdir, FLAGS.tiny, FLAGS.steps, FLAGS.models_dir)
  for name, m in out['models'].items():
    t = m['test']
    print(f'{name:>22s}: mse {t["mse"]:.4f}  psnr {t["psnr"]:.2f} dB  bce {t["bce"]:.1f}  nelbo {t["nelbo"]:.1f}  '
          f'bits/dim {t["bits_per_dim"]:.3f}  active {m["active_units"]}  sample sharpness {m["sample_sharpness"]:.4f}')
  print(f'test digits sharpness {out["test_data_sharpness"]:.4f}. Wrote {os.path.join(FLAGS.workdir, "loss.json")} '
        'and loss.png.')


if __name__ == '__main__':
  FLAGS = flags.FLAGS
  studies.define_flags('runs/ae_loss')
  app.run(main)
