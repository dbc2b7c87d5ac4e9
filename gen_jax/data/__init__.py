"""Data layer: embedded offline datasets as tfds builders, and tfds + grain input pipelines.

Public API (see ``pipeline.py`` for the config fields and batch layout):
  EMBEDDED, DatasetInfo, DatasetError, get_dataset_info, make_train_iterator,
  make_eval_iterator, TrainIterator, EvalIterator, prepare_embedded, toy2d_modes, toy2d_mode_std.
"""
from gen_jax.data.builders import (prepare_embedded, resolve_data_dir, toy2d_log_density, toy2d_mode_std,
                                   toy2d_modes)
from gen_jax.data.errors import DatasetError
from gen_jax.data.pipeline import (EMBEDDED, DatasetInfo, EvalIterator, TrainIterator, get_dataset_info,
                                   make_eval_iterator, make_train_iterator)

__all__ = ['EMBEDDED', 'DatasetError', 'DatasetInfo', 'EvalIterator', 'TrainIterator', 'get_dataset_info',
           'make_eval_iterator', 'make_train_iterator', 'prepare_embedded', 'resolve_data_dir',
           'toy2d_log_density', 'toy2d_mode_std', 'toy2d_modes']
