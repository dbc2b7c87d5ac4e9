"""The input pipeline the trainer uses: dataset info, train and eval iterators.

``config`` is an ml_collections ConfigDict (or dict) with ``seed``, ``batch_size`` (GLOBAL) and
``dataset`` holding:
  name         an embedded dataset (``EMBEDDED``) or a tfds catalog name (e.g. 'mnist');
  data_dir     prepared-data directory; None/'' -> $TFDS_DATA_DIR or ~/tensorflow_datasets;
  train_split  default 'train';  eval_split  default 'test' (tfds split specs, e.g. 'train[90%:]');
  scale        '01' | '-11' | 'none' (default '01' for images, must be 'none' for points);
  binarize     'none' | 'threshold' | 'sample';  dequantize  'none' | 'uniform' (preprocess.py);
  num_workers  grain worker processes building train batches (0 = in this process, the default);
  prefetch     batches built ahead by a background thread (default 2; 0 = build in __next__);
  download     whether an unprepared catalog dataset may be downloaded (default True).

Batches are dicts of numpy arrays with the LOCAL batch size ``batch_size // process_count``:
images ``'image'`` float32 [L, H, W, C], points ``'x'`` float32 [L, 2], and ``'label'`` int32 [L]
when the dataset has labels; eval batches add ``'mask'`` float32 [L]. Ordering, sharding and
resumption are described in ``batches.py``. Text datasets (``pydocs``) yield fixed-length token windows
``'tokens'`` int32 [L, seq_len + 1] instead (eval batches add ``'target_mask'``); their fields and
ordering are described in ``text.py``.
"""
import dataclasses
import numbers
import sys
from typing import Any, Iterator

import grain
import numpy as np

from gen_jax.data import builders
from gen_jax.data import sources
from gen_jax.data import text
from gen_jax.data.batches import EvalBatches, TrainBatches
from gen_jax.data.errors import DatasetError
from gen_jax.data.preprocess import element_spec, parse_preprocessing

EMBEDDED = builders.EMBEDDED
_STATE_VERSION = 1


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """What a dataset yields, for building models before any batch is read."""
  name: str
  kind: str              # 'image' | 'points' | 'text'
  element_spec: dict     # key -> (shape tuple, np.dtype) of ONE preprocessed example (no 'mask')
  num_train: int         # examples in config.dataset.train_split (text: windows per epoch)
  num_eval: int          # examples in config.dataset.eval_split (text: eval windows)
  num_classes: int | None
  vocab_size: int | None = None  # text: the tokenizer's vocabulary


def _split(dataset_config: Any, field: str, default: str) -> str:
  split = dataset_config.get(field, None) or default
  if not isinstance(split, str):
    raise DatasetError(f'config.dataset.{field}={split!r} must be a tfds split name such as {default!r}.')
  return split


def get_dataset_info(dataset_config: Any) -> DatasetInfo:
  """Validates ``config.dataset`` (preparing an embedded dataset if needed) and describes it."""
  ds = sources.open_dataset(dataset_config)
  if ds.kind == 'text':
    fields = text.dataset_fields(ds, dataset_config, _split(dataset_config, 'train_split', 'train'),
                                 _split(dataset_config, 'eval_split', 'test'))
    return DatasetInfo(name=ds.name, kind=ds.kind, num_classes=None, **fields)
  pp = parse_preprocessing(dataset_config, ds.kind, ds.name)
  train = sources.split_source(ds, _split(dataset_config, 'train_split', 'train'))
  evals = sources.split_source(ds, _split(dataset_config, 'eval_split', 'test'))
  return DatasetInfo(name=ds.name, kind=ds.kind, element_spec=element_spec(pp, ds.raw_shape, ds.has_label),
                     num_train=len(train), num_eval=len(evals), num_classes=ds.num_classes)


def _int_option(dataset_config: Any, field: str, default: int) -> int:
  value = dataset_config.get(field, default)
  value = default if value is None else value
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
    raise DatasetError(f'config.dataset.{field}={value!r} must be an integer >= 0.')
  return int(value)


