"""Resolving a dataset name to prepared tfds data and random access to its raw examples.

Embedded datasets (``builders.EMBEDDED``) are prepared on first use and each split is read
once into memory (they are small: at most 50,000 examples). Catalog datasets are read lazily
through ``tfds.data_source`` (``builder.as_data_source``), which needs ``array_record`` (or
parquet) files; they are downloaded and prepared on first use when ``config.dataset.download``
(default True) allows it and the network is reachable.
"""
import dataclasses
import difflib
import functools
import os
import socket
from typing import Any

import numpy as np
import tensorflow_datasets as tfds

from gen_jax.data import builders
from gen_jax.data.builders import _compat, signals1d, toy2d
from gen_jax.data.builders.prepare import file_lock, resolve_data_dir
from gen_jax.data.errors import DatasetError

_RANDOM_ACCESS_FORMATS = ('array_record', 'parquet')


@dataclasses.dataclass(frozen=True)
class Dataset:
  """A resolved dataset: what it holds and the prepared tfds builder to read it from."""
  name: str
  kind: str                      # 'image' | 'points' | 'text'
  raw_key: str                   # 'image' (uint8 pixels) | 'x' (float32 points) | 'text' (documents)
  raw_shape: tuple[int, ...]     # of one example, e.g. (28, 28, 1), (2,) or (64,)
  has_label: bool
  num_classes: int | None
  embedded: bool
  builder: Any                   # a prepared tfds.core.DatasetBuilder


