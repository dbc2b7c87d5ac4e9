"""DDPM / DDIM samplers and DDIM inversion on exact (analytic) denoisers."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gen_jax.families.diffusion import samplers
from gen_jax.families.diffusion import schedules as sch
from tests.families.diffusion import analytic

MEAN, STD = np.array([0.5, -0.3]), np.array([0.4, 0.9])


def test_ddim_eta0_is_deterministic_and_ignores_the_loop_noise():
  s = sch.make_schedule('linear', 100)
  fn = analytic.discrete_eps_fn(s, MEAN, STD)
  x_T = jax.random.normal(jax.random.key(0), (64, 2))
  a = samplers.ddim_sample(fn, s, (64, 2), jax.random.key(1), num_steps=20, eta=0.0, x_T=x_T)
  b = samplers.ddim_sample(fn, s, (64, 2), jax.random.key(2), num_steps=20, eta=0.0, x_T=x_T)
  np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  c = samplers.ddim_sample(fn, s, (64, 2), jax.random.key(2), num_steps=20, eta=1.0, x_T=x_T)
  assert np.abs(np.asarray(c) - np.asarray(a)).max() > 1e-2  # eta > 0 does use the noise


@pytest.mark.parametrize('param', ['eps', 'x0', 'v'])
def test_ddim_all_steps_eta1_is_the_ddpm_posterior_path(param):
  """DDIM with every timestep and eta = 1 is ancestral DDPM sampling with fixed-small variance."""
  T = 50
  s = sch.make_schedule('cosine', T)
  eps_fn = analytic.discrete_eps_fn(s, MEAN, STD)
  from gen_jax.families.diffusion import predictions as pred

  def fn(x, t):  # the same exact model expressed in the parameterization under test
    eps = eps_fn(x, t)
    x0 = pred.x0_from_eps(s, x, t, eps)
    return pred.training_target(param, s, x0, eps, t)

  rng = jax.random.key(3)
  a = samplers.ddpm_sample(fn, s, (32, 2), rng, param, 'fixed_small')
  b = samplers.ddim_sample(fn, s, (32, 2), rng, param, num_steps=T, eta=1.0)
  np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=2e-4)


def test_ddpm_with_exact_model_matches_the_data_moments():
  s = sch.make_schedule('linear', 1000)
  fn = analytic.discrete_eps_fn(s, MEAN, STD)
  for variance in ('fixed_small', 'fixed_large'):
    x = np.asarray(samplers.ddpm_sample(fn, s, (4000, 2), jax.random.key(0), variance=variance))
    np.testing.assert_allclose(x.mean(0), MEAN, atol=0.04)
    np.testing.assert_allclose(x.std(0), STD, rtol=0.05)
  # the respaced chain (100 of 1000 steps) with the large variance
  z = np.asarray(samplers.ddpm_sample(fn, s, (4000, 2), jax.random.key(1), variance='fixed_large', num_steps=100))
  np.testing.assert_allclose(z.mean(0), MEAN, atol=0.04)
  np.testing.assert_allclose(z.std(0), STD, rtol=0.05)


def test_ddim_converges_with_the_number_of_steps():
  """Deterministic DDIM is a first-order solver of the probability-flow ODE: the error of the sample
  std shrinks as the number of steps grows."""
  s = sch.make_schedule('linear', 200)
  fn = analytic.discrete_eps_fn(s, MEAN, STD)
  errs = []
  for steps in (10, 40, 200):
    y = np.asarray(samplers.ddim_sample(fn, s, (4000, 2), jax.random.key(0), num_steps=steps))
    np.testing.assert_allclose(y.mean(0), MEAN, atol=0.04)
    errs.append(np.abs(y.std(0) / STD - 1).max())
  assert errs[0] > errs[1] > errs[2] and errs[2] < 0.05


@pytest.mark.parametrize('steps', [100, 250])
def test_ddim_inversion_then_generation_reconstructs(steps):
  s = sch.make_schedule('linear', 1000)
  fn = analytic.discrete_eps_fn(s, MEAN, STD)
  x0 = jnp.asarray(MEAN + STD * np.random.default_rng(0).normal(size=(16, 2)), jnp.float32)
  z = samplers.ddim_invert(fn, s, x0, num_steps=steps)
  # the latent is close to standard normal in scale, and decoding returns the input
  assert 0.2 < float(jnp.std(z)) < 3.0
  back = samplers.ddim_sample(fn, s, x0.shape, jax.random.key(0), num_steps=steps, x_T=z)
  np.testing.assert_allclose(np.asarray(back), np.asarray(x0), atol=0.05 if steps == 100 else 0.02)


def test_samplers_compile_once():
  s = sch.make_schedule('linear', 20)
  fn = analytic.discrete_eps_fn(s, MEAN, STD)

  @jax.jit
  @chex.assert_max_traces(n=1)
  def run(rng):
    return (samplers.ddpm_sample(fn, s, (8, 2), rng), samplers.ddim_sample(fn, s, (8, 2), rng, num_steps=5),
            samplers.ddim_invert(fn, s, jnp.ones((8, 2)), num_steps=5))

  for i in range(3):
    out = run(jax.random.key(i))
  assert all(np.isfinite(np.asarray(o)).all() for o in out)
  # the sampling loop is one scan: the jaxpr has no T-fold unrolled model calls
  jaxpr = jax.make_jaxpr(lambda r: samplers.ddpm_sample(fn, s, (8, 2), r))(jax.random.key(0))
  assert 'scan' in str(jaxpr)
