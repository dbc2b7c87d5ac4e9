"""Tests for gen_jax.eval.sample_quality.

References: numpy (np.cov), scipy (sqrtm, softmax, entropy, cdist), sklearn
(polynomial_kernel, NearestNeighbors, accuracy_score) and closed forms.
"""

import numpy as np
import pytest
import scipy.linalg
import scipy.special
import scipy.stats
from scipy.spatial.distance import cdist
from sklearn.metrics import accuracy_score
from sklearn.metrics.pairwise import polynomial_kernel
from sklearn.neighbors import NearestNeighbors

from gen_jax.eval import sample_quality as sq


def _random_spd(rng, d, scale=1.0):
  a = rng.normal(size=(d, d))
  return scale * (a @ a.T / d + 0.1 * np.eye(d))


def _fid_reference(mu1, s1, mu2, s2):
  covmean = scipy.linalg.sqrtm(s1 @ s2).real
  return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2.0 * covmean))


# ---------------------------------------------------------------- statistics


def test_gaussian_stats_matches_numpy():
  f = np.random.default_rng(0).normal(size=(300, 7)).astype(np.float32)
  mu, sigma = sq.gaussian_stats(f)
  assert mu.dtype == np.float64 and sigma.dtype == np.float64
  np.testing.assert_allclose(mu, f.astype(np.float64).mean(0), rtol=1e-12)
  np.testing.assert_allclose(sigma, np.cov(f.astype(np.float64), rowvar=False), rtol=1e-12)


def test_streaming_stats_match_np_cov():
  rng = np.random.default_rng(1)
  # Large offset relative to the spread: the naive E[ff^T] - mu mu^T formula
  # would lose digits here.
  f = 1e4 + rng.normal(size=(10_000, 12)) @ rng.normal(size=(12, 12))
  acc = sq.init_stats(12)
  for batch in np.array_split(f, [1, 999, 2500, 6000, 9998]):
    acc = sq.update_stats(acc, batch)
  assert acc.count == 10_000
  mu, sigma = sq.finalize_stats(acc)
  np.testing.assert_allclose(mu, f.mean(0), rtol=1e-12)
  np.testing.assert_allclose(sigma, np.cov(f, rowvar=False), rtol=1e-8, atol=1e-10)


# ----------------------------------------------------------------------- FID


@pytest.mark.parametrize("method", ["eigh", "sqrtm"])
def test_fid_of_set_with_itself_is_zero(method):
  f = np.random.default_rng(2).normal(size=(2000, 16))
  mu, sigma = sq.gaussian_stats(f)
  assert abs(sq.frechet_distance(mu, sigma, mu, sigma, method=method)) < 1e-8 * np.trace(sigma)


def test_fid_self_is_zero_for_singular_covariance():
  # N < D: rank-deficient covariance, where sqrtm-based code is fragile.
  f = np.random.default_rng(3).normal(size=(10, 32))
  mu, sigma = sq.gaussian_stats(f)
  assert abs(sq.frechet_distance(mu, sigma, mu, sigma)) < 1e-8 * np.trace(sigma)


@pytest.mark.parametrize("method", ["eigh", "sqrtm"])
def test_fid_matches_closed_form_with_scipy_sqrtm(method):
  rng = np.random.default_rng(4)
  d = 8
  mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
  s1, s2 = _random_spd(rng, d), _random_spd(rng, d, 3.0)
  got = sq.frechet_distance(mu1, s1, mu2, s2, method=method)
  np.testing.assert_allclose(got, _fid_reference(mu1, s1, mu2, s2), rtol=1e-9)


def test_fid_diagonal_closed_form():
  # Commuting covariances: W2^2 = |dmu|^2 + sum (sqrt(a) - sqrt(b))^2.
  a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
  mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 2.0])
  expected = 9.0 + (1 - 2) ** 2 + (2 - 1) ** 2 + (3 - 0.5) ** 2
  got = sq.frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
  np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_fid_of_large_samples_approaches_closed_form():
  rng = np.random.default_rng(5)
  d = 4
  mu1, mu2 = np.zeros(d), np.full(d, 0.5)
  s1, s2 = _random_spd(rng, d), _random_spd(rng, d, 2.0)
  expected = _fid_reference(mu1, s1, mu2, s2)
  x = rng.multivariate_normal(mu1, s1, size=50_000)
  y = rng.multivariate_normal(mu2, s2, size=50_000)
  got = sq.frechet_distance(*sq.gaussian_stats(x), *sq.gaussian_stats(y))
  np.testing.assert_allclose(got, expected, rtol=0.03)


def test_fid_input_validation():
  with pytest.raises(ValueError):
    sq.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
  with pytest.raises(ValueError):
    sq.frechet_distance(np.zeros(2), np.diag([1.0, -1.0]), np.zeros(2), np.eye(2))


# ----------------------------------------------------------------------- KID


def _mmd2_reference(x, y):
  d = x.shape[1]
  kern = lambda a, b: polynomial_kernel(a, b, degree=3, gamma=1.0 / d, coef0=1.0)
  m = x.shape[0]
  kxx, kyy, kxy = kern(x, x), kern(y, y), kern(x, y)
  np.fill_diagonal(kxx, 0.0)
  np.fill_diagonal(kyy, 0.0)
  return (kxx.sum() + kyy.sum()) / (m * (m - 1)) - 2.0 * kxy.mean()


