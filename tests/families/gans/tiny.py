"""Tiny GAN configs (8x8 digits, 2-D points), fake batches and dataset infos shared by the family's tests."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from gen_jax.families import gans
from gen_jax.families.gans.config import gan_config


@dataclasses.dataclass
class Info:  # the fields of gen_jax.data.DatasetInfo that validate_config reads
  name: str = 'digits'
  kind: str = 'image'
  element_spec: dict = dataclasses.field(default_factory=lambda: {'image': ((8, 8, 1), np.float32),
                                                                  'label': ((), np.int32)})
  num_classes: int | None = 10


def points_info(name: str = 'toy2d/8gaussians', num_classes: int = 8) -> Info:
  return Info(name=name, kind='points', element_spec={'x': ((2,), np.float32), 'label': ((), np.int32)},
              num_classes=num_classes)


def config(name: str = 'dcgan', dataset: str = 'digits', **overrides):
  """A tiny ``name`` GAN on 8x8 digits in [-1, 1] (or 2-D points for ``dataset='toy2d/...'``);
  ``overrides`` are 'section.field' -> value (e.g. ``**{'gan.loss': 'hinge'}``)."""
  c = gan_config(name)
  c.batch_size = 8
  c.num_train_steps = 20
  c.dataset.name = dataset
  points = dataset.startswith('toy2d')
  c.dataset.scale = 'none' if points else '-11'
  c.model.data_shape = (2,) if points else (8, 8, 1)
  c.model.latent_dim = 4
  c.model.embed_dim = 4
  if name == 'mlp':
    c.model.hidden = (16, 16)
  elif name == 'dcgan':
    c.model.g_features = (8, 4)
    c.model.d_features = (4, 8)
  else:
    c.model.resolution = 8
    c.model.channels = (8, 4)
    if name == 'stylegan':
      c.model.w_dim = 8
      c.model.mapping_layers = 2
    else:
      c.model.stable_steps = 2
      c.model.fade_steps = 4
  for key, value in overrides.items():
    section, field = key.split('.')
    c[section][field] = value
  return c


def image_batch(n: int = 8, seed: int = 0) -> dict:
  rng = np.random.default_rng(seed)
  return {'image': jnp.asarray(rng.uniform(-1, 1, (n, 8, 8, 1)).astype(np.float32)),
          'label': jnp.asarray(np.arange(n) % 10, jnp.int32), 'mask': jnp.ones(n)}


def point_batch(n: int = 8, seed: int = 0) -> dict:
  rng = np.random.default_rng(seed)
  return {'x': jnp.asarray(rng.normal(size=(n, 2)).astype(np.float32)),
          'label': jnp.asarray(np.arange(n) % 8, jnp.int32), 'mask': jnp.ones(n)}


def init(c, batch):
  """``gans.init`` under jit (eager init costs seconds per model on a CPU)."""
  return jax.jit(lambda r, b: gans.init(r, c, b))(jax.random.key(0), batch)
