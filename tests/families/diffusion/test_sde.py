"""Score SDEs: coefficients vs DDPM and SMLD, marginals vs the moment ODEs, DSM, PC / ODE samplers and the
probability-flow likelihood on Gaussian data with a closed-form score."""
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

from gen_jax.families.diffusion import likelihood
from gen_jax.families.diffusion import schedules as sch
from gen_jax.families.diffusion import sde as sde_lib
from gen_jax.families.diffusion import sde_samplers
from tests.families.diffusion import analytic

MEAN, STD = np.array([0.5, -0.3]), np.array([0.4, 0.9])


def test_vp_sde_is_the_limit_of_ddpm():
  T = 1000
  vp = sde_lib.SDE('vp')
  s = sch.make_schedule('linear', T)
  t = jnp.linspace(0.0, 1.0, T)
  # beta(t) = T * beta_t on the grid t_i = i / (T - 1)
  np.testing.assert_allclose(vp.beta(t), T * np.asarray(s.betas), rtol=1e-5)
  # the forward discretisation with dt = 1/T is DDPM's step x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) z
  x = jnp.ones((T, 3))
  f, g = vp.discretize(x, t, 1.0 / T)
  np.testing.assert_allclose(f[:, 0] + 1.0, np.sqrt(1 - np.asarray(s.betas)), rtol=1e-5)
  np.testing.assert_allclose(g, np.sqrt(np.asarray(s.betas)), rtol=1e-5)
  # Euler-Maruyama agrees with it to first order in dt
  np.testing.assert_allclose(vp.drift(x, t) / T, f, atol=0.5 * (20.0 / T) ** 2)
  np.testing.assert_allclose(vp.diffusion(t) / math.sqrt(T), g, rtol=1e-5)
  # marginals: m(t)^2 -> abar of the T-step chain, s(t)^2 = 1 - m^2
  m, std = vp.mean_std(jnp.array([0.25, 0.5, 1.0]))
  ac = np.asarray(sch.make_schedule('linear', 20000).alphas_cumprod, np.float64)[[4999, 9999, 19999]]
  np.testing.assert_allclose(np.log(np.asarray(m, np.float64) ** 2), np.log(ac), atol=0.01)
  np.testing.assert_allclose(np.asarray(std) ** 2, 1 - np.asarray(m) ** 2, rtol=1e-5)


def test_ve_sde_matches_smld():
  ve = sde_lib.SDE('ve', sigma_min=0.01, sigma_max=50.0)
  N = 100
  t = jnp.linspace(0.0, 1.0, N)
  sigmas = np.exp(np.linspace(np.log(0.01), np.log(50.0), N))  # NCSN's geometric noise levels
  np.testing.assert_allclose(ve.mean_std(t)[1], sigmas, rtol=1e-4)
  _, g = ve.discretize(jnp.zeros((N, 1)), t, 1.0 / (N - 1))
  np.testing.assert_allclose(g[1:], np.sqrt(sigmas[1:] ** 2 - sigmas[:-1] ** 2), rtol=1e-3)
  np.testing.assert_allclose(g[0], sigmas[0], rtol=1e-4)


@pytest.mark.parametrize('kind', sde_lib.SDES)
def test_marginals_solve_the_moment_odes(kind):
  """For dx = f(t) x dt + g dw: dm/dt = f m and d s^2/dt = 2 f s^2 + g^2 (with s(0) = 0, m(0) = 1)."""
  sde = sde_lib.SDE(kind)
  t = jnp.linspace(0.05, 0.95, 19)
  h = 1e-3
  m, s = (np.asarray(v, np.float64) for v in sde.mean_std(t))
  mp, sp = (np.asarray(v, np.float64) for v in sde.mean_std(t + h))
  mm, sm = (np.asarray(v, np.float64) for v in sde.mean_std(t - h))
  f = np.asarray(sde.drift(jnp.ones((19,)), t), np.float64)  # the coefficient f(t) of the linear drift
  g2 = np.asarray(sde.diffusion(t), np.float64) ** 2
  np.testing.assert_allclose((mp - mm) / (2 * h), f * m, rtol=2e-3, atol=1e-6)
  np.testing.assert_allclose((sp ** 2 - sm ** 2) / (2 * h), 2 * f * s ** 2 + g2, rtol=5e-3, atol=2e-4)  # float32
  np.testing.assert_allclose(sde.mean_std(jnp.zeros(1))[0], 1.0)
  np.testing.assert_allclose(sde.mean_std(jnp.zeros(1))[1], 0.0 if kind != 've' else 0.01, atol=1e-6)


@pytest.mark.parametrize('kind', ['vp', 've'])
def test_dsm_loss_of_the_exact_model_is_the_irreducible_error(kind):
  """E|E[z | x_t] - z|^2 = a^2 s^2 / (a^2 s^2 + b^2) per dimension, averaged over t ~ U(t_eps, 1)."""
  sde = sde_lib.SDE(kind)
  score = analytic.sde_score_fn(sde, MEAN, STD)
  eps_fn = lambda x, t: -score(x, t) * analytic.bcast(sde.mean_std(t)[1], x)  # noqa: E731
  x0 = jnp.asarray(MEAN + STD * np.random.default_rng(0).normal(size=(200000, 2)), jnp.float32)
  got = float(jnp.mean(sde_lib.dsm_loss(sde, eps_fn, x0, jax.random.key(0), t_eps=1e-3)))

  def integrand(t):
    a, b = (float(v) for v in sde.mean_std(jnp.float32(t)))
    return np.mean(a ** 2 * STD ** 2 / (a ** 2 * STD ** 2 + b ** 2))
  ref = integrate.quad(integrand, 1e-3, 1.0, limit=200)[0] / (1 - 1e-3)
  np.testing.assert_allclose(got, ref, rtol=0.02)