def test_kid_full_subset_matches_sklearn_kernel():
  rng = np.random.default_rng(6)
  x = rng.normal(size=(150, 10))
  y = rng.normal(0.3, 1.2, size=(200, 10))
  # subset_size is clipped to 150; a full subset of x is a permutation of x.
  mean, se = sq.kid(x, y[:150], num_subsets=3, subset_size=1000)
  np.testing.assert_allclose(mean, _mmd2_reference(x, y[:150]), rtol=1e-10)
  assert se < 1e-10 * abs(mean)


def test_kid_same_distribution_is_near_zero_and_shift_is_positive():
  rng = np.random.default_rng(7)
  a = rng.normal(size=(3000, 16))
  b = rng.normal(size=(3000, 16))
  mean, se = sq.kid(a, b, num_subsets=30, subset_size=100, seed=1)
  assert se > 0 and abs(mean) < 3 * se
  mean_s, se_s = sq.kid(a, b + 0.5, num_subsets=30, subset_size=100, seed=1)
  assert mean_s > 10 * se_s and mean_s > 10 * abs(mean)


# ---------------------------------------------------------- precision/recall


def _pr_reference(real, fake, k):
  def radii(x):
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    return dist[:, k]

  def inside(query, ref, r):  # float64, in chunks of 500 query rows
    hits = [
      (cdist(q, ref) <= r[None]).any(axis=1)
      for q in np.array_split(query, max(1, len(query) // 500))
    ]
    return np.concatenate(hits).mean()

  return inside(fake, real, radii(real)), inside(real, fake, radii(fake))


def test_precision_recall_identical_sets():
  f = np.random.default_rng(8).normal(size=(1000, 32))
  assert sq.precision_recall(f, f.copy(), k=3) == (1.0, 1.0)


def test_precision_recall_disjoint_sets():
  rng = np.random.default_rng(9)
  real = rng.normal(size=(800, 16))
  fake = rng.normal(size=(700, 16)) + 20.0
  assert sq.precision_recall(real, fake, k=3) == (0.0, 0.0)


def test_precision_recall_matches_sklearn_neighbours_and_chunking():
  rng = np.random.default_rng(10)
  real = rng.normal(size=(600, 6))
  fake = 0.8 * rng.normal(size=(500, 6)) + 1.0  # narrower and shifted
  p_ref, r_ref = _pr_reference(real, fake, k=5)
  p, r = sq.precision_recall(real, fake, k=5, batch_size=128)
  assert 0.05 < p_ref < 0.95 and 0.05 < r_ref < 0.95  # non-trivial case
  assert abs(p - p_ref) <= 2 / 500 and abs(r - r_ref) <= 2 / 600
  assert (p, r) == sq.precision_recall(real, fake, k=5, batch_size=4096)


def test_precision_recall_10k_by_10k():
  rng = np.random.default_rng(13)
  real = rng.normal(size=(10_000, 4))
  fake = 0.8 * rng.normal(size=(10_000, 4)) + 1.5
  p_ref, r_ref = _pr_reference(real, fake, k=3)
  p, r = sq.precision_recall(real, fake, k=3)
  assert 0.05 < p_ref < 0.95 and 0.05 < r_ref < 0.95
  assert abs(p - p_ref) <= 3e-4 and abs(r - r_ref) <= 3e-4


# ------------------------------------------------------------ classifier


def test_classifier_scores_match_scipy():
  logits = np.random.default_rng(11).normal(scale=3.0, size=(400, 10))
  p = scipy.special.softmax(logits, axis=1)
  p_bar = p.mean(0)
  out = sq.classifier_scores(logits)
  np.testing.assert_allclose(out["entropy_of_mean_prediction"], scipy.stats.entropy(p_bar))
  np.testing.assert_allclose(out["mean_entropy"], scipy.stats.entropy(p, axis=1).mean())
  kl = scipy.stats.entropy(p, np.broadcast_to(p_bar, p.shape), axis=1)
  np.testing.assert_allclose(out["inception_score"], np.exp(kl.mean()), rtol=1e-10)
  split = sq.classifier_scores(logits, num_splits=4)
  per_split = []
  for part in np.split(p, 4):
    kl = scipy.stats.entropy(part, np.broadcast_to(part.mean(0), part.shape), axis=1)
    per_split.append(np.exp(kl.mean()))
  np.testing.assert_allclose(split["inception_score"], np.mean(per_split), rtol=1e-10)
  np.testing.assert_allclose(split["inception_score_std"], np.std(per_split), rtol=1e-8)


def test_classifier_scores_closed_forms():
  c = 10
  balanced = 100.0 * np.eye(c)[np.arange(500) % c]  # confident, all classes
  out = sq.classifier_scores(balanced)
  np.testing.assert_allclose(out["inception_score"], c, rtol=1e-6)
  np.testing.assert_allclose(out["entropy_of_mean_prediction"], np.log(c), rtol=1e-9)
  assert out["mean_entropy"] < 1e-6
  collapsed = 100.0 * np.eye(c)[np.zeros(500, int)]  # one class only
  np.testing.assert_allclose(sq.classifier_scores(collapsed)["inception_score"], 1.0)


def test_conditional_accuracy_matches_sklearn():
  rng = np.random.default_rng(12)
  logits = rng.normal(size=(300, 7))
  labels = rng.integers(0, 7, size=300)
  expected = accuracy_score(labels, logits.argmax(1))
  assert 0.0 < expected < 1.0
  assert sq.conditional_accuracy(logits, labels) == pytest.approx(expected)