def _local_batch(config: Any, process_index: int, process_count: int) -> tuple[int, int]:
  batch = config.get('batch_size', None)
  if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch <= 0:
    raise DatasetError(f'config.batch_size={batch!r} must be a positive integer (the global batch size).')
  if not isinstance(process_count, numbers.Integral) or process_count < 1 or not 0 <= process_index < process_count:
    raise DatasetError(f'process_index={process_index!r} must lie in [0, process_count={process_count!r}).')
  if batch % process_count:
    raise DatasetError(f'config.batch_size={batch} is not divisible by the {process_count} processes; use a '
                       f'multiple of {process_count}, e.g. {max(1, batch // process_count) * process_count}.')
  return int(batch), int(batch) // process_count


def _seed(config: Any) -> int:
  seed = config.get('seed', 0)
  if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
    raise DatasetError(f'config.seed={seed!r} must be an integer.')
  return int(seed) % 2**64


def _grain_iterator(fn: Any, start: int, stop: int, prefetch: int, num_workers: int) -> Any:
  """A grain iterator over ``fn(k)`` for k in [start, stop), prefetched in threads/processes."""
  ds = grain.MapDataset.range(start, stop).map(fn)
  if num_workers:
    from absl import flags  # pylint: disable=g-import-not-at-top
    if not flags.FLAGS.is_parsed():  # grain's worker launcher reads absl flags (defaults suffice)
      flags.FLAGS.mark_as_parsed()
    it_ds = ds.to_iter_dataset(grain.ReadOptions(num_threads=1, prefetch_buffer_size=1))
    it_ds = it_ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=num_workers,
                                                           per_worker_buffer_size=max(prefetch, 1)))
  else:
    it_ds = ds.to_iter_dataset(grain.ReadOptions(num_threads=1 if prefetch else 0, prefetch_buffer_size=prefetch))
  return iter(it_ds)


class TrainIterator(Iterator[dict]):
  """Infinite, deterministic, resumable iterator over this process's local train batches.

  ``get_state()`` is a JSON-serialisable dict: the number of batches consumed (``step``) plus a
  fingerprint of the stream (dataset, split, seed, global batch size, size, preprocessing).
  ``set_state(s)`` continues with exactly the batches that would have followed; it raises
  DatasetError if the fingerprint differs. The process count may change between save and
  restore: global batches do not depend on it.
  """

  def __init__(self, config: Any, process_index: int = 0, process_count: int = 1):
    dataset_config = config.dataset
    self._batch_size, self.local_batch_size = _local_batch(config, process_index, process_count)
    self._seed = _seed(config)
    self._prefetch = _int_option(dataset_config, 'prefetch', 2)
    self._num_workers = _int_option(dataset_config, 'num_workers', 0)
    self._split = _split(dataset_config, 'train_split', 'train')
    ds = sources.open_dataset(dataset_config)
    if ds.kind == 'text':
      self.element_spec, self._batches, preprocessing, num_examples = text.train_stream(
          ds, dataset_config, self._split, self._seed, self._batch_size, self.local_batch_size, process_index)
    else:
      pp = parse_preprocessing(dataset_config, ds.kind, ds.name)
      source = sources.split_source(ds, self._split)
      self.element_spec = element_spec(pp, ds.raw_shape, ds.has_label)
      self._batches = TrainBatches(source, pp, self._seed, self._batch_size, self.local_batch_size, process_index)
      preprocessing = pp.describe()  # crop/resize enter the fingerprint only when set
      num_examples = len(source)
    self._fingerprint = {
        'version': _STATE_VERSION, 'dataset': ds.name, 'split': self._split, 'seed': self._seed,
        'global_batch_size': self._batch_size, 'num_examples': num_examples, 'preprocessing': preprocessing}
    self._stop = (sys.maxsize - self._batch_size) // self._batch_size
    self._step = 0
    self._it = None

  def batch_at(self, step: int) -> dict[str, np.ndarray]:
    """The local batch of train step ``step`` (random access; does not move the iterator)."""
    return self._batches(step)

  def __iter__(self) -> 'TrainIterator':
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    if self._it is None:
      self._it = _grain_iterator(self._batches, self._step, self._stop, self._prefetch, self._num_workers)
    batch = next(self._it)
    self._step += 1
    return batch

  def get_state(self) -> dict:
    """{'step': batches consumed, ...fingerprint}: JSON-serialisable."""
    return {**self._fingerprint, 'step': self._step}

  def set_state(self, state: dict) -> None:
    """Continues from ``state`` (from ``get_state`` of an iterator over the same stream)."""
    diff = [f'{k}: saved {state.get(k)!r}, now {v!r}' for k, v in self._fingerprint.items()
            if k != 'version' and state.get(k) != v]
    step = state.get('step')
    if (state.get('version') != _STATE_VERSION or diff or isinstance(step, bool)
        or not isinstance(step, numbers.Integral) or step < 0):
      raise DatasetError('the saved data-iterator state belongs to a different input stream ('
                         + ('; '.join(diff) or f'state {state!r}') + '); resume with the same dataset config, '
                         'seed and batch size, or start a fresh run.')
    self.close()
    self._step = int(step)

  def close(self) -> None:
    """Stops background prefetching (the iterator can still be used; it restarts lazily)."""
    if self._it is not None:
      close = getattr(self._it, 'close', None)
      if close is not None:
        close()
      self._it = None

  def __del__(self):
    try:
      self.close()
    except Exception:  # pylint: disable=broad-except
      pass


