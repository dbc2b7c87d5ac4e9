"""``digits``: scikit-learn's 8x8 handwritten digits (1,797 images) as a tfds dataset.

Source: ``sklearn.datasets.load_digits()`` (the UCI "Optical Recognition of Handwritten
Digits" test set), bundled with scikit-learn, so preparing it needs no network.

Features (``tfds.features.Tensor`` only, stored as ``array_record``):
  image: uint8 [8, 8, 1]. sklearn stores intensities as integers 0..16; they are rescaled to
    0..255 with ``pixel = value * 255 // 16`` (0 -> 0, 8 -> 127, 16 -> 255).
  label: int64 scalar in 0..9.
  index: int64 scalar, the row of the example in ``load_digits().images``.

Split: a seeded permutation ``np.random.default_rng(0).permutation(1797)``; its first 1,437
entries are ``train`` and the last 360 are ``test``. Each split is stored in that permuted
order (``disable_shuffling=True``), so record ``i`` of a split is always the same example.
"""
import numpy as np
import tensorflow_datasets as tfds

from gen_jax.data.builders._common import labelled_info

NUM_EXAMPLES = 1797
NUM_TRAIN = 1437
NUM_TEST = NUM_EXAMPLES - NUM_TRAIN
SPLIT_SEED = 0


def load_digits_uint8() -> tuple[np.ndarray, np.ndarray]:
  """All 1,797 digits in sklearn's order: images uint8 [1797, 8, 8, 1] (0..255), labels int64 [1797]."""
  from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
  d = load_digits()
  values = np.asarray(d.images).astype(np.int64)  # integers 0..16
  images = (values * 255 // 16).astype(np.uint8)[..., None]
  return images, np.asarray(d.target, dtype=np.int64)


def split_indices() -> dict[str, np.ndarray]:
  """Rows of ``load_digits()`` in each split, in stored order: {'train': [1437], 'test': [360]}."""
  perm = np.random.default_rng(SPLIT_SEED).permutation(NUM_EXAMPLES)
  return {'train': perm[:NUM_TRAIN], 'test': perm[NUM_TRAIN:]}


class Digits(tfds.core.GeneratorBasedBuilder):
  """scikit-learn's 8x8 digits: 1,437 train / 360 test, uint8 [8, 8, 1] images."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}

  def _info(self) -> tfds.core.DatasetInfo:
    return labelled_info(self, 'image', (8, 8, 1), np.uint8, __doc__, with_index=True,
                         homepage='https://scikit-learn.org/stable/modules/generated/sklearn.datasets.load_digits.html')

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download: the data ships with scikit-learn.
    return {split: self._generate_examples(idx) for split, idx in split_indices().items()}

  def _generate_examples(self, indices: np.ndarray):
    images, labels = load_digits_uint8()
    for position, i in enumerate(indices):  # with disable_shuffling, tfds stores records by key
      yield position, {'image': images[i], 'label': labels[i], 'index': np.int64(i)}
