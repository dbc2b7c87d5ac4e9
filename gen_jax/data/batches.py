"""Random-access batch makers: batch ``k`` of a process is a pure function of (config, k).

The train stream is an infinite sequence of example positions ``g = 0, 1, 2, ...``. Position
``g`` lies in epoch ``e = g // N`` (N examples in the split) and holds example
``perm_e[g % N]``, where ``perm_e = default_rng([SHUFFLE_TAG, seed, e]).permutation(N)`` (a new
order every epoch; consecutive epochs follow each other without a gap, so a batch may straddle
an epoch boundary). Global batch ``k`` is positions ``[k B, (k+1) B)``; process ``p`` of ``P``
builds only rows ``[k B + p L, k B + (p+1) L)`` with ``L = B / P``. Random preprocessing of
position ``g`` is seeded by ``(TRAIN_TAG, seed, g)``. Hence 1-process and P-process runs see the
same global batches, and resuming at step ``k`` needs nothing but ``k``.

Eval batches cover the split in order, once: global batch ``k`` is examples ``[k B, (k+1) B)``,
rows past the end are zero padding with ``mask`` 0. Eval randomness is seeded by
``(EVAL_TAG, EVAL_SEED, example index)``, independent of ``config.seed``.
"""
import dataclasses
import functools
from typing import Any

import numpy as np

from gen_jax.data.preprocess import Preprocessing, preprocess_batch

SHUFFLE_TAG = 0x5348
TRAIN_TAG = 0x5452
EVAL_TAG = 0x4556
EVAL_SEED = 0


@functools.lru_cache(maxsize=8)
def epoch_permutation(seed: int, epoch: int, n: int) -> np.ndarray:
  """The example order int64 [n] of ``epoch`` of the train stream for ``seed``."""
  return np.random.default_rng([SHUFFLE_TAG, seed, epoch]).permutation(n)


def stream_examples(seed: int, positions: np.ndarray, n: int) -> np.ndarray:
  """Example index int64 [len(positions)] at each train-stream position (see module docstring)."""
  epochs, offsets = np.divmod(positions, n)
  idx = np.empty_like(positions)
  for e in np.unique(epochs):
    sel = epochs == e
    idx[sel] = epoch_permutation(seed, int(e), n)[offsets[sel]]
  return idx


@dataclasses.dataclass(frozen=True)
class TrainBatches:
  """``self(k)``: this process's local batch at train step ``k`` (picklable, thread-safe)."""
  source: Any
  pp: Preprocessing
  seed: int
  global_batch: int
  local_batch: int
  process_index: int

  def positions(self, step: int) -> np.ndarray:
    start = step * self.global_batch + self.process_index * self.local_batch
    return np.arange(start, start + self.local_batch, dtype=np.int64)

  def __call__(self, step: int) -> dict[str, np.ndarray]:
    pos = self.positions(step)
    raw = self.source.gather(stream_examples(self.seed, pos, len(self.source)))
    return preprocess_batch(raw, pos, (TRAIN_TAG, self.seed), self.pp)


@dataclasses.dataclass(frozen=True)
class EvalBatches:
  """``self(k)``: this process's local eval batch ``k`` with a float32 ``mask`` [local_batch]."""
  source: Any
  pp: Preprocessing
  spec: dict                     # key -> (shape, dtype) of one preprocessed example
  global_batch: int
  local_batch: int
  process_index: int

  def __len__(self) -> int:
    return -(-len(self.source) // self.global_batch)

  def __call__(self, step: int) -> dict[str, np.ndarray]:
    start = step * self.global_batch + self.process_index * self.local_batch
    idx = np.arange(start, start + self.local_batch, dtype=np.int64)
    real = idx[idx < len(self.source)]
    out = {k: np.zeros((self.local_batch,) + shape, dtype) for k, (shape, dtype) in self.spec.items()}
    if len(real):
      batch = preprocess_batch(self.source.gather(real), real, (EVAL_TAG, EVAL_SEED), self.pp)
      for k, v in batch.items():
        out[k][:len(real)] = v
    out['mask'] = (np.arange(self.local_batch) < len(real)).astype(np.float32)
    return out
