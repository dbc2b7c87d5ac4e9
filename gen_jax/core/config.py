"""Validation of the config entries every experiment shares (DESIGN.md section 4)."""
import json
import os
from typing import Any

from gen_jax.core import checks
from gen_jax.core.errors import ConfigError
from gen_jax.core.optim import validate_optim_config

REQUIRED_FIELDS = ('family', 'seed', 'batch_size', 'num_train_steps', 'log_every', 'eval_every',
                   'checkpoint_every', 'sample_every', 'dataset', 'model', 'optim', 'mesh')


def validate_common(config: Any) -> None:
  """Checks the conventional fields; raises ConfigError naming the field and what is allowed."""
  missing = [f for f in REQUIRED_FIELDS if f not in config]
  if missing:
    raise ConfigError(f'the config lacks {", ".join(missing)}; every experiment sets '
                      f'{", ".join(REQUIRED_FIELDS)} (see experiments/autoencoders/vae_mnist5k.py).')
  for name in ('batch_size', 'num_train_steps'):
    checks.integer(config[name], name, 1)
  for name in ('log_every', 'eval_every', 'sample_every'):
    checks.integer(config[name], name, 0, hint='0 disables it')
  checks.integer(config['checkpoint_every'], 'checkpoint_every', 0,
                 hint='0: no periodic checkpoints; the final step is always saved')
  checks.integer(config.get('keep_checkpoints', 3), 'keep_checkpoints', 1,
                 hint='the newest checkpoints kept; a run always keeps its last one')
  if 'name' not in config.dataset or not config.dataset.name:
    raise ConfigError('config.dataset.name is empty; name an embedded dataset (e.g. mnist5k) or a tfds one.')
  if 'name' not in config.model or not config.model.name:
    raise ConfigError('config.model.name is empty; the family lists the allowed model names.')
  validate_optim_config(config.optim, config.num_train_steps)


def config_to_dict(config: Any) -> dict:
  """A JSON-safe plain dict of a ConfigDict (for checkpoints and logs)."""
  return json.loads(config.to_json_best_effort(sort_keys=True))


class Variants:
  """The variants an experiment file accepts after ``:`` in ``--config=file.py:a,b`` (any order).

  Declared once at the top of every experiment file::

    VARIANTS = Variants('tiny', 'mlp', 'linear', 'cosine', exclusive=[('linear', 'cosine')])

    def get_config(arg=None):
      v = VARIANTS.parse(arg)                      # a frozenset of the chosen names
      schedule = v.pick('linear', 'cosine', default='linear')

  ``parse`` refuses unknown names (listing the allowed ones) and two names of one ``exclusive``
  group (naming both), before any config is built. ``tests/test_experiments.py`` checks every
  group of every experiment file.
  """

  def __init__(self, *names: str, exclusive: tuple[tuple[str, ...], ...] | list = ()):
    self.names = tuple(names)
    self.exclusive = tuple(tuple(g) for g in exclusive)
    for group in self.exclusive:
      unknown = [g for g in group if g not in self.names]
      if unknown or len(group) < 2:
        raise ValueError(f'exclusive group {group} must name at least two of the variants {self.names}.')

  def parse(self, arg: str | None) -> 'Chosen':
    names = [v.strip() for v in (arg or '').split(',') if v.strip()]
    unknown = [v for v in names if v not in self.names]
    if unknown:
      raise ConfigError(f'unknown config variant(s) {", ".join(map(repr, unknown))}; allowed: '
                        f'{", ".join(self.names)} (comma-separated, e.g. "{self.names[-1]},tiny"; or none).')
    chosen = Chosen(names)
    for group in self.exclusive:
      both = [g for g in group if g in chosen]
      if len(both) > 1:
        raise ConfigError(f'config variants {" and ".join(both)} exclude each other; pick one of '
                          f'{", ".join(group)}.')
    return chosen

  def __repr__(self) -> str:
    groups = ''.join(f' [{"|".join(g)}]' for g in self.exclusive)
    return f'Variants({", ".join(self.names)}{groups})'


class Chosen(frozenset):
  """The variants chosen on the command line (a frozenset of names)."""

  def pick(self, *group: str, default: str | None = None) -> str | None:
    """The one name of ``group`` that was chosen, else ``default`` (``parse`` refused several)."""
    return next((g for g in group if g in self), default)


def base_config():
  """The fields every experiment shares, with their defaults (an ml_collections ConfigDict)."""
  import ml_collections
  c = ml_collections.ConfigDict()
  c.family = ''
  c.seed = 0
  c.batch_size = 128            # global, over all devices and hosts
  c.eval_batch_size = 0         # 0: same as batch_size
  c.num_train_steps = 1000
  c.log_every = 50
  c.eval_every = 500
  c.checkpoint_every = 500
  c.sample_every = 500
  c.keep_checkpoints = 3
  c.async_checkpointing = True
  c.dataset = ml_collections.ConfigDict(dict(
      name='', data_dir='', train_split='train', eval_split='test', scale='01', binarize='none',
      dequantize='none', num_workers=0))
  c.model = ml_collections.ConfigDict(dict(name='', dtype='float32'))
  c.optim = ml_collections.ConfigDict(dict(
      name='adam', lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4, schedule='constant',
      warmup_steps=0, end_lr_factor=0.0, grad_clip=1.0, ema_decay=0.999))
  c.mesh = ml_collections.ConfigDict(dict(data=-1, fsdp=1))
  c.sample = ml_collections.ConfigDict(dict(num=64))
  # What --mode=eval computes (gen_jax/eval/config_eval.py): 'nll' is the family's per-example
  # eval step; 'fid', 'kid', 'precision_recall', 'classifier' score samples in a feature space.
  c.eval = ml_collections.ConfigDict(dict(metrics=('nll',), num_samples=10_000, sample_batch_size=500,
                                          feature_net='classifier'))
  return c


def load_module(path: str):
  """Imports a Python file (an experiment config or a script) as a module, without running ``__main__``."""
  import importlib.util
  name = 'gen_jax_experiment_' + ''.join(c if c.isalnum() else '_' for c in os.path.abspath(path))
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def load_experiment(path: str, arg: str | None = None):
  """``get_config(arg)`` of an experiment file (e.g. 'experiments/autoencoders/vae_mnist5k.py').

  Relative paths are tried from the current directory, then from the repository root.
  """
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  full = path if os.path.isfile(path) else os.path.join(root, path)
  if not os.path.isfile(full):
    raise ConfigError(f'experiment config {path!r} not found (looked in {os.getcwd()} and {root}).')
  module = load_module(full)
  if not hasattr(module, 'get_config'):
    raise ConfigError(f'{path} is not an experiment config: it has no get_config(arg) (study_*.py files are scripts).')
  return module.get_config(arg)
