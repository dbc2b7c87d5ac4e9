"""Image generation on mnist5k: every GAN model at one training budget, scored like --mode=eval; and the
conditional GAN's class accuracy per class.

  ./launch.sh python experiments/gans/study_image_generation.py --workdir=runs/gan_images
  ./launch.sh python experiments/gans/study_image_generation.py --models=dcgan,cgan --models_dir=runs/gan_models
  ./launch.sh python experiments/gans/study_image_generation.py --tiny      # seconds: a smoke test

Each model is its experiment's default config (``experiments/gans/{mlp_gan.py:mnist5k, dcgan.py,
dcgan.py:cgan, stylegan.py, progan.py}``): 3,000 generator updates of batch 64 (``--steps``
overrides), trained or reused under ``--models_dir`` (runs are named by a hash of their config, so
studies given the same directory share them). From 1,000 samples of the EMA generator (a cGAN: 100
per class), ``gen_jax.studies.sample_quality`` computes FID, KID, precision / recall, the classifier's
Inception-style score and class entropy in the project classifier's feature space against the 1,000
test digits (real-data floor at N = 1,000: FID 5.88), and for the cGAN the share of samples the
classifier assigns to the requested class, overall and per class. Writes ``image_generation.json``,
``image_generation.md``, ``samples_<model>.png`` (8x8 grids; the cGAN's columns are classes 0..7) and
``samples.png`` (all models side by side).
"""
import os

import jax
import numpy as np
from absl import app, flags

from gen_jax import studies
from gen_jax.core.images import save_image_grid
from gen_jax.eval.feature_net import load_feature_net
from gen_jax.families import gans

MODELS = {
    'mlp': ('experiments/gans/mlp_gan.py', 'mnist5k'),
    'dcgan': ('experiments/gans/dcgan.py', ''),
    'cgan': ('experiments/gans/dcgan.py', 'cgan'),
    'stylegan': ('experiments/gans/stylegan.py', ''),
    'progan': ('experiments/gans/progan.py', ''),
}
NUM_SAMPLES = 1000



def per_class_accuracy(samples: np.ndarray, labels: np.ndarray, config) -> dict[int, float]:
  """Share of the samples of each requested class that the project classifier assigns to that class."""
  net = load_feature_net(config.dataset.name)
  images = np.clip((samples + 1.0) / 2.0, 0.0, 1.0) if config.dataset.scale == '-11' else samples
  pred = np.asarray(jax.jit(net.logits)(images)).argmax(-1)
  return {int(k): float(np.mean(pred[labels == k] == k)) for k in np.unique(labels)}


def run(workdir: str, models=tuple(MODELS), models_dir: str = '', tiny: bool = False, steps: int = 0) -> dict:
  models_dir = models_dir or os.path.join(workdir, 'models')
  num = 100 if tiny else NUM_SAMPLES
  rows, grids, per_class = [], {}, {}
  for name in models:
    path, variant = MODELS[name]
    config, state, info = studies.study_model(path, variant, models_dir, tiny, steps)
    conditional = bool(config.model.get('num_classes', 0))
    labels = (np.arange(num) % 10).astype(np.int32) if conditional else None
    samples = gans.sample_many(state, config, num, labels)
    q = studies.flat(studies.sample_quality(config, samples, labels), 4)
    params = {k: int(sum(np.prod(x.shape) for x in jax.tree.leaves(v))) for k, v in state.params.items()}
    row = {'model': name, 'config': info['config'], 'g_params': params['g'], 'd_params': params['d'],
           'steps': info['steps'], 'batch': config.batch_size, 'train_wall_s': info['train_wall_s'],
           **{k: q.get(k) for k in ('fid', 'kid', 'kid_stderr', 'precision', 'recall', 'inception_score',
                                    'class_entropy', 'conditional_accuracy', 'conditional_accuracy_stderr')}}
    rows.append(row)
    if conditional:
      per_class[name] = per_class_accuracy(samples, labels, config)
    if conditional:  # classes 0..7 across, 8 samples of each down
      grid = np.stack([samples[labels == k][:8] for k in range(8)], axis=1).reshape((-1,) + samples.shape[1:])
    else:
      grid = samples[:64]
    grid = np.clip((grid + 1.0) / 2.0, 0.0, 1.0)
    grids[name] = grid
    save_image_grid(grid, os.path.join(workdir, f'samples_{name}.png'), scale=2)
    print(f'{name:9s} FID {row["fid"]} KID {row["kid"]} P {row["precision"]} R {row["recall"]} '
          f'({row["train_wall_s"]} s)', flush=True)
  plt = studies.pyplot()
  fig, axes = plt.subplots(1, len(grids), figsize=(3.2 * len(grids), 3.4), squeeze=False)
  for ax, (name, grid) in zip(axes[0], grids.items()):
    n, h, w, _ = grid.shape
    tiles = grid[:64, ..., 0].reshape(8, 8, h, w).transpose(0, 2, 1, 3).reshape(8 * h, 8 * w)
    ax.imshow(tiles, cmap='gray', vmin=0, vmax=1)
    row = next(r for r in rows if r['model'] == name)
    ax.set_title(f'{name}: FID {row["fid"]:.1f}', fontsize=9)
    ax.axis('off')
  studies.save_figure(fig, os.path.join(workdir, 'samples.png'), dpi=80)
  result = {'num_samples': num, 'device': studies.device_kind(), 'table': rows, 'conditional_per_class': per_class}
  studies.save_json(os.path.join(workdir, 'image_generation.json'), result)
  with open(os.path.join(workdir, 'image_generation.md'), 'w', encoding='utf-8') as f:
    f.write(studies.markdown(rows) + '\n')
  return result


def main(argv):
  del argv
  unknown = [m for m in FLAGS.models if m not in MODELS]
  if unknown:
    raise app.UsageError(f'unknown --models {unknown}; allowed: {", ".join(MODELS)}')
  run(FLAGS.workdir, FLAGS.models, FLAGS.models_dir, FLAGS.tiny, FLAGS.steps)


if __name__ == '__main__':
  FLAGS = flags.FLAGS
  studies.define_flags('runs/gan_images')
  flags.DEFINE_list('models', list(MODELS), 'models to train and score: ' + ', '.join(MODELS))
  app.run(main)
