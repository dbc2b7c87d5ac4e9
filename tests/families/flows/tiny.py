"""Tiny flow configs and batches shared by the family's tests (8x8 images, 2-D points)."""
import jax
import jax.numpy as jnp
import numpy as np

from gen_jax.data import DatasetInfo
from gen_jax.families.flows.config import flow_config


def image_info(shape=(8, 8, 1)):
  return DatasetInfo('digits', 'image', {'image': (shape, np.float32), 'label': ((), np.int32)}, 1000, 100, 10)


POINTS_INFO = DatasetInfo('toy2d/moons', 'points', {'x': ((2,), np.float32), 'label': ((), np.int32)}, 1000, 100, 2)


def config(name: str, shape=(8, 8, 1), **fields):
  """A tiny flow ``name`` on images of ``shape`` (digits, uniformly dequantized in [0, 1]) or on 2-D points
  (``shape=(2,)``, toy2d/moons); ``fields`` override ``config.model`` ('ffjord.x' keys: ``config.ffjord``)."""
  c = flow_config(name)
  c.batch_size = 8
  c.num_train_steps = 10
  c.optim.warmup_steps = 0
  c.model.data_shape = tuple(shape)
  c.model.depth = 2
  c.model.num_levels = 2
  c.model.hidden = 8
  c.model.spline_bins = 4
  c.ffjord.hidden = 8
  c.ffjord.layers = 2
  c.ffjord.rtol = c.ffjord.atol = 1e-3
  if len(shape) == 3:
    c.dataset.name, c.dataset.scale, c.dataset.dequantize = 'digits', '01', 'uniform'
  else:
    c.dataset.name, c.dataset.scale = 'toy2d/moons', 'none'
  for k, v in fields.items():
    node, key = (c.ffjord, k[7:]) if k.startswith('ffjord.') else (c.model, k)
    node[key] = v
  return c


def batch(shape=(8, 8, 1), n=8, seed=0):
  """A batch of dequantized-looking images in [0, 1] (digit-like blobs) or of two-moons points."""
  rng = np.random.default_rng(seed)
  if len(shape) == 3:
    yy, xx = np.mgrid[:shape[0], :shape[1]] / max(shape[0] - 1, 1)
    centers = rng.uniform(0.3, 0.7, (n, 2))
    blob = np.exp(-((yy[None] - centers[:, :1, None]) ** 2 + (xx[None] - centers[:, 1:, None]) ** 2) / 0.05)
    pix = np.floor(255 * blob)[..., None].repeat(shape[2], -1) + rng.uniform(size=(n,) + tuple(shape))
    return {'image': jnp.asarray(pix / 256, jnp.float32), 'label': jnp.zeros(n, jnp.int32), 'mask': jnp.ones(n)}
  t = rng.uniform(0, np.pi, n)
  k = rng.integers(0, 2, n)
  x = np.where(k[:, None] == 0, np.stack([np.cos(t), np.sin(t)], 1), np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1))
  x = 2 * (x + 0.1 * rng.normal(size=(n, 2))) + np.array([-1.0, -0.2])
  return {'x': jnp.asarray(x, jnp.float32), 'label': jnp.asarray(k, jnp.int32), 'mask': jnp.ones(n)}


def init(config, batch):
  """``flows.init`` under jit (ActNorm initialised from ``batch``)."""
  from gen_jax.families import flows  # pylint: disable=g-import-not-at-top
  return jax.jit(lambda r, b: flows.init(r, config, b))(jax.random.key(0), batch)
