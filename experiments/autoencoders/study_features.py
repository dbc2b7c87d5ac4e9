"""Study 4 -- feature extraction: linear-probe accuracy on encoder features vs on raw pixels.

Trains a VAE (``vae_mnist5k.py:mlp,grey``) and an autoencoder (``ae_mnist5k.py:mlp``), both with
32-d codes on the same grey-level digits, encodes the 4,000 train and 1,000 test digits (posterior
means for the VAE), and fits a logistic regression (sklearn, standardized inputs, L2, C=1) on
the train features with 10, 100 or all 400 labels per class; reports test accuracy, alongside the
same probe on the 784 raw pixels.

  ./launch.sh python experiments/autoencoders/study_features.py --workdir=runs/ae_features [--tiny]
      [--steps=N] [--models_dir=runs/ae_models]
Writes features.json and features.png.
"""
import os

import jax
import numpy as np
from absl import app, flags
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from gen_jax import studies
from gen_jax.families import autoencoders as ae

MODELS = {'vae': ('experiments/autoencoders/vae_mnist5k.py', 'mlp,grey'),
          'ae': ('experiments/autoencoders/ae_mnist5k.py', 'mlp')}
LABELS_PER_CLASS = (10, 100, 0)  # 0: all


def subsample(labels: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
  """Indices of ``per_class`` random examples of each class (all indices when 0)."""
  if not per_class:
    return np.arange(labels.size)
  rng = np.random.default_rng(seed)
  return np.concatenate([rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
                         for c in np.unique(labels)])


def probe_accuracy(f_train, y_train, f_test, y_test, per_class: int) -> float:
  """Test accuracy of a standardized L2 logistic regression fit on ``per_class`` labels per class."""
  idx = subsample(y_train, per_class)
  clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
  clf.fit(f_train[idx], y_train[idx])
  return round(float(clf.score(f_test, y_test)), 4)


def run(workdir: str, tiny: bool = False, steps: int = 0, models_dir: str = '') -> dict:
  """Trains both models, probes their features and the raw pixels; writes and returns the table."""
  budgets = (10, 0) if tiny else LABELS_PER_CLASS
  results = {'labels_per_class': ['all' if b == 0 else b for b in budgets], 'features': {}}
  data = None
  for name, (path, variant) in MODELS.items():
    config, state, info = studies.study_model(path, variant, models_dir or os.path.join(workdir, 'models'),
                                               tiny, steps)
    train, test = studies.load_split(config, 'train'), studies.load_split(config)
    data = data or (train, test)
    fn = jax.jit(lambda s, x, c=config: ae.encode(s, x, c))
    f_train = studies.map_batches(lambda x: fn(state, x), train['image'])
    f_test = studies.map_batches(lambda x: fn(state, x), test['image'])
    results['features'][name] = {**info, 'dim': int(f_train.shape[1]), 'accuracy': {
        str(b or 'all'): probe_accuracy(f_train, train['label'], f_test, test['label'], b) for b in budgets}}
  train, test = data
  pix = lambda d: d['image'].reshape(d['image'].shape[0], -1)  # noqa: E731
  results['features']['pixels'] = {'dim': int(pix(train).shape[1]), 'accuracy': {
      str(b or 'all'): probe_accuracy(pix(train), train['label'], pix(test), test['label'], b) for b in budgets}}
  studies.save_json(os.path.join(workdir, 'features.json'), results)
  _plot(results, workdir)
  return results


def _plot(results: dict, workdir: str) -> None:
  plt = studies.pyplot()
  names = list(results['features'])
  budgets = [str(b) for b in results['labels_per_class']]
  fig, ax = plt.subplots(figsize=(6.5, 3.8))
  width = 0.8 / len(names)
  for i, name in enumerate(names):
    acc = [results['features'][name]['accuracy'][b] for b in budgets]
    ax.bar(np.arange(len(budgets)) + i * width, acc, width,
           label=f'{name} ({results["features"][name]["dim"]}-d)')
  ax.set_xticks(np.arange(len(budgets)) + width * (len(names) - 1) / 2, [f'{b} labels/class' for b in budgets])
  ax.set(ylabel='test accuracy', ylim=(0, 1), title='linear probe (logistic regression)')
  ax.legend(loc='lower right')
  studies.save_figure(fig, os.path.join(workdir, 'features.png'))


def main(argv):
  del argv
  out = run(FLAGS.workdir, FLAGS.tiny, FLAGS.steps, FLAGS.models_dir)
  for name, m in out['features'].items():
    print(f'{name:>7s} ({m["dim"]:3d}-d): ' + ', '.join(f'{b}/class {a:.3f}' for b, a in m['accuracy'].items()))
  print(f'Wrote {os.path.join(FLAGS.workdir, "features.json")} and features.png.')


if __name__ == '__main__':
  FLAGS = flags.FLAGS
  studies.define_flags('runs/ae_features')
  app.run(main)
