"""Embedded offline datasets as tfds ``GeneratorBasedBuilder``s (no network, no TensorFlow).

``digits``, ``mnist5k``, ``toy2d/<density>``, ``signals1d`` and ``pydocs`` (text; see each module's docstring),
prepared in ``array_record`` format with ``prepare_embedded``; read with ``builder.as_data_source(split)``.
"""
from gen_jax.data.builders import _compat

_compat.ensure_importlib_resources()

# pylint: disable=g-import-not-at-top,wrong-import-position
from gen_jax.data.builders.digits import Digits
from gen_jax.data.builders.mnist5k import Mnist5k
from gen_jax.data.builders.prepare import EMBEDDED, embedded_builder, prepare_embedded, resolve_data_dir
from gen_jax.data.builders.pydocs import Pydocs
from gen_jax.data.builders.signals1d import Signals1d, count_spectral_peaks
from gen_jax.data.builders.toy2d import Toy2d, toy2d_log_density, toy2d_mode_std, toy2d_modes

__all__ = ['Digits', 'EMBEDDED', 'Mnist5k', 'Pydocs', 'Signals1d', 'Toy2d', 'count_spectral_peaks', 'embedded_builder',
           'prepare_embedded', 'resolve_data_dir', 'toy2d_log_density', 'toy2d_mode_std', 'toy2d_modes']
