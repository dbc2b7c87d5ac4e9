"""The training state shared by every family."""
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


class TrainState(struct.PyTreeNode):
  """Everything a train step reads and writes, as one pytree.

  Attributes:
    step: int32 scalar, the number of completed train steps.
    params: model parameters (float32). Families with several networks use a dict
      (a GAN: ``{'g': ..., 'd': ...}``).
    opt_state: the optax state for ``params`` (a dict of states for several networks).
    ema_params: exponential moving average of ``params`` (same structure), or None.
    extra: family-specific arrays that are not trained by the optimizer (batch
      statistics, a GAN's running averages, ...); a pytree or None.

  Static things (apply functions, optimizers) are never stored here: the step factory
  closes over them, so the state is plain data that orbax can save and restore.
  """
  step: jax.Array
  params: Any
  opt_state: Any
  ema_params: Any = None
  extra: Any = None


def create_train_state(params: Any, optimizer, *, ema: bool = True, extra: Any = None,
                       opt_state: Any = None) -> TrainState:
  """Builds the initial state: step 0, ``optimizer.init(params)``, EMA initialised to params."""
  return TrainState(
      step=jnp.zeros((), jnp.int32),
      params=params,
      opt_state=optimizer.init(params) if opt_state is None else opt_state,
      ema_params=jax.tree.map(jnp.copy, params) if ema else None,
      extra=extra)


def ema_update(ema_params: Any, params: Any, decay: float | jax.Array) -> Any:
  """One EMA step: ``ema <- decay * ema + (1 - decay) * params`` (leafwise, float32)."""
  return jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, ema_params, params)


def ema_decay_at(step: jax.Array, decay: float, warmup: bool = True) -> jax.Array:
  """EMA decay at a step; with warm-up, ``min(decay, (1 + step) / (10 + step))``.

  The warm-up (as in TensorFlow's ExponentialMovingAverage with num_updates) keeps the
  average from being dominated by the random initialisation in short runs.
  """
  if not warmup:
    return jnp.asarray(decay, jnp.float32)
  s = step.astype(jnp.float32)
  return jnp.minimum(decay, (1.0 + s) / (10.0 + s))


def eval_params(state: TrainState) -> Any:
  """The parameters evaluation and sampling use: the EMA when the run keeps one, else ``params``."""
  return state.ema_params if state.ema_params is not None else state.params


def global_norm(tree: Any) -> jax.Array:
  """L2 norm over all leaves of a pytree (float32)."""
  leaves = jax.tree.leaves(tree)
  return jnp.sqrt(sum(jnp.sum(jnp.square(x.astype(jnp.float32))) for x in leaves))


def step_rng(rng: jax.Array, step: jax.Array) -> jax.Array:
  """The per-step key: the caller's key with the step folded in (contract, DESIGN.md 2)."""
  return jax.random.fold_in(rng, step)


def apply_gradients(state: TrainState, grads: Any, tx, ema_decay: float = 0.0) -> TrainState:
  """One optimizer update of ``state.params`` (and its EMA), with ``step`` incremented.

  The common tail of single-network train steps; a family with several networks (a GAN)
  updates each with its own ``tx`` and ``opt_state[name]`` the same way.
  """
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = jax.tree.map(lambda p, u: p + u, state.params, updates)
  ema = state.ema_params
  if ema is not None and ema_decay > 0:
    ema = ema_update(ema, params, ema_decay_at(state.step, ema_decay))
  return state.replace(step=state.step + 1, params=params, opt_state=opt_state, ema_params=ema)
