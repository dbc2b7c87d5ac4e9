"""Preparing the embedded datasets offline, safely from several processes at once.

    python -m gen_jax.data.builders.prepare [DATA_DIR]     # prepares every embedded dataset

Prepared data lives in ``<data_dir>/<name>/<version>/`` (``<data_dir>/toy2d/<density>/1.0.0/``
for toy2d) as ``array_record`` files, where ``data_dir`` defaults to ``$TFDS_DATA_DIR`` or
``~/tensorflow_datasets``. Preparation is idempotent: a prepared dataset is reused. Concurrent
preparers (pytest-xdist workers, several hosts on a shared file system) serialise on an
``fcntl.flock`` lock file ``<data_dir>/.gen_jax-<name>.lock``; tfds itself writes into a
temporary directory and renames it when complete, so readers never see partial data.
"""
import contextlib
import errno
import fcntl
import os
import sys
from typing import Iterator

from absl import logging
import tensorflow_datasets as tfds

from gen_jax.data.builders import digits, mnist5k, pydocs, signals1d, toy2d

EMBEDDED = ('digits', 'mnist5k') + tuple(f'toy2d/{n}' for n in toy2d.NAMES) + ('signals1d', 'pydocs')
_BUILDERS = {'digits': digits.Digits, 'mnist5k': mnist5k.Mnist5k, 'toy2d': toy2d.Toy2d,
             'signals1d': signals1d.Signals1d, 'pydocs': pydocs.Pydocs}


def resolve_data_dir(data_dir: str | None = None) -> str:
  """``data_dir`` if non-empty, else ``$TFDS_DATA_DIR``, else ``~/tensorflow_datasets``.

  Local paths are made absolute; URLs such as ``gs://bucket/tfds`` are returned unchanged.
  """
  path = data_dir or os.environ.get('TFDS_DATA_DIR') or os.path.join('~', 'tensorflow_datasets')
  if '://' in path:
    return path
  return os.path.abspath(os.path.expanduser(path))


def embedded_builder(name: str, data_dir: str | None = None) -> tfds.core.DatasetBuilder:
  """The (possibly unprepared) tfds builder of embedded dataset ``name`` (e.g. 'toy2d/moons')."""
  if name not in EMBEDDED:
    raise ValueError(f'{name!r} is not an embedded dataset; embedded: {", ".join(EMBEDDED)}.')
  base, _, config = name.partition('/')
  kwargs = {'config': config} if config else {}
  return _BUILDERS[base](data_dir=resolve_data_dir(data_dir), file_format='array_record', **kwargs)


@contextlib.contextmanager
def file_lock(path: str) -> Iterator[None]:
  """An exclusive inter-process lock (``fcntl.flock``) held for the ``with`` body.

  On file systems without locks (object stores such as ``gs://``, some FUSE mounts) the body runs
  unlocked: tfds still writes into a temporary directory and renames it when complete.
  """
  if '://' in path:
    yield
    return
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'a', encoding='utf-8') as f:
    try:
      fcntl.flock(f.fileno(), fcntl.LOCK_EX)
    except OSError as e:
      if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
        raise
      logging.warning('cannot lock %s (%s); preparing without a lock.', path, e)
      yield
      return
    try:
      yield
    finally:
      fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def prepare_embedded(name: str, data_dir: str | None = None) -> tfds.core.DatasetBuilder:
  """Prepares embedded dataset ``name`` in ``data_dir`` (once) and returns its prepared builder."""
  builder = embedded_builder(name, data_dir)
  if builder.is_prepared():
    return builder
  root = resolve_data_dir(data_dir)
  with file_lock(f'{root}/.gen_jax-{name.replace("/", "-")}.lock'):
    builder = embedded_builder(name, root)  # another process may have finished meanwhile
    if not builder.is_prepared():
      builder.download_and_prepare(
          download_dir=f'{root}/downloads',
          download_config=tfds.download.DownloadConfig(try_download_gcs=False))
  return embedded_builder(name, root)


def main(argv: list[str]) -> None:
  """Prepares all embedded datasets into ``argv[1]`` (or the default data_dir) and reports times."""
  import time  # pylint: disable=g-import-not-at-top
  data_dir = resolve_data_dir(argv[1] if len(argv) > 1 else None)
  for name in EMBEDDED:
    t = time.perf_counter()
    builder = prepare_embedded(name, data_dir)
    sizes = {s: i.num_examples for s, i in builder.info.splits.items()}
    print(f'{name:20s} {sizes} in {time.perf_counter() - t:.2f}s -> {builder.data_path}', flush=True)


if __name__ == '__main__':
  main(sys.argv)
