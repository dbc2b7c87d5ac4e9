"""Schedules, q(x_t | x_0), the posterior and the prediction conversions against closed forms."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from gen_jax.families.diffusion import losses
from gen_jax.families.diffusion import predictions as pred
from gen_jax.families.diffusion import schedules as sch


def test_linear_matches_ho_et_al():
  s = sch.make_schedule('linear', 1000)
  np.testing.assert_allclose(s.betas, np.linspace(1e-4, 0.02, 1000), rtol=1e-6)
  np.testing.assert_allclose(s.alphas_cumprod, np.cumprod(1 - np.linspace(1e-4, 0.02, 1000)), rtol=1e-5)
  # scaled by 1000/T for another T: same end points of beta(t) * T
  s50 = sch.make_schedule('linear', 50)
  np.testing.assert_allclose([s50.betas[0], s50.betas[-1]], [1e-4 * 20, 0.02 * 20], rtol=1e-6)


@pytest.mark.parametrize('name', ['linear', 'cosine', 'sigmoid'])
@pytest.mark.parametrize('T', [10, 1000])
def test_alpha_bar_monotone_and_bounded(name, T):
  s = sch.make_schedule(name, T)
  ac = np.asarray(s.alphas_cumprod, np.float64)
  assert np.all(np.diff(ac) < 0) and ac[0] < 1 and ac[-1] >= 0
  assert np.all(np.asarray(s.betas) > 0) and np.all(np.asarray(s.betas) <= 0.999 + 1e-7)
  np.testing.assert_allclose(s.alphas_cumprod_prev[0], 1.0)
  assert ac[-1] < 0.01  # every named schedule ends near pure noise


def test_cosine_formula_offset_and_clipping():
  T, s_off = 1000, 0.008
  s = sch.make_schedule('cosine', T)
  f = lambda t: math.cos((t + s_off) / (1 + s_off) * math.pi / 2) ** 2  # noqa: E731
  ref = np.array([f((t + 1) / T) / f(0.0) for t in range(T)])
  ac = np.asarray(s.alphas_cumprod, np.float64)
  np.testing.assert_allclose(ac[:-1], ref[:-1], rtol=2e-4, atol=1e-7)  # last one is clipped
  # the offset s keeps beta_0 away from 0: beta_0 = 1 - f(1/T)/f(0)
  np.testing.assert_allclose(float(s.betas[0]), 1 - f(1 / T) / f(0.0), rtol=1e-4)
  assert float(s.betas[0]) > 1e-5
  np.testing.assert_allclose(float(s.betas[-1]), 0.999, rtol=1e-6)  # f(1) = 0 -> clipped
  cont = sch.continuous_alpha_bar('cosine')
  np.testing.assert_allclose(cont(jnp.array([0.0, 1.0])), [1.0, 0.0], atol=1e-6)


def test_sigmoid_endpoints_and_formula():
  cont = sch.continuous_alpha_bar('sigmoid', sigmoid_start=-3.0, sigmoid_end=3.0, sigmoid_tau=1.0)
  np.testing.assert_allclose(cont(jnp.array([0.0, 1.0])), [1.0, 0.0], atol=1e-6)
  sig = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
  t = 0.3
  ref = (sig(3) - sig(6 * t - 3)) / (sig(3) - sig(-3))
  np.testing.assert_allclose(float(cont(jnp.array(t))), ref, rtol=1e-5)


def test_custom_betas_and_continuous_interpolation():
  betas = np.array([0.1, 0.2, 0.3, 0.4])
  s = sch.make_schedule('custom', 4, betas=betas)
  np.testing.assert_allclose(s.betas, betas, rtol=1e-6)
  cont = sch.continuous_alpha_bar('custom', betas=betas)
  np.testing.assert_allclose(cont(jnp.array([0.25, 0.5, 1.0])), np.cumprod(1 - betas)[[0, 1, 3]], rtol=1e-5)
  with pytest.raises(ValueError):
    sch.make_betas('custom', 2, betas=[0.1, 1.5])
  with pytest.raises(ValueError):
    sch.make_betas('quadratic', 10)


def test_continuous_linear_is_the_limit_of_discrete():
  """log abar of the T-step linear chain converges to -int beta at rate O(1/T)."""
  cont = sch.continuous_alpha_bar('linear')
  errs = []
  for T in (2000, 20000):
    s = sch.make_schedule('linear', T)
    log_disc = np.cumsum(np.log1p(-np.asarray(sch.make_betas('linear', T))))
    err = [abs(math.log(float(cont(jnp.array(t)))) - log_disc[int(round(t * T)) - 1]) for t in (0.1, 0.5, 1.0)]
    errs.append(max(err))
    np.testing.assert_allclose(np.log(np.asarray(s.alphas_cumprod, np.float64)), log_disc, rtol=1e-5, atol=1e-6)
  assert errs[1] < 0.005 and errs[0] / errs[1] > 8


def test_q_sample_moments_match_the_forward_chain():
  s = sch.make_schedule('cosine', 20)
  b = np.asarray(s.betas, np.float64)
  m, v = [], []
  mm, vv = 1.0, 0.0  # moments of x_t given x_0 = 1 by composing q(x_t | x_{t-1})
  for bt in b:
    mm, vv = math.sqrt(1 - bt) * mm, (1 - bt) * vv + bt
    m.append(mm)
    v.append(vv)
  t = jnp.arange(20)
  x0 = jnp.ones((20, 3))
  mean, var, logvar = sch.q_mean_variance(s, x0, t)
  np.testing.assert_allclose(mean[:, 0], m, rtol=1e-5)
  np.testing.assert_allclose(var[:, 0], v, rtol=1e-5)
  np.testing.assert_allclose(np.exp(logvar[:, 0]), v, rtol=1e-5)
  np.testing.assert_allclose(sch.q_sample(s, x0, t, jnp.zeros_like(x0)), mean * jnp.ones((1, 3)), rtol=1e-6)


@pytest.mark.parametrize('name', ['linear', 'cosine'])
def test_posterior_is_bayes_rule_of_two_gaussians(name):
  T = 50
  s = sch.make_schedule(name, T)
  b = np.asarray(sch.make_betas(name, T), np.float64)
  ac = np.cumprod(1 - b)
  rng = np.random.default_rng(0)
  x0, xt = rng.normal(size=(T, 4)), rng.normal(size=(T, 4))
  mean, var, logvar = sch.q_posterior_mean_variance(s, jnp.asarray(x0, jnp.float32), jnp.asarray(xt, jnp.float32),
                                                    jnp.arange(T))
  for t in range(1, T):
    # prior q(x_{t-1} | x0) = N(sqrt(ac_{t-1}) x0, 1 - ac_{t-1}); likelihood q(x_t | x_{t-1}) = N(sqrt(a_t) x, b_t)
    prior_m, prior_v = math.sqrt(ac[t - 1]) * x0[t], 1 - ac[t - 1]
    post_v = 1 / (1 / prior_v + (1 - b[t]) / b[t])
    post_m = post_v * (prior_m / prior_v + math.sqrt(1 - b[t]) * xt[t] / b[t])
    np.testing.assert_allclose(mean[t], post_m, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(var[t, 0], post_v, rtol=1e-4)
  np.testing.assert_allclose(mean[0], x0[0], atol=1e-5)  # t = 0: the posterior is x_0 itself
  np.testing.assert_allclose(var[0, 0], 0.0, atol=1e-7)
  np.testing.assert_allclose(logvar[0, 0], math.log(var[1, 0]), rtol=1e-5)  # clipped log-variance


def test_spacing_and_respacing():
  for spacing in ('linspace', 'trailing', 'leading'):
    np.testing.assert_array_equal(sch.spaced_timesteps(10, 10, spacing), np.arange(10))
  np.testing.assert_array_equal(sch.spaced_timesteps(1000, 5, 'linspace'), [0, 250, 500, 749, 999])
  np.testing.assert_array_equal(sch.spaced_timesteps(1000, 4, 'trailing'), [249, 499, 749, 999])
  np.testing.assert_array_equal(sch.spaced_timesteps(1000, 4, 'leading'), [0, 250, 500, 750])
  s = sch.make_schedule('linear', 100)
  full = sch.respace(s, np.arange(100))
  np.testing.assert_allclose(full.betas, s.betas, rtol=1e-4)
  ts = sch.spaced_timesteps(100, 7)
  sub = sch.respace(s, ts)
  np.testing.assert_allclose(sub.alphas_cumprod, np.asarray(s.alphas_cumprod)[ts], rtol=1e-5)


@pytest.mark.parametrize('param', pred.PARAMETERIZATIONS)
def test_predictions_invert_the_targets(param):
  s = sch.make_schedule('cosine', 30)
  k1, k2 = jax.random.split(jax.random.key(0))
  x0, eps = jax.random.normal(k1, (30, 5)), jax.random.normal(k2, (30, 5))
  t = jnp.arange(30)
  xt = sch.q_sample(s, x0, t, eps)
  target = pred.training_target(param, s, x0, eps, t)
  px0, peps = pred.predict_x0_eps(s, xt, t, target, param)
  np.testing.assert_allclose(px0[:-1], x0[:-1], atol=2e-3)  # abar ~ 0 at the last step makes x0 ill-posed
  np.testing.assert_allclose(peps, eps, atol=2e-3)


def test_variances():
  s = sch.make_schedule('linear', 10)
  t = jnp.arange(10)
  small, _ = pred.model_variance(s, t, (10, 1), 'fixed_small')
  large, _ = pred.model_variance(s, t, (10, 1), 'fixed_large')
  np.testing.assert_allclose(small[:, 0], s.posterior_variance, rtol=1e-6)
  np.testing.assert_allclose(large[1:, 0], s.betas[1:], rtol=1e-6)
  lo, _ = pred.model_variance(s, t, (10, 1), 'learned_range', -jnp.ones((10, 1)))
  hi, _ = pred.model_variance(s, t, (10, 1), 'learned_range', jnp.ones((10, 1)))
  np.testing.assert_allclose(lo[1:, 0], s.posterior_variance[1:], rtol=1e-5)
  np.testing.assert_allclose(hi[:, 0], s.betas, rtol=1e-5)


def test_discretized_gaussian_decoder_is_a_distribution():
  grid = jnp.asarray(2 * np.arange(256) / 255 - 1, jnp.float32)
  for mean, log_scale in ((0.1, math.log(0.05)), (-0.97, math.log(0.3)), (0.5, math.log(1e-3))):
    ll = losses.discretized_gaussian_log_likelihood(grid, jnp.float32(mean), jnp.float32(log_scale))
    np.testing.assert_allclose(float(jax.scipy.special.logsumexp(ll)), 0.0, atol=1e-4)
    sd = math.exp(log_scale)
    k = 100
    ref = stats.norm.cdf(grid[k] + 1 / 255, mean, sd) - stats.norm.cdf(grid[k] - 1 / 255, mean, sd)
    np.testing.assert_allclose(float(jnp.exp(ll[k])), max(ref, 1e-12), rtol=1e-3, atol=1e-12)
  # the pixel grid: dequantized values fall back to their bin, grid values stay
  x = jnp.array([-1.0, -1 + 2 * 3.5 / 256, 1 - 1e-6])
  np.testing.assert_allclose(losses.to_pixel_grid(x, True), [-1.0, 2 * 3 / 255 - 1, 1.0], atol=1e-6)
  np.testing.assert_allclose(losses.to_pixel_grid(grid, False), grid, atol=1e-6)


def test_normal_kl_against_numerical_integration():
  m1, v1, m2, v2 = 0.3, 0.5, -0.2, 1.7
  x = np.linspace(-15, 15, 200001)
  p, q = stats.norm.pdf(x, m1, math.sqrt(v1)), stats.norm.pdf(x, m2, math.sqrt(v2))
  ref = np.trapezoid(p * (np.log(p + 1e-300) - np.log(q + 1e-300)), x)
  got = losses.normal_kl(jnp.float32(m1), jnp.log(jnp.float32(v1)), jnp.float32(m2), jnp.log(jnp.float32(v2)))
  np.testing.assert_allclose(float(got), ref, rtol=1e-4)
