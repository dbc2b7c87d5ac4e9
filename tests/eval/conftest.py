"""Fixtures for the evaluation-harness tests: a fresh prepared-data directory per session (offline)."""
import ml_collections
import numpy as np
import pytest


@pytest.fixture(scope='session')
def eval_data_dir(tmp_path_factory) -> str:
  """A tfds data_dir prepared from the current embedded builders (never a stale ~/tensorflow_datasets)."""
  return str(tmp_path_factory.mktemp('eval_tfds'))


def data_config(name: str, data_dir: str, batch_size: int = 200) -> ml_collections.ConfigDict:
  """``gen_jax.data`` config of ``name`` at scale '01' (no binarization, no dequantization)."""
  return ml_collections.ConfigDict(dict(seed=0, batch_size=batch_size, dataset=dict(
      name=name, data_dir=data_dir, scale='01', binarize='none', dequantize='none', prefetch=0)))


def load_split(name: str, data_dir: str, split: str = 'test') -> tuple[np.ndarray, np.ndarray]:
  """All (images float32 [N, H, W, C] in [0, 1], labels int32 [N]) of a split, via gen_jax.data."""
  from gen_jax import data as data_lib
  images, labels = [], []
  for batch in data_lib.make_eval_iterator(data_config(name, data_dir), split=split):
    m = batch['mask'] > 0
    images.append(batch['image'][m])
    labels.append(batch['label'][m])
  return np.concatenate(images), np.concatenate(labels)


@pytest.fixture(scope='session')
def mnist5k_test(eval_data_dir) -> tuple[np.ndarray, np.ndarray]:
  return load_split('mnist5k', eval_data_dir)
