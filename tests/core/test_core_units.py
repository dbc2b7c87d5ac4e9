"""Unit tests of core/: schedules, optimizers, EMA, mesh arithmetic, config identity, image grids."""
import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from gen_jax.core import checkpoint, images, optim, sharding, state
from gen_jax.core.errors import ConfigError


def _optim(**kw):
  o = ml_collections.ConfigDict(dict(name='adam', lr=1e-2, schedule='constant', warmup_steps=0,
                                     end_lr_factor=0.0, grad_clip=1.0, ema_decay=0.99))
  o.update(kw)
  return o


def test_warmup_cosine_schedule_matches_formula():
  o = _optim(schedule='cosine', warmup_steps=10, end_lr_factor=0.1)
  f = optim.make_schedule(o, 110)
  for s in (0, 5, 10, 35, 60, 110):
    if s < 10:
      want = 1e-2 * s / 10
    else:
      t = (s - 10) / 100
      want = 1e-2 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))
    assert float(f(s)) == pytest.approx(want, rel=1e-5, abs=1e-9)


def test_linear_schedule_endpoints():
  f = optim.make_schedule(_optim(schedule='linear', end_lr_factor=0.0), 100)
  assert float(f(0)) == pytest.approx(1e-2)
  assert float(f(50)) == pytest.approx(5e-3)
  assert float(f(100)) == pytest.approx(0.0, abs=1e-9)


def test_gradient_clipping_bounds_the_update():
  tx = optim.make_optimizer(_optim(name='sgd', momentum=0.0, lr=1.0, grad_clip=0.5), 10)
  p = {'w': jnp.zeros(4)}
  g = {'w': jnp.full(4, 10.0)}
  upd, _ = tx.update(g, tx.init(p), p)
  assert float(optax.global_norm(upd)) == pytest.approx(0.5, rel=1e-5)


@pytest.mark.parametrize('bad,msg', [(dict(name='rmsprop'), 'allowed: adam, adamw, sgd'),
                                     (dict(schedule='step'), 'allowed: constant, cosine, linear'),
                                     (dict(lr=-1.0), 'positive'),
                                     (dict(ema_decay=1.0), '[0, 1)')])
def test_bad_optim_config_messages(bad, msg):
  with pytest.raises(ConfigError, match=None) as e:
    optim.make_optimizer(_optim(**bad), 100)
  assert msg in str(e.value)


def test_ema_update_and_warmup():
  e = state.ema_update({'a': jnp.array(1.0)}, {'a': jnp.array(3.0)}, 0.75)
  assert float(e['a']) == pytest.approx(0.75 * 1 + 0.25 * 3)
  assert float(state.ema_decay_at(jnp.array(0), 0.999)) == pytest.approx(0.1)
  assert float(state.ema_decay_at(jnp.array(10 ** 6), 0.999)) == pytest.approx(0.999)


def test_global_norm_matches_numpy():
  t = {'a': jnp.arange(3.0), 'b': {'c': jnp.ones((2, 2))}}
  assert float(state.global_norm(t)) == pytest.approx(np.sqrt(0 + 1 + 4 + 4))


@pytest.mark.parametrize('cfg,n,want', [(dict(data=-1, fsdp=1), 8, (8, 1)), (dict(data=-1, fsdp=2), 8, (4, 2)),
                                        (dict(data=2, fsdp=-1), 8, (2, 4)), (dict(data=1, fsdp=1), 1, (1, 1))])
def test_mesh_shape(cfg, n, want):
  assert sharding.mesh_shape(ml_collections.ConfigDict(cfg), n) == want


@pytest.mark.parametrize('cfg', [dict(data=3, fsdp=1), dict(data=-1, fsdp=3), dict(data=-1, fsdp=-1)])
def test_mesh_shape_errors(cfg):
  with pytest.raises(ConfigError, match='devices|at most one'):
    sharding.mesh_shape(ml_collections.ConfigDict(cfg), 8)


def test_batch_not_divisible_by_devices_message():
  mesh = jax.sharding.Mesh(np.array(jax.devices()[:1] * 1).reshape(1, 1), sharding.AXES)
  sharding.check_batch_size(7, mesh)  # one device: anything positive is fine
  with pytest.raises(ConfigError, match='positive multiple'):
    sharding.check_batch_size(0, mesh)


def test_fsdp_leaf_spec_shards_largest_divisible_dim():
  assert sharding._leaf_spec((256, 512), 4) == jax.sharding.PartitionSpec(None, 'fsdp')
  assert sharding._leaf_spec((10,), 4) == jax.sharding.PartitionSpec()  # small: replicated
  assert sharding._leaf_spec((257, 129), 4) == jax.sharding.PartitionSpec()  # nothing divisible
  assert sharding._leaf_spec((256, 512), 1) == jax.sharding.PartitionSpec()


def test_config_differences_names_identity_fields_only():
  a = {'family': 'autoencoders', 'model': {'latent_dim': 8}, 'dataset': {'name': 'mnist5k'}, 'batch_size': 8,
       'seed': 0, 'optim': {'name': 'adam', 'lr': 1e-3, 'ema_decay': 0.9}, 'num_train_steps': 10}
  b = {**a, 'num_train_steps': 20, 'optim': {**a['optim'], 'lr': 5e-4}}
  assert checkpoint.config_differences(a, b) == []
  c = {**a, 'model': {'latent_dim': 16}}
  diffs = checkpoint.config_differences(a, c)
  assert len(diffs) == 1 and 'model.latent_dim' in diffs[0] and '8' in diffs[0] and '16' in diffs[0]
  # A field that only the newer config has (added with a default) is not a difference.
  assert checkpoint.config_differences(a, {**a, 'model': {'latent_dim': 8, 'prior': 'gaussian'}}) == []


def test_image_grid_layout(tmp_path):
  imgs = np.zeros((5, 4, 3, 1), np.float32)
  imgs[2] = 1.0
  grid = images.make_grid(imgs, ncols=3, padding=1)
  assert grid.shape == (2 * 5 + 1, 3 * 4 + 1, 1)
  # image 2 sits in row 0, column 2: its pixels are white, image 0's are black.
  assert grid[1, 1 + 2 * 4, 0] == 255 and grid[1, 1, 0] == 0
  path = images.save_image_grid(imgs, str(tmp_path / 'g.png'), scale=2)
  from PIL import Image
  grid2 = images.make_grid(imgs)  # default: ceil(sqrt(5)) = 3 columns, padding 2
  assert Image.open(path).size == (2 * grid2.shape[1], 2 * grid2.shape[0])


def test_apply_gradients_matches_optax_and_ema_formula():
  tx = optim.make_optimizer(_optim(name='sgd', momentum=0.0, lr=0.5, grad_clip=0.0, ema_decay=0.9), 10)
  s0 = state.create_train_state({'w': jnp.array([1.0, 2.0])}, tx)
  s1 = state.apply_gradients(s0, {'w': jnp.array([2.0, -2.0])}, tx, ema_decay=0.9)
  np.testing.assert_allclose(s1.params['w'], [0.0, 3.0])
  d = min(0.9, 1 / 10)  # EMA warm-up at step 0: (1 + 0) / (10 + 0)
  np.testing.assert_allclose(s1.ema_params['w'], d * np.array([1.0, 2.0]) + (1 - d) * np.array([0.0, 3.0]),
                             rtol=1e-6)
  assert int(s1.step) == 1
