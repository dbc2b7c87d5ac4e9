"""The family registry: ``config.family`` names a module that follows the family contract.

A family module exports (DESIGN.md section 2)::

  init(rng, config, example_batch) -> TrainState
  make_train_step(config) -> (state, batch, rng) -> (state, metrics)   # metrics: flat dict of scalars
  make_eval_step(config)  -> (state, batch, rng) -> per-example metrics # flat dict of [B] arrays
  sample(state, rng, num, config) -> samples

and optionally::

  validate_config(config, dataset_info) -> None     # raise ConfigError before anything compiles
  visualize(state, batch, rng, config) -> {name: images [N, H, W, C] in [0, 1]}   # PNG grids

To add a family, create ``gen_jax/families/<name>/`` with those functions in its
``__init__`` and add the name to ``FAMILIES``; nothing in ``core/`` or ``train.py`` changes.
"""
import importlib
from types import ModuleType

from gen_jax.core.errors import ConfigError

FAMILIES = ('autoencoders', 'diffusion')
REQUIRED = ('init', 'make_train_step', 'make_eval_step', 'sample')


def get_family(name: str) -> ModuleType:
  """Imports the family module for ``config.family``; ConfigError if unknown."""
  if name not in FAMILIES:
    raise ConfigError(f'config.family={name!r} is not a family; allowed: {", ".join(FAMILIES)}.')
  module = importlib.import_module(f'gen_jax.families.{name}')
  missing = [f for f in REQUIRED if not hasattr(module, f)]
  if missing:
    raise TypeError(f'family {name!r} does not implement {missing} of the family contract.')
  return module
