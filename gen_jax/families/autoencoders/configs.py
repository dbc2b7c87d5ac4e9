"""Config helpers shared by the experiment files in ``experiments/autoencoders/``.

Variant syntax: ``--config=experiments/autoencoders/vae_mnist5k.py:mog,tiny`` -- a comma-separated
list of variant names, in any order; every file accepts ``tiny`` (a seconds-long smoke test).
"""
from typing import Any

import ml_collections

from gen_jax.core.config import base_config
from gen_jax.core.errors import ConfigError


def parse_variants(arg: str | None, allowed: tuple[str, ...]) -> frozenset[str]:
  """The set of variants in ``arg`` ('a,b,c'; '' or None for none); ConfigError names unknown ones."""
  names = [v.strip() for v in (arg or '').split(',') if v.strip()]
  unknown = [v for v in names if v not in allowed]
  if unknown:
    raise ConfigError(f'unknown config variant(s) {", ".join(map(repr, unknown))}; allowed: {", ".join(allowed)} '
                      '(comma-separated, e.g. "mlp,tiny"; or none).')
  return frozenset(names)


def exclusive(variants: frozenset[str], group: tuple[str, ...]) -> str | None:
  """The one variant of ``group`` present in ``variants`` (None if none); ConfigError for several."""
  chosen = [v for v in group if v in variants]
  if len(chosen) > 1:
    raise ConfigError(f'config variants {", ".join(chosen)} exclude each other; pick one of {", ".join(group)}.')
  return chosen[0] if chosen else None


def autoencoder_base(model_name: str, latent_dim: int = 32) -> ml_collections.ConfigDict:
  """The common part of the mnist5k autoencoder experiments (28x28 grey-level digits in [0, 1])."""
  c = base_config()
  c.family = 'autoencoders'
  c.batch_size = 128
  c.num_train_steps = 2000
  c.log_every = 100
  c.eval_every = 500
  c.checkpoint_every = 500
  c.sample_every = 500
  c.dataset.name = 'mnist5k'
  c.model.name = model_name
  c.model.image_shape = (28, 28, 1)
  c.model.features = (16, 32)
  c.model.extra_convs = 0
  c.model.hidden = 256
  c.model.mlp_hidden = (512, 256)
  c.model.latent_dim = latent_dim
  c.model.likelihood = 'bernoulli'
  c.model.decoder_scale = 0.1
  c.model.exclude_labels = ()
  c.optim.lr = 1e-3
  c.optim.schedule = 'cosine'
  c.optim.warmup_steps = 100
  c.optim.end_lr_factor = 0.05
  c.optim.ema_decay = 0.999
  add_eval_section(c)
  return c


def add_eval_section(c: Any) -> None:
  """``config.eval``: iwae_k (importance samples for the IWAE bound; 0 = off, the fast default for
  evals during training) and iwae_chunk (samples per chunk; 0 = auto)."""
  c.eval.update(dict(iwae_k=0, iwae_chunk=0))


def shrink_to_tiny(c: Any) -> None:
  """A seconds-long smoke test of the same model: 12 steps of batch 16, small networks."""
  c.batch_size = 16
  c.num_train_steps = 12
  c.log_every = 4
  c.eval_every = 12
  c.checkpoint_every = 6
  c.sample_every = 12
  c.eval_batch_size = 200
  c.model.features = (8, 16)
  c.model.hidden = 32
  c.model.mlp_hidden = (64, 32)
  c.model.latent_dim = min(int(c.model.latent_dim), 4)
  c.model.mog_components = 3
  c.optim.warmup_steps = 2
