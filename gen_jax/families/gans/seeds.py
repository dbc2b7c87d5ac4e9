"""Training several seeds of one small GAN at once: ``jax.vmap`` of the family's own ``init`` and
``make_train_step`` over seeds, ``lax.scan`` over steps, batches drawn on the device from an in-memory
dataset. Used by the studies that need many short runs (mode collapse, hyperparameter grids); any
research code can do the same with the contract's functions.

Each seed is a full, independent run: its own initialisation, its own batches and noise. Training
stops updating a seed once its loss is non-finite (it is reported as diverged).
"""
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gen_jax.families.gans import sampling
from gen_jax.families.gans import step as step_lib


def train_seeds(config: Any, data: dict[str, np.ndarray], seeds: list[int], steps: int,
                chunk: int = 250) -> tuple[Any, dict[str, np.ndarray]]:
  """Trains ``config`` once per seed on ``data`` ({'x' or 'image': [N, ...], 'label': [N]}).

  Returns ``(states, info)``: the stacked final TrainStates (leading axis = seed) and
  ``info = {'diverged': bool [S], 'diverged_at': int [S] (-1 if not), 'loss': float [S, steps / chunk]
  (the mean loss of each chunk of steps)}``. ``steps`` is rounded up to a multiple of ``chunk``.
  """
  key = 'image' if 'image' in data else 'x'
  arrays = {k: jnp.asarray(v) for k, v in data.items() if k in (key, 'label')}
  n = arrays[key].shape[0]
  b = int(config.batch_size)
  example = {k: v[:b] for k, v in arrays.items()}
  keys = jax.vmap(jax.random.key)(jnp.asarray(seeds, jnp.uint32))
  train_step = step_lib.make_train_step(config)

  def init(k):
    return step_lib.init(jax.random.fold_in(k, 0), config, example)

  def one(state, k, alive):
    k_batch = jax.random.fold_in(jax.random.fold_in(k, 1), state.step)
    idx = jax.random.randint(k_batch, (b,), 0, n)
    batch = {name: v[idx] for name, v in arrays.items()}
    new, metrics = train_step(state, batch, jax.random.fold_in(k, 2))
    ok = alive & jnp.isfinite(metrics['loss'])
    new = jax.tree.map(lambda a, o: jnp.where(ok, a, o), new, state)   # a diverged run stays as it was
    return new, metrics['loss'], ok

  @jax.jit
  def run_chunk(states, alive):
    def body(carry, _):
      states, alive = carry
      states, loss, alive = jax.vmap(one)(states, keys, alive)
      return (states, alive), (loss, alive)
    (states, alive), (losses, alives) = jax.lax.scan(body, (states, alive), None, length=chunk)
    return states, alive, losses, alives

  states = jax.jit(jax.vmap(init))(keys)
  alive = jnp.ones((len(seeds),), bool)
  curve, died = [], np.full(len(seeds), -1)
  for c in range(-(-steps // chunk)):
    states, alive, losses, alives = run_chunk(states, alive)
    alives, losses = np.asarray(alives), np.asarray(losses)
    for s in range(len(seeds)):
      if died[s] < 0 and not alives[:, s].all():
        died[s] = c * chunk + int(np.argmin(alives[:, s]))
    curve.append(np.where(alives, losses, np.nan).mean(axis=0))
  return states, {'diverged': died >= 0, 'diverged_at': died, 'loss': np.stack(curve, axis=1)}


def sample_seeds(states: Any, config: Any, num: int, seed: int = 0) -> np.ndarray:
  """``num`` samples of each seed's generator: [S, num, ...] (host numpy)."""
  s = jax.tree.leaves(states)[0].shape[0]
  keys = jax.random.split(jax.random.key(seed), s)
  fn = jax.jit(jax.vmap(lambda st, k: sampling.sample(st, k, num, config)))
  return np.asarray(fn(states, keys))
