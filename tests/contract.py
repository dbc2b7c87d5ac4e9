"""The family contract (``gen_jax.families``), checked the same way for every family.

Every family's tests call ``check_contract`` on each model / loss / sampler combination they ship::

  state, ev = check_contract(family, config, batch, info)

It checks: ``validate_config`` accepts the config; ``init`` runs under jit; the train step traces
once (a second state and a second key do not recompile it), is pure (the same inputs give bitwise
the same outputs), advances ``state.step``, keeps the parameters finite and reports scalar metrics
with a finite 'loss' and a positive 'grad_norm'; the eval step traces once and gives finite
per-example ``[B]`` metrics; ``sample`` is jit-able, gives ``num`` finite samples of the data's
shape, and honours ``labels=`` for a conditional model and refuses them for an unconditional one.
"""
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest


def data_of(batch: dict) -> jax.Array:
  return batch['image'] if 'image' in batch else batch['x']


def check_contract(family: Any, config: Any, batch: dict, info: Any, steps: int = 2, num_samples: int = 4,
                   conditional: bool = False, sample: bool = True) -> tuple[Any, dict]:
  """Runs the contract checks (module docstring); returns ``(state after `steps` steps, eval metrics)``."""
  family.validate_config(config, info)
  state = jax.jit(lambda r, b: family.init(r, config, b))(jax.random.key(0), batch)
  assert int(state.step) == 0
  chex.clear_trace_counter()  # the counter is keyed by the step's code, shared by every config
  train_step = jax.jit(chex.assert_max_traces(family.make_train_step(config), n=1))
  s1, m1 = train_step(state, batch, jax.random.key(1))
  s1b, m1b = train_step(state, batch, jax.random.key(1))  # pure: the same inputs, the same outputs
  chex.assert_trees_all_equal(s1, s1b)
  chex.assert_trees_all_equal(m1, m1b)
  assert int(s1.step) == 1
  for i in range(steps - 1):  # new states and keys: no retrace (assert_max_traces)
    s1, m1 = train_step(s1, batch, jax.random.key(2 + i))
  assert int(s1.step) == steps
  assert {'loss', 'grad_norm'} <= set(m1), sorted(m1)
  assert all(np.ndim(v) == 0 for v in m1.values()), {k: np.shape(v) for k, v in m1.items()}
  assert np.isfinite(float(m1['loss'])) and float(m1['grad_norm']) > 0, m1
  assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(s1.params))

  eval_step = jax.jit(chex.assert_max_traces(family.make_eval_step(config), n=1))
  ev = eval_step(s1, batch, jax.random.key(7))
  eval_step(state, batch, jax.random.key(8))
  b = data_of(batch).shape[0]
  assert ev and all(np.shape(v) == (b,) for v in ev.values()), {k: np.shape(v) for k, v in ev.items()}
  assert all(np.isfinite(np.asarray(v)).all() for v in ev.values()), ev

  if sample:  # one compiled sampler per check (compiles dominate the suite's time)
    n = num_samples
    labels = jnp.arange(n, dtype=jnp.int32) % max(int(getattr(info, 'num_classes', 0) or 2), 1)
    if conditional:
      x = jax.jit(lambda s, r, l: family.sample(s, r, n, config, labels=l))(s1, jax.random.key(9), labels)
      with pytest.raises(ValueError, match='shape'):
        family.sample(s1, jax.random.key(9), n, config, labels=labels[:-1])
    else:
      x = jax.jit(lambda s, r: family.sample(s, r, n, config))(s1, jax.random.key(9))
      with pytest.raises(ValueError, match='unconditional'):
        family.sample(s1, jax.random.key(9), n, config, labels=labels)
    assert x.shape == (n,) + data_of(batch).shape[1:] and np.isfinite(np.asarray(x)).all()
  return s1, ev