class ArraySource:
  """In-memory random access: ``arrays`` maps key -> np.ndarray with a leading example axis."""

  def __init__(self, arrays: dict[str, np.ndarray]):
    self.arrays = arrays
    self._len = len(next(iter(arrays.values())))

  def __len__(self) -> int:
    return self._len

  def gather(self, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Examples ``idx`` (int [n]) as a dict of arrays [n, ...]."""
    return {k: v[idx] for k, v in self.arrays.items()}


class TfdsSource:
  """Lazy random access to a tfds data source, keeping only ``keys``."""

  def __init__(self, data_source: Any, keys: tuple[str, ...]):
    self.data_source = data_source
    self.keys = keys
    self._batched = True

  def __len__(self) -> int:
    return len(self.data_source)

  def _read(self, keys: list[int]) -> list[Any]:
    if self._batched:
      try:
        return self.data_source.__getitems__(keys)
      except TypeError:  # tfds.testing.mock_data's __getitems__ is unbound; read one by one
        self._batched = False
    return [self.data_source[k] for k in keys]

  def gather(self, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Examples ``idx`` (int [n]) as a dict of arrays [n, ...] (decoded by tfds)."""
    records = self._read([int(i) for i in idx])
    return {k: np.stack([np.asarray(r[k]) for r in records]) for k in self.keys}


def _unknown(name: str, catalog: list[str]) -> DatasetError:
  candidates = list(dict.fromkeys(list(builders.EMBEDDED) + catalog))
  close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
  hint = f' Did you mean {" or ".join(repr(c) for c in close)}?' if close else ''
  return DatasetError(
      f'unknown dataset {name!r}: it is neither embedded nor in the tfds catalog.{hint} Embedded '
      f'(offline) datasets: {", ".join(builders.EMBEDDED)}; catalog datasets are tfds names such as '
      'mnist, fashion_mnist, cifar10.')


def open_dataset(dataset_config: Any) -> Dataset:
  """Resolves ``config.dataset`` (name, data_dir, download) to a prepared dataset or DatasetError."""
  name = dataset_config.get('name', None)
  if not isinstance(name, str) or not name:
    raise DatasetError(f'config.dataset.name={name!r} must name a dataset; embedded: '
                       f'{", ".join(builders.EMBEDDED)}, or a tfds catalog name (e.g. mnist).')
  data_dir = resolve_data_dir(dataset_config.get('data_dir', None))
  if name in builders.EMBEDDED:
    return _open_embedded(name, data_dir)
  if name.split('/')[0] == 'toy2d':
    raise DatasetError(f'unknown toy2d density in {name!r}; allowed: '
                       f'{", ".join("toy2d/" + n for n in toy2d.NAMES)}.')
  return _open_catalog(name, data_dir, bool(dataset_config.get('download', True)))


def _open_embedded(name: str, data_dir: str) -> Dataset:
  try:
    builder = builders.prepare_embedded(name, data_dir)
  except OSError as e:
    raise DatasetError(f'cannot prepare embedded dataset {name!r} in {data_dir}: {e}. Set '
                       'config.dataset.data_dir (or $TFDS_DATA_DIR) to a writable directory.') from e
  if name.startswith('toy2d/'):
    return Dataset(name, 'points', 'x', (2,), True, toy2d.NUM_CLASSES[name.split('/')[1]], True, builder)
  if name == 'pydocs':  # documents (strings), tokenized into windows by gen_jax/data/text.py
    return Dataset(name, 'text', 'text', (), False, None, True, builder)
  if name == 'signals1d':  # 1-D signals are 'points' too: float32 vectors, no image preprocessing
    return Dataset(name, 'points', 'x', (signals1d.LENGTH,), True, signals1d.NUM_CLASSES, True, builder)
  return Dataset(name, 'image', 'image', tuple(builder.info.features['image'].shape), True, 10, True, builder)


def _network_reachable(host: str = 'storage.googleapis.com', timeout: float = 3.0) -> bool:
  """Whether ``host`` accepts a TCP connection (fails fast offline instead of tfds' long retries)."""
  if any(os.environ.get(v) for v in ('HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy')):
    return True  # behind a proxy a direct connection says nothing
  try:
    socket.create_connection((host, 443), timeout=timeout).close()
    return True
  except OSError:
    return False


def _download_is_mocked(builder: Any) -> bool:
  """True inside ``tfds.testing.mock_data`` (download_and_prepare is a no-op there)."""
  fn = type(builder).download_and_prepare
  return getattr(fn, '__module__', '').startswith('tensorflow_datasets.testing')


def _open_catalog(name: str, data_dir: str, download: bool) -> Dataset:
  _compat.ensure_importlib_resources()
  catalog = tfds.list_builders(with_community_datasets=False)
  if name.split('/')[0].split(':')[0] not in catalog:
    raise _unknown(name, catalog)
  offline = f'The embedded datasets work offline: {", ".join(builders.EMBEDDED)}.'
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except Exception as e:  # pylint: disable=broad-except
    raise DatasetError(f'cannot open tfds dataset {name!r} in {data_dir}: {e}') from e
  if not builder.is_prepared():
    if not download:
      raise DatasetError(f'tfds dataset {name!r} is not prepared in {data_dir} and '
                         f'config.dataset.download is False. {offline}')
    with file_lock(f'{data_dir}/.gen_jax-{name.replace("/", "-").replace(":", "-")}.lock'):
      builder = tfds.builder(name, data_dir=data_dir, file_format='array_record')
      if not builder.is_prepared():
        if not _download_is_mocked(builder) and not _network_reachable():
          raise DatasetError(f'tfds dataset {name!r} is not prepared in {data_dir} and the network is '
                             f'unreachable, so it cannot be downloaded. {offline}')
        try:
          builder.download_and_prepare()
        except Exception as e:  # pylint: disable=broad-except
          hint = ''
          if 'tensorflow' in str(e).lower():
            hint = (' Preparing it needs TensorFlow (tfds encodes its images with tf.image); prepare it once '
                    f'where TensorFlow is installed with `tfds build {name} --file_format=array_record '
                    '--data_dir=...`; reading it afterwards needs no TensorFlow.')
          raise DatasetError(f'tfds dataset {name!r} is not prepared in {data_dir} and could not be '
                             f'downloaded and prepared ({type(e).__name__}: {str(e)[:300]}).{hint} {offline}') from e
  fmt = builder.info.file_format
  fmt = getattr(fmt, 'value', fmt)
  if fmt not in _RANDOM_ACCESS_FORMATS:
    raise DatasetError(
        f'tfds dataset {name!r} is prepared in {builder.data_path} in the {fmt!r} format, but random access '
        f'(tfds.data_source, needed for deterministic resumable pipelines) requires array_record. Re-prepare '
        f'it with `tfds build {name} --file_format=array_record --data_dir=...` into another data_dir, or '
        f'delete {builder.data_path}. {offline}')
  return _catalog_dataset(name, builder)


def _catalog_dataset(name: str, builder: Any) -> Dataset:
  features = builder.info.features
  image = features['image'] if 'image' in features.keys() else None
  if not isinstance(image, tfds.features.Image):
    raise DatasetError(f'tfds dataset {name!r} has no Image feature named "image" (features: '
                       f'{", ".join(features.keys())}); only image datasets are supported from the catalog.')
  shape = tuple(image.shape)
  if any(d is None for d in shape) or np.dtype(image.np_dtype) != np.uint8:
    raise DatasetError(f'tfds dataset {name!r} has images of shape {shape} and dtype {image.np_dtype}; only '
                       'fixed-shape uint8 images are supported (no resizing).')
  label = features['label'] if 'label' in features.keys() else None
  has_label = isinstance(label, tfds.features.ClassLabel)
  num_classes = int(label.num_classes) if has_label else None
  return Dataset(name, 'image', 'image', shape, has_label, num_classes, False, builder)


def _split_error(ds: Dataset, split: str, e: Exception) -> DatasetError:
  splits = ', '.join(sorted(str(s) for s in ds.builder.info.splits.keys()))
  return DatasetError(f'cannot read split {split!r} of {ds.name!r} ({e}); its splits: {splits or "unknown"} '
                      "(slices like 'train[:90%]' are allowed).")


def split_source(ds: Dataset, split: str) -> ArraySource | TfdsSource:
  """Random access to the raw examples of ``split`` (any tfds split spec, e.g. 'train[:10%]')."""
  keys = (ds.raw_key, 'label') if ds.has_label else (ds.raw_key,)
  if ds.embedded:
    return _load_embedded(ds.name, str(ds.builder.data_dir_root), split, keys)
  try:
    return TfdsSource(ds.builder.as_data_source(split), keys)
  except Exception as e:  # pylint: disable=broad-except
    raise _split_error(ds, split, e) from e


@functools.lru_cache(maxsize=32)
def _load_embedded(name: str, data_dir: str, split: str, keys: tuple[str, ...]) -> ArraySource:
  builder = builders.embedded_builder(name, data_dir)
  try:
    source = builder.as_data_source(split)
  except Exception as e:  # pylint: disable=broad-except
    ds = Dataset(name, '', '', (), False, None, True, builder)
    raise _split_error(ds, split, e) from e
  if not len(source):
    raise DatasetError(f'split {split!r} of {name!r} is empty.')
  records = source.__getitems__(range(len(source)))
  return ArraySource({k: np.stack([np.asarray(r[k]) for r in records]) for k in keys})
