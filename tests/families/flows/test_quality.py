"""Learning on the checkerboard density (slow: one to a few minutes each; ``pytest -m slow``).

The reference numbers come from the data: the points are uniform on 8 squares of area 4, so the true
density's test NLL is exactly ln 32 nats per point; no model can beat it on average (beyond the test
set's noise), an untrained flow is far above it, and a flow that learned the density is close above it
and draws most of its samples inside the squares.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gen_jax.data.builders import toy2d
from gen_jax.families import flows
from tests import helpers

TRUE_NLL = math.log(32.0)


def batch(i, n=256):
  x, label = toy2d.sample_toy2d('checkerboard', n, np.random.default_rng(i))
  return {'x': jnp.asarray(x, jnp.float32), 'label': jnp.asarray(label, jnp.int32), 'mask': jnp.ones(n)}


def inside(x):
  """Whether points [n, 2] lie on the checkerboard's squares (where the true density is 1/32)."""
  col, row = np.floor(x[:, 0] / 2) + 2, np.floor(x[:, 1] / 2) + 2
  return (np.abs(x) < 4).all(1) & ((row + col) % 2 == 0)


def mean_nll(state, config, test):
  return float(jnp.mean(jax.jit(flows.make_eval_step(config))(state, test, jax.random.key(0))['nll']))


@pytest.mark.slow
@pytest.mark.parametrize('variant,steps,gap,share', [('realnvp', 2000, 0.35, 0.8), ('spline', 1500, 0.3, 0.85),
                                                     ('ffjord', 300, 1.0, None)])
def test_flow_learns_the_checkerboard(variant, steps, gap, share):
  """``gap``: how far above ln 32 the trained NLL may be; ``share``: the least fraction of samples on the
  squares (chance is about 1/2; FFJORD's 300 steps learn the density's scale and centre only, so its
  samples are not checked)."""
  c = helpers.load_config('experiments/flows/flows_toy2d.py', f'{variant},checkerboard')
  c.num_train_steps = steps
  state = flows.init(jax.random.key(0), c, batch(0))
  test = batch(10 ** 6, 2000)
  assert np.all(inside(np.asarray(test['x'])))
  untrained = mean_nll(state, c, test)
  step = jax.jit(flows.make_train_step(c))
  for i in range(steps):
    state, _ = step(state, batch(i + 1), jax.random.key(1))
  nll = mean_nll(state, c, test)
  x = np.asarray(jax.jit(lambda s, r: flows.sample(s, r, 2000, c))(state, jax.random.key(5)))
  got = (variant, untrained, nll, TRUE_NLL, float(np.mean(inside(x))))
  assert untrained > TRUE_NLL + 0.8, got  # ActNorm's data-dependent init already fits the data's scale
  assert TRUE_NLL - 0.05 < nll < min(TRUE_NLL + gap, untrained - 0.8), got
  assert share is None or np.mean(inside(x)) > share, got
