"""Workarounds that let tensorflow-datasets build and read datasets without TensorFlow.

tfds 4.9.x imports ``importlib_resources`` (a backport) in ``DatasetBuilder.code_path``, which
runs on every ``download_and_prepare``, but only declares the dependency for Python < 3.9. When
the backport is missing we alias it to the standard library's ``importlib.resources``, which has
the one attribute tfds uses (``abc.Traversable``) since Python 3.11.
"""
import importlib
import importlib.resources
import sys


def ensure_importlib_resources() -> None:
  """Makes ``import importlib_resources`` succeed (no-op if the backport is installed)."""
  if 'importlib_resources' in sys.modules:
    return
  try:
    importlib.import_module('importlib_resources')
  except ImportError:
    importlib.import_module('importlib.resources.abc')
    sys.modules['importlib_resources'] = importlib.resources