@pytest.mark.parametrize('kind,predictor,corrector,snr', [('vp', 'reverse_diffusion', 'langevin', 0.05),
                                                          ('vp', 'euler_maruyama', 'none', 0.0),
                                                          ('subvp', 'euler_maruyama', 'langevin', 0.05),
                                                          ('ve', 'reverse_diffusion', 'langevin', 0.16)])
def test_pc_sampler_with_exact_score_matches_the_data(kind, predictor, corrector, snr):
  sde = sde_lib.SDE(kind)
  score = analytic.sde_score_fn(sde, MEAN, STD)
  x = np.asarray(sde_samplers.pc_sample(sde, score, (4000, 2), jax.random.key(0), predictor, corrector, snr,
                                        num_steps=500))
  np.testing.assert_allclose(x.mean(0), MEAN, atol=0.05)
  np.testing.assert_allclose(x.std(0), STD, rtol=0.06)


def test_pc_sampler_compiles_once():
  sde = sde_lib.SDE('vp')
  score = analytic.sde_score_fn(sde, MEAN, STD)

  @jax.jit
  @chex.assert_max_traces(n=1)
  def run(rng):
    return sde_samplers.pc_sample(sde, score, (8, 2), rng, num_steps=20, corrector_steps=2)

  for i in range(3):
    assert np.isfinite(np.asarray(run(jax.random.key(i)))).all()


@pytest.mark.parametrize('kind', ['vp', 've'])
def test_probability_flow_sampling_and_encoding(kind):
  sde = sde_lib.SDE(kind)
  score = analytic.sde_score_fn(sde, MEAN, STD)
  x = np.asarray(sde_samplers.ode_sample(sde, score, (4000, 2), jax.random.key(0), rtol=1e-4, atol=1e-4))
  np.testing.assert_allclose(x.mean(0), MEAN, atol=0.05)
  np.testing.assert_allclose(x.std(0), STD, rtol=0.05)
  # encode to t = 1 and decode back: the ODE is invertible
  x0 = jnp.asarray(x[:16])
  z, _ = sde_samplers.probability_flow(sde, score, x0, 1e-3, 1.0, rtol=1e-6, atol=1e-6)
  back, _ = sde_samplers.probability_flow(sde, score, z, 1.0, 1e-3, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(np.asarray(back), np.asarray(x0), atol=2e-3)


@pytest.mark.parametrize('kind', ['vp', 'subvp', 've'])
@pytest.mark.parametrize('estimator', ['exact', 'rademacher'])
def test_ode_likelihood_of_gaussian_data_is_exact(kind, estimator):
  """The probability-flow NLL with the closed-form score equals the exact NLL of the (affine) flow of
  Gaussian marginals, and the Gaussian data likelihood up to the small prior mismatch at t = 1 (a
  diagonal Jacobian makes the Rademacher estimate exact as well)."""
  sde = sde_lib.SDE(kind)
  score = analytic.sde_score_fn(sde, MEAN, STD)
  x = jnp.asarray(MEAN + STD * np.random.default_rng(1).normal(size=(8, 2)), jnp.float32)
  t_eps = 1e-5
  nll, steps = likelihood.ode_nll(sde, score, x, jax.random.key(0), t_eps=t_eps, rtol=1e-5, atol=1e-5,
                                  estimator=estimator)
  np.testing.assert_allclose(np.asarray(nll), analytic.sde_flow_nll(sde, MEAN, STD, x, t_eps), atol=5e-4)
  np.testing.assert_allclose(np.asarray(nll), -analytic.gaussian_logp(MEAN, STD, x), atol=0.03)
  assert int(steps) > 2


def test_hutchinson_gaussian_estimator_is_unbiased():
  """With a non-diagonal Jacobian (correlated Gaussian data) the Gaussian-probe estimate is noisy but
  its mean over probes matches the exact divergence."""
  sde = sde_lib.SDE('vp')
  cov = np.array([[0.5, 0.3], [0.3, 0.4]])
  mean = np.array([0.2, -0.1])

  def score(x, t):
    a, b = sde.mean_std(t)
    a, b = analytic.bcast(a, x), analytic.bcast(b, x)
    prec = jnp.linalg.inv(a[:, :, None] ** 2 * jnp.asarray(cov, jnp.float32) + b[:, :, None] ** 2 * jnp.eye(2))
    return -jnp.einsum('bij,bj->bi', prec, x - a * jnp.asarray(mean, jnp.float32))

  x = jnp.tile(jnp.array([[0.3, 0.1]]), (512, 1))
  exact, _ = likelihood.ode_nll(sde, score, x[:1], jax.random.key(0), estimator='exact', rtol=1e-5, atol=1e-5)
  noisy, _ = likelihood.ode_nll(sde, score, x, jax.random.key(1), estimator='gaussian', rtol=1e-5, atol=1e-5)
  noisy = np.asarray(noisy)
  assert noisy.std() > 1e-3  # the estimator is really stochastic here
  assert abs(noisy.mean() - float(exact[0])) < 4 * noisy.std() / math.sqrt(len(noisy))
  ref = -float(jax.scipy.stats.multivariate_normal.logpdf(jnp.array([0.3, 0.1]), mean, cov))
  np.testing.assert_allclose(float(exact[0]), ref, atol=0.02)  # up to the prior mismatch at t = 1
