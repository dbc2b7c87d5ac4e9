"""Tests for gen_jax.eval.likelihood (references: scipy, closed forms)."""

import math

import numpy as np
import pytest
import scipy.special
import scipy.stats

from gen_jax.eval import likelihood as lk

D = 3 * 8 * 8


def test_bits_per_dim_discrete_uniform_256_is_exactly_8():
  x = np.random.default_rng(0).integers(0, 256, size=(5, D))
  nll = -scipy.stats.randint(0, 256).logpmf(x).sum(axis=1)  # [5] nats
  np.testing.assert_allclose(lk.bits_per_dim(nll, D), 8.0, rtol=1e-12)


@pytest.mark.parametrize("scale,dist", [
  ("01", scipy.stats.uniform(loc=0.0, scale=1.0)),
  ("-11", scipy.stats.uniform(loc=-1.0, scale=2.0)),
])
def test_continuous_uniform_density_converts_to_8_bits(scale, dist):
  y = dist.rvs(size=(4, D), random_state=1)
  nll_cont = -dist.logpdf(y).sum(axis=1)
  nll = lk.continuous_to_discrete_nll(nll_cont, D, scale)
  np.testing.assert_allclose(lk.bits_per_dim(nll, D), 8.0, rtol=1e-12)


@pytest.mark.parametrize("scale,bin_width", [("01", 1 / 256), ("-11", 2 / 256)])
def test_piecewise_constant_density_recovers_discrete_nll(scale, bin_width):
  # Density that is constant on every dequantization bin: p(y) = P(x) / w^D,
  # so the converted NLL must equal the discrete NLL exactly.
  rng = np.random.default_rng(2)
  pmf = scipy.stats.binom(255, 0.3)
  x = pmf.rvs(size=(6, 10), random_state=3)
  log_p_disc = pmf.logpmf(x).sum(axis=1)
  log_p_cont = (pmf.logpmf(x) - np.log(bin_width)).sum(axis=1)
  del rng
  got = lk.continuous_to_discrete_nll(-log_p_cont, 10, scale)
  np.testing.assert_allclose(got, -log_p_disc, rtol=1e-12)


def test_continuous_to_discrete_rejects_unknown_scale():
  with pytest.raises(ValueError):
    lk.continuous_to_discrete_nll(1.0, 4, "0255")


def test_mean_with_stderr_matches_scipy_sem():
  v = np.random.default_rng(4).normal(3.0, 2.0, size=57)
  mean, se, n = lk.mean_with_stderr(v)
  assert n == 57
  np.testing.assert_allclose(mean, np.mean(v), rtol=1e-12)
  np.testing.assert_allclose(se, scipy.stats.sem(v), rtol=1e-12)


def test_mean_with_stderr_mask():
  v = np.random.default_rng(5).normal(size=40)
  mask = np.arange(40) % 3 != 0
  mean, se, n = lk.mean_with_stderr(v, mask)
  assert n == int(mask.sum())
  np.testing.assert_allclose(mean, np.mean(v[mask]), rtol=1e-12)
  np.testing.assert_allclose(se, scipy.stats.sem(v[mask]), rtol=1e-12)
  with pytest.raises(ValueError):
    lk.mean_with_stderr(v, np.zeros(40, bool))


def test_bits_per_dim_summary():
  nll = np.random.default_rng(6).normal(2000.0, 30.0, size=100)
  mask = np.ones(100, bool)
  mask[-7:] = False
  out = lk.bits_per_dim_summary(nll, D, mask)
  to_bits = np.log2(np.e) / D
  assert out["num_examples"] == 93
  np.testing.assert_allclose(out["nll_nats"], nll[:93].mean(), rtol=1e-12)
  np.testing.assert_allclose(out["nll_nats_stderr"], scipy.stats.sem(nll[:93]), rtol=1e-12)
  np.testing.assert_allclose(out["bits_per_dim"], nll[:93].mean() * to_bits, rtol=1e-12)
  np.testing.assert_allclose(
    out["bits_per_dim_stderr"], scipy.stats.sem(nll[:93]) * to_bits, rtol=1e-12
  )


@pytest.mark.parametrize("k", [1, 7, 5000])
def test_iwae_bound_matches_scipy_logsumexp(k):
  lw = (-1000.0 + 5.0 * np.random.default_rng(k).normal(size=(4, k))).astype(np.float32)
  got = np.asarray(lk.iwae_bound(lw))
  assert got.dtype == np.float32 and got.shape == (4,)
  assert np.all(np.isfinite(got))
  ref = scipy.special.logsumexp(lw.astype(np.float64), axis=-1) - math.log(k)
  np.testing.assert_allclose(got, ref, rtol=1e-6)


def test_iwae_bound_large_positive_weights_and_axis():
  lw = (800.0 + np.random.default_rng(7).normal(size=(5000, 3))).astype(np.float32)
  got = np.asarray(lk.iwae_bound(lw, axis=0))
  assert got.shape == (3,) and np.all(np.isfinite(got))
  ref = scipy.special.logsumexp(lw.astype(np.float64), axis=0) - math.log(5000)
  np.testing.assert_allclose(got, ref, rtol=1e-6)


def test_iwae_bound_constant_weights_is_the_weight():
  # log mean exp of a constant c is c.
  np.testing.assert_allclose(np.asarray(lk.iwae_bound(np.full((2, 300), -1234.5))), -1234.5)