class EvalIterator(Iterator[dict]):
  """One pass over an eval split: ``len(self)`` local batches, each with a float32 ``'mask'``."""

  def __init__(self, batches: EvalBatches, prefetch: int):
    self._num = len(batches)
    self._it = _grain_iterator(batches, 0, self._num, prefetch, 0) if self._num else iter(())

  def __len__(self) -> int:
    return self._num

  def __iter__(self) -> 'EvalIterator':
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    return next(self._it)

  def close(self) -> None:
    close = getattr(self._it, 'close', None)
    if close is not None:
      close()


def make_train_iterator(config: Any, process_index: int = 0, process_count: int = 1) -> TrainIterator:
  """The infinite train iterator of process ``process_index`` (see ``TrainIterator``)."""
  return TrainIterator(config, process_index, process_count)


def make_eval_iterator(config: Any, process_index: int = 0, process_count: int = 1,
                       split: str | None = None) -> EvalIterator:
  """A finite pass over ``split`` (default ``config.dataset.eval_split``), no shuffling.

  Every example appears exactly once across all processes, in every batch the local batch
  size is full (padding rows are zeros with ``mask`` 0), and every process yields the same
  number of batches, ``ceil(num_examples / batch_size)``. Batches are built in this process
  (``prefetch`` applies, ``num_workers`` does not: a pass is too short to amortise spawning).
  """
  dataset_config = config.dataset
  batch, local = _local_batch(config, process_index, process_count)
  split = split or _split(dataset_config, 'eval_split', 'test')
  ds = sources.open_dataset(dataset_config)
  if ds.kind == 'text':
    batches = text.eval_batches(ds, dataset_config, split, batch, local, process_index)
    return EvalIterator(batches, _int_option(dataset_config, 'prefetch', 2))
  pp = parse_preprocessing(dataset_config, ds.kind, ds.name)
  source = sources.split_source(ds, split)
  spec = element_spec(pp, ds.raw_shape, ds.has_label)
  batches = EvalBatches(source, pp, spec, batch, local, process_index)
  _int_option(dataset_config, 'num_workers', 0)  # validated; eval always runs in-process (no spawn cost)
  return EvalIterator(batches, _int_option(dataset_config, 'prefetch', 2))
