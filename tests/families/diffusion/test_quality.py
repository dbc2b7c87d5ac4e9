"""Learning quality on 8 Gaussians (slow: about a minute each; ``pytest -m slow``).

The reference numbers come from the data: every one of the 8 modes must be hit, most samples must be
within 3 std of a mode, and the likelihoods must lie above the data's entropy (a model cannot beat it)
but not far above it. The entropy of the well-separated mixture is ``ln 8 + ln(2 pi e std^2)`` nats.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gen_jax.data import toy2d_mode_std, toy2d_modes
from gen_jax.eval import mode_coverage
from gen_jax.families import diffusion as fam
from tests import helpers

MODES, STD = toy2d_modes('8gaussians'), toy2d_mode_std('8gaussians')
ENTROPY_BPD = (math.log(8) + math.log(2 * math.pi * math.e * STD ** 2)) / (2 * math.log(2))


def batch(i, n=256):
  rng = np.random.default_rng(i)
  label = rng.integers(0, 8, n)
  return {'x': jnp.asarray(MODES[label] + STD * rng.normal(size=(n, 2)), jnp.float32),
          'label': jnp.asarray(label, jnp.int32), 'mask': jnp.ones(n)}


def trained(config, steps=3000):
  config.num_train_steps = steps
  state = fam.init(jax.random.key(0), config, None)
  step = jax.jit(fam.make_train_step(config))
  for i in range(steps):
    state, _ = step(state, batch(i), jax.random.key(1))
  return state


def coverage(state, config, **sample):
  c = config.copy_and_resolve_references()
  c.sample.update(sample)
  x = np.asarray(jax.jit(lambda s, r: fam.sample(s, r, 2000, c))(state, jax.random.key(5)))
  return mode_coverage(x, MODES, STD)


@pytest.mark.slow
def test_ddpm_learns_8_gaussians():
  c = helpers.load_config('experiments/diffusion/ddpm_toy2d.py', '8gaussians')
  state = trained(c)
  for sample, hq in [({'sampler': 'ddpm', 'steps': 0}, 0.8), ({'sampler': 'ddim', 'steps': 50}, 0.6)]:
    cov = coverage(state, c, **sample)
    assert cov['modes_hit'] == 8 and cov['high_quality_fraction'] > hq, (sample, cov)
  ev = jax.jit(fam.make_eval_step(c))(state, batch(10 ** 6, 2000), jax.random.key(0))
  bpd = float(jnp.mean(ev['bits_per_dim']))
  assert ENTROPY_BPD - 0.05 < bpd < ENTROPY_BPD + 1.0, (bpd, ENTROPY_BPD)


@pytest.mark.slow
def test_vp_sde_learns_8_gaussians_and_its_ode_likelihood_is_tight():
  c = helpers.load_config('experiments/diffusion/ddpm_toy2d.py', '8gaussians')
  c.diffusion.formulation = 'sde'
  c.diffusion.sde = 'vp'
  c.sample.sampler = 'pc'
  c.sample.snr = 0.05
  state = trained(c)
  for sample in ({'sampler': 'pc', 'steps': 500}, {'sampler': 'ode', 'ode_rtol': 1e-4, 'ode_atol': 1e-4}):
    cov = coverage(state, c, **sample)
    assert cov['modes_hit'] == 8 and cov['high_quality_fraction'] > 0.7, (sample, cov)
  c.diffusion.ode_bpd = True
  c.diffusion.ode_rtol = c.diffusion.ode_atol = 1e-4
  ev = jax.jit(fam.make_eval_step(c))(state, batch(10 ** 6, 1000), jax.random.key(0))
  bpd = float(jnp.mean(ev['bits_per_dim']))
  assert ENTROPY_BPD - 0.05 < bpd < ENTROPY_BPD + 0.5, (bpd, ENTROPY_BPD)
