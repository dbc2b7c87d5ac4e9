"""Validation of the config entries every experiment shares (DESIGN.md section 4)."""
import json
from typing import Any

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
    v = config[name]
    if not isinstance(v, int) or v <= 0:
      raise ConfigError(f'config.{name}={v!r} must be a positive integer.')
  for name in ('log_every', 'eval_every', 'checkpoint_every', 'sample_every'):
    v = config[name]
    if not isinstance(v, int) or v < 0:
      raise ConfigError(f'config.{name}={v!r} must be an integer >= 0 (0 disables it).')
  if 'name' not in config.dataset or not config.dataset.name:
    raise ConfigError('config.dataset.name is empty; name an embedded dataset (e.g. mnist5k) or a tfds one.')
  if 'name' not in config.model or not config.model.name:
    raise ConfigError('config.model.name is empty; the family lists the allowed model names.')
  validate_optim_config(config.optim, config.num_train_steps)


def config_to_dict(config: Any) -> dict:
  """A JSON-safe plain dict of a ConfigDict (for checkpoints and logs)."""
  return json.loads(config.to_json_best_effort(sort_keys=True))


def parse_variant(arg: str | None, allowed: tuple[str, ...]) -> str:
  """The variant named after ``:`` in ``--config=file.py:variant`` (``''`` for none); ConfigError if unknown."""
  variant = (arg or '').strip()
  if variant and variant not in allowed:
    raise ConfigError(f'unknown config variant {variant!r}; allowed: {", ".join(allowed)} (or none).')
  return variant


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


def load_experiment(path: str, arg: str | None = None):
  """``get_config(arg)`` of an experiment file (e.g. 'experiments/autoencoders/vae_mnist5k.py').

  Relative paths are tried from the current directory, then from the repository root.
  """
  import importlib.util
  import os
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  full = path if os.path.isfile(path) else os.path.join(root, path)
  if not os.path.isfile(full):
    raise ConfigError(f'experiment config {path!r} not found (looked in {os.getcwd()} and {root}).')
  spec = importlib.util.spec_from_file_location('gen_jax_experiment_config', full)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)
