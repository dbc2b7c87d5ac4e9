"""Fixtures for the data-layer tests: one prepared-data directory per test session (offline)."""
import ml_collections
import pytest


@pytest.fixture(scope='session')
def data_dir(tmp_path_factory) -> str:
  """An initially empty tfds data_dir shared by the tests of this session (datasets prepared lazily)."""
  return str(tmp_path_factory.mktemp('tfds_data'))


@pytest.fixture
def make_config(data_dir):
  """``make_config(name, batch_size=..., seed=..., **dataset_fields)`` -> ConfigDict for the pipeline."""
  def make(name: str, batch_size: int = 32, seed: int = 0, **dataset) -> ml_collections.ConfigDict:
    dataset.setdefault('data_dir', data_dir)
    return ml_collections.ConfigDict(dict(seed=seed, batch_size=batch_size, dataset=dict(name=name, **dataset)))
  return make
