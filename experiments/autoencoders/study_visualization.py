"""Study 3 -- visualization: 2-D latent codes of the test set coloured by label, and a 2-D VAE's manifold.

Trains a VAE (``vae_mnist5k.py:mlp,latent2``, binarized digits) and an autoencoder
(``ae_mnist5k.py:mlp`` with a 2-d code), scatters the codes of the 1,000 test digits (posterior
means for the VAE), and decodes a 20x20 grid of latents at the standard-normal quantiles
0.05 ... 0.95 (the VAE's "learned manifold", Kingma & Welling 2014, fig. 4). As numbers: the
test accuracy of a 5-nearest-neighbour classifier on the 2-d codes (fit on the 4,000 train codes)
and the VAE's test negative ELBO.

  ./launch.sh python experiments/autoencoders/study_visualization.py --workdir=runs/ae_visualization [--tiny]
      [--steps=N] [--models_dir=runs/ae_models]
Writes visualization.json, latents_2d.png and manifold_2d.png.
"""
import os

import jax
import numpy as np
from absl import app, flags
from scipy import stats
from sklearn.neighbors import KNeighborsClassifier

from gen_jax import studies
from gen_jax.core.images import make_grid
from gen_jax.families import autoencoders as ae

MODELS = {'vae': ('experiments/autoencoders/vae_mnist5k.py', 'mlp,latent2', {}),
          'ae': ('experiments/autoencoders/ae_mnist5k.py', 'mlp', {'latent_dim': 2})}


def codes(state, config, images: np.ndarray) -> np.ndarray:
  """Deterministic 2-d codes [N, 2] (posterior means for a VAE)."""
  fn = jax.jit(lambda s, x: ae.encode(s, x, config))
  return studies.map_batches(lambda x: fn(state, x), images)


def manifold(state, config, n: int = 20) -> np.ndarray:
  """Decoded images [n * n, H, W, C] on the grid z = (Phi^-1(u), Phi^-1(v)), u, v in 0.05 ... 0.95
  (rows: second latent decreasing from top to bottom, columns: first latent increasing)."""
  q = stats.norm.ppf(np.linspace(0.05, 0.95, n)).astype(np.float32)
  zz = np.stack(np.meshgrid(q, q[::-1]), -1).reshape(-1, 2)
  return np.asarray(jax.jit(lambda s, z: ae.decode(s, z, config))(state, zz))


def run(workdir: str, tiny: bool = False, steps: int = 0, models_dir: str = '') -> dict:
  """Trains both 2-d models; writes the scatter plots, the manifold and the numbers; returns them."""
  results, scatter, grid = {'models': {}}, {}, None
  for name, (path, variant, overrides) in MODELS.items():
    config, state, info = studies.study_model(path, variant, models_dir or os.path.join(workdir, 'models'),
                                               tiny, steps, **overrides)
    train, test = studies.load_split(config, 'train'), studies.load_split(config)
    z_train, z_test = codes(state, config, train['image']), codes(state, config, test['image'])
    knn = KNeighborsClassifier(5).fit(z_train, train['label'])
    entry = {**info, 'knn5_test_accuracy': round(float(knn.score(z_test, test['label'])), 4),
             'code_std': np.round(z_test.std(0), 4).tolist()}
    metrics = studies.metric_values(studies.evaluate_model(config, info['workdir'], state))
    entry['test'] = metrics
    results['models'][name] = entry
    scatter[name] = (z_test, test['label'])
    if name == 'vae':
      grid = manifold(state, config, 10 if tiny else 20)
  studies.save_json(os.path.join(workdir, 'visualization.json'), results)
  _plot(scatter, grid, workdir)
  return results


def _plot(scatter: dict, grid: np.ndarray, workdir: str) -> None:
  plt = studies.pyplot()
  fig, axes = plt.subplots(1, len(scatter), figsize=(5.2 * len(scatter), 4.6), squeeze=False)
  for ax, (name, (z, y)) in zip(axes[0], scatter.items()):
    pts = ax.scatter(z[:, 0], z[:, 1], c=y, cmap='tab10', s=6, vmin=-0.5, vmax=9.5)
    ax.set(title=f'{name.upper()}: 2-d codes of the test digits', xlabel='z1', ylabel='z2')
  fig.colorbar(pts, ax=axes[0].tolist(), ticks=range(10), label='digit')
  fig.savefig(os.path.join(workdir, 'latents_2d.png'), dpi=100)
  plt.close(fig)
  n = int(round(np.sqrt(grid.shape[0])))
  fig, ax = plt.subplots(figsize=(7, 7))
  ax.imshow(make_grid(np.clip(grid, 0, 1), ncols=n, padding=0)[..., 0], cmap='gray')
  ax.set(title='VAE decoded manifold: z at N(0, 1) quantiles 0.05 ... 0.95')
  ax.axis('off')
  studies.save_figure(fig, os.path.join(workdir, 'manifold_2d.png'))


def main(argv):
  del argv
  out = run(FLAGS.workdir, FLAGS.tiny, FLAGS.steps, FLAGS.models_dir)
  for name, m in out['models'].items():
    print(f'{name}: 5-NN accuracy on 2-d test codes {m["knn5_test_accuracy"]:.3f}; test {m["test"]}')
  print(f'Wrote {os.path.join(FLAGS.workdir, "visualization.json")}, latents_2d.png and manifold_2d.png.')


if __name__ == '__main__':
  FLAGS = flags.FLAGS
  studies.define_flags('runs/ae_visualization')
  app.run(main)
