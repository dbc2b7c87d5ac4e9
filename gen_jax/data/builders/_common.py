"""What the embedded tfds builders share: their DatasetInfo and, for seeded generators, their splits."""
from typing import Any

import numpy as np
import tensorflow_datasets as tfds


def labelled_info(builder: tfds.core.GeneratorBasedBuilder, key: str, shape: tuple[int, ...], dtype: Any,
                  description: str, homepage: str | None = None, with_index: bool = False) -> tfds.core.DatasetInfo:
  """DatasetInfo of an embedded dataset: feature ``key`` (uint8 image or float32 vector) of ``shape``, an
  int64 'label', with ``with_index`` an int64 'index' (the example's row in the source data), and
  records stored in generation order (``disable_shuffling``: record k is example k)."""
  features = {key: tfds.features.Tensor(shape=shape, dtype=dtype),
              'label': tfds.features.Tensor(shape=(), dtype=np.int64)}
  if with_index:
    features['index'] = tfds.features.Tensor(shape=(), dtype=np.int64)
  return builder.dataset_info_from_configs(description=description, features=tfds.features.FeaturesDict(features),
                                           supervised_keys=(key, 'label'), homepage=homepage, disable_shuffling=True)


class SeededSplits:
  """Splits of a builder generated from a seed (nothing to download): the subclass defines
  ``SPLIT_NAMES`` and ``split_data(split) -> (x [n, ...] float32, label [n] int64)``."""

  SPLIT_NAMES: tuple[str, ...] = ()

  def split_data(self, split: str) -> tuple[np.ndarray, np.ndarray]:
    raise NotImplementedError

  def _split_generators(self, dl_manager):
    del dl_manager  # generated from a seed: nothing to download
    return {split: self._generate_examples(split) for split in self.SPLIT_NAMES}

  def _generate_examples(self, split: str):
    x, label = self.split_data(split)
    for i in range(len(x)):
      yield i, {'x': x[i], 'label': label[i]}
