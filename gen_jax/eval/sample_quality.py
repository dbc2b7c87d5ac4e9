"""Sample-quality metrics on feature vectors: FID, KID, precision/recall, IS.

All functions take features as [N, D] float arrays (numpy or JAX), e.g. the
2048-d pool features of an Inception network; the feature extractor itself
is not part of this module. Small-matrix statistics (means, covariances,
matrix square roots, KID kernels) are computed in float64 numpy; the
10k x 10k nearest-neighbour search of ``precision_recall`` runs in JAX in
row chunks.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax.numpy as jnp
import numpy as np
import scipy.linalg
import scipy.special

from gen_jax.eval._knn import chunked, inside_any_ball, kth_nn_sq_dist
from gen_jax.eval.task_metrics import accuracy

ArrayLike = Any

__all__ = [
  "GaussianStatsAccumulator",
  "gaussian_stats",
  "init_stats",
  "update_stats",
  "finalize_stats",
  "frechet_distance",
  "kid",
  "precision_recall",
  "classifier_scores",
  "conditional_accuracy",
]


def _as_features(x: ArrayLike, name: str) -> np.ndarray:
  a = np.asarray(x, dtype=np.float64)
  if a.ndim != 2:
    raise ValueError(f"{name} must be [N, D], got shape {a.shape}")
  return a


# ----------------------------------------------------------------------------
# Gaussian statistics (FID).


def gaussian_stats(features: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
  """Mean and covariance of a feature set, in float64.

  Args:
    features: [N, D] features, N >= 2.

  Returns:
    (mu [D], sigma [D, D]); sigma equals ``np.cov(features, rowvar=False)``
    (unbiased, ddof=1).
  """
  f = _as_features(features, "features")
  if f.shape[0] < 2:
    raise ValueError("gaussian_stats needs at least 2 samples")
  return f.mean(axis=0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


@dataclasses.dataclass(frozen=True)
class GaussianStatsAccumulator:
  """Running float64 statistics of a feature stream (see ``update_stats``).

  Attributes:
    count: number of feature vectors seen so far.
    mean: [D] running mean.
    m2: [D, D] running sum of centred outer products sum_i (f_i-mean)(f_i-mean)^T.
  """

  count: int
  mean: np.ndarray
  m2: np.ndarray


def init_stats(dim: int) -> GaussianStatsAccumulator:
  """Empty accumulator for D = ``dim`` dimensional features."""
  return GaussianStatsAccumulator(
    count=0, mean=np.zeros((dim,), np.float64), m2=np.zeros((dim, dim), np.float64)
  )


def update_stats(
  acc: GaussianStatsAccumulator, batch_features: ArrayLike
) -> GaussianStatsAccumulator:
  """Adds a [B, D] batch of features to the accumulator (returns a new one).

  Uses the pairwise (Chan et al.) merge of means and centred outer-product
  sums in float64, which avoids the cancellation of the naive
  E[ff^T] - mu mu^T formula. Only one batch needs to be in memory.
  """
  b = _as_features(batch_features, "batch_features")
  if b.shape[1] != acc.mean.shape[0]:
    raise ValueError(f"feature dim {b.shape[1]} != accumulator dim {acc.mean.shape[0]}")
  nb = b.shape[0]
  if nb == 0:
    return acc
  mean_b = b.mean(axis=0)
  centred = b - mean_b
  m2_b = centred.T @ centred
  n = acc.count + nb
  delta = mean_b - acc.mean
  mean = acc.mean + delta * (nb / n)
  m2 = acc.m2 + m2_b + np.outer(delta, delta) * (acc.count * nb / n)
  return GaussianStatsAccumulator(count=n, mean=mean, m2=m2)


def finalize_stats(acc: GaussianStatsAccumulator) -> tuple[np.ndarray, np.ndarray]:
  """(mu [D], sigma [D, D]) from an accumulator; sigma uses ddof=1."""
  if acc.count < 2:
    raise ValueError("finalize_stats needs at least 2 accumulated samples")
  return acc.mean.copy(), acc.m2 / (acc.count - 1)


def _psd_sqrt(s: np.ndarray, name: str, psd_tol: float) -> np.ndarray:
  """Symmetric PSD square root; raises if s has a clearly negative eigenvalue."""
  w, v = np.linalg.eigh(s)
  if w.size and w.min() < -psd_tol * max(np.abs(w).max(), 1e-300):
    raise ValueError(f"{name} is not positive semi-definite (min eig {w.min()})")
  return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _trace_sqrt_product_eigh(sigma1: np.ndarray, sigma2: np.ndarray, psd_tol: float) -> float:
  """tr((S1^{1/2} S2 S1^{1/2})^{1/2}) = nuclear norm of S2^{1/2} S1^{1/2}.

  The eigenvalues of S1^{1/2} S2 S1^{1/2} = B^T B (B = S2^{1/2} S1^{1/2}) are
  the squared singular values of B, so the trace of its square root is the
  sum of B's singular values. Taking singular values of B, rather than
  square roots of eigenvalues of B^T B, keeps the (near-)zero directions of
  singular covariances at round-off level instead of sqrt(round-off).
  """
  b = _psd_sqrt(sigma2, "sigma2", psd_tol) @ _psd_sqrt(sigma1, "sigma1", psd_tol)
  return float(np.linalg.svd(b, compute_uv=False).sum())


def _trace_sqrt_product_sqrtm(sigma1: np.ndarray, sigma2: np.ndarray, eps: float) -> float:
  """pytorch-fid style: scipy sqrtm with an eps*I offset fallback."""
  covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
  if not np.isfinite(covmean).all():
    offset = np.eye(sigma1.shape[0]) * eps
    covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
  if np.iscomplexobj(covmean):
    max_imag = np.max(np.abs(np.diagonal(covmean).imag))
    if max_imag > 1e-3:
      raise ValueError(f"sqrtm has a large imaginary component: {max_imag}")
    covmean = covmean.real
  return float(np.trace(covmean))


def frechet_distance(
  mu1: ArrayLike,
  sigma1: ArrayLike,
  mu2: ArrayLike,
  sigma2: ArrayLike,
  method: str = "eigh",
  eps: float = 1e-6,
  psd_tol: float = 1e-6,
) -> float:
  """Frechet (2-Wasserstein^2) distance between N(mu1, S1) and N(mu2, S2).

  d = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2}), in squared
  feature units. This is the FID when the statistics come from Inception
  features. May be slightly negative (~1e-10 relative) from round-off.

  Args:
    mu1, mu2: [D] means.
    sigma1, sigma2: [D, D] symmetric PSD covariances.
    method: 'eigh' (default): tr((S1^{1/2} S2 S1^{1/2})^{1/2}) as the sum of
      singular values of S2^{1/2} S1^{1/2}, with the PSD square roots from
      symmetric eigendecompositions (tiny negative eigenvalues clipped to
      0); stable even for singular covariances (N < D). 'sqrtm': the pytorch-fid
      recipe (scipy.linalg.sqrtm of S1 S2, retried with S + eps*I if not
      finite, imaginary parts > 1e-3 on the diagonal raise).
    eps: diagonal offset for the 'sqrtm' fallback.
    psd_tol: a covariance eigenvalue below -psd_tol * max|eigenvalue|
      raises ValueError (the input is not a covariance) in 'eigh' mode.

  Returns:
    The distance as a Python float.
  """
  mu1 = np.atleast_1d(np.asarray(mu1, np.float64))
  mu2 = np.atleast_1d(np.asarray(mu2, np.float64))
  s1 = np.atleast_2d(np.asarray(sigma1, np.float64))
  s2 = np.atleast_2d(np.asarray(sigma2, np.float64))
  d = mu1.shape[0]
  if mu1.shape != (d,) or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
    raise ValueError(
      f"shape mismatch: mu1 {mu1.shape}, mu2 {mu2.shape}, "
      f"sigma1 {s1.shape}, sigma2 {s2.shape}"
    )
  s1 = 0.5 * (s1 + s1.T)
  s2 = 0.5 * (s2 + s2.T)
  if method == "eigh":
    tr_covmean = _trace_sqrt_product_eigh(s1, s2, psd_tol)
  elif method == "sqrtm":
    tr_covmean = _trace_sqrt_product_sqrtm(s1, s2, eps)
  else:
    raise ValueError(f"method must be 'eigh' or 'sqrtm', got {method!r}")
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)


# ----------------------------------------------------------------------------
# Kernel Inception Distance.


def _mmd2_unbiased_poly(x: np.ndarray, y: np.ndarray) -> float:
  """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3 for equal-size x, y [m, d]."""
  m, d = x.shape
  kxx = (x @ x.T / d + 1.0) ** 3
  kyy = (y @ y.T / d + 1.0) ** 3
  kxy = (x @ y.T / d + 1.0) ** 3
  sum_xx = kxx.sum() - np.trace(kxx)
  sum_yy = kyy.sum() - np.trace(kyy)
  return float((sum_xx + sum_yy) / (m * (m - 1)) - 2.0 * kxy.sum() / (m * m))


def kid(
  features_a: ArrayLike,
  features_b: ArrayLike,
  num_subsets: int = 100,
  subset_size: int = 1000,
  seed: int = 0,
) -> tuple[float, float]:
  """Kernel Inception Distance (Binkowski et al. 2018).

  For each of ``num_subsets`` rounds, draws ``m`` rows without replacement
  from each set (m = min(subset_size, N_a, N_b)) and computes the unbiased
  MMD^2 estimate with the cubic polynomial kernel k(x, y) = (x.y / D + 1)^3:

    sum_{i!=j} k(a_i,a_j)/(m(m-1)) + sum_{i!=j} k(b_i,b_j)/(m(m-1))
      - 2 sum_{i,j} k(a_i,b_j)/m^2.

  Computed in float64 numpy (as in the reference implementations).

  Args:
    features_a: [N_a, D] features.
    features_b: [N_b, D] features.
    num_subsets: number of subset rounds.
    subset_size: rows per subset, clipped to the smaller set.
    seed: seed of the numpy Generator that draws the subsets.

  Returns:
    (mean, stderr): the mean MMD^2 over subsets (unitless, can be slightly
    negative) and std(ddof=1)/sqrt(num_subsets) over subsets (NaN for one
    subset). The stderr measures only the subset-sampling noise given the
    two feature sets; it understates the full uncertainty when the subsets
    overlap heavily (num_subsets * m >> N).
  """
  a = _as_features(features_a, "features_a")
  b = _as_features(features_b, "features_b")
  if a.shape[1] != b.shape[1]:
    raise ValueError(f"feature dims differ: {a.shape[1]} vs {b.shape[1]}")
  m = min(subset_size, a.shape[0], b.shape[0])
  if m < 2:
    raise ValueError("kid needs subsets of at least 2 samples")
  if num_subsets < 1:
    raise ValueError("num_subsets must be >= 1")
  rng = np.random.default_rng(seed)
  vals = np.empty((num_subsets,), np.float64)
  for i in range(num_subsets):
    xa = a[rng.choice(a.shape[0], m, replace=False)]
    xb = b[rng.choice(b.shape[0], m, replace=False)]
    vals[i] = _mmd2_unbiased_poly(xa, xb)
  stderr = vals.std(ddof=1) / math.sqrt(num_subsets) if num_subsets > 1 else float("nan")
  return float(vals.mean()), float(stderr)


# ----------------------------------------------------------------------------
# Improved precision and recall (Kynkaanniemi et al. 2019).


def precision_recall(
  real_features: ArrayLike,
  fake_features: ArrayLike,
  k: int = 3,
  batch_size: int = 1024,
) -> tuple[float, float]:
  """Improved precision and recall (Kynkaanniemi et al. 2019).

  Each set's manifold is the union of balls around its points with radius
  equal to the distance to the point's k-th nearest neighbour in the same
  set. Precision is the fraction of fake samples inside the real manifold;
  recall is the fraction of real samples inside the fake manifold.

  Distances are computed in float32 JAX (matmuls at HIGHEST precision, after
  centring both sets on the real mean) in [batch_size, N] row chunks, so
  10k x 10k sets need ~batch_size * 10k * 4 bytes (40 MB) per chunk.

  Args:
    real_features: [N_r, D] features, N_r > k.
    fake_features: [N_f, D] features, N_f > k.
    k: neighbourhood size.
    batch_size: query rows per chunk.

  Returns:
    (precision, recall), each in [0, 1].
  """
  real = np.asarray(real_features, np.float32)
  fake = np.asarray(fake_features, np.float32)
  if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
    raise ValueError(f"need [N, D] features with equal D, got {real.shape}, {fake.shape}")
  if min(real.shape[0], fake.shape[0]) <= k:
    raise ValueError(f"both sets need more than k={k} samples")
  centre = real.mean(axis=0, dtype=np.float64).astype(np.float32)
  real, fake = real - centre, fake - centre
  real_j, fake_j = jnp.asarray(real), jnp.asarray(fake)
  real_sq = jnp.sum(real_j * real_j, axis=1)
  fake_sq = jnp.sum(fake_j * fake_j, axis=1)
  knn = functools.partial(kth_nn_sq_dist, k=k)
  real_radii = jnp.asarray(chunked(knn, real, batch_size, real_j, real_sq))
  fake_radii = jnp.asarray(chunked(knn, fake, batch_size, fake_j, fake_sq))
  prec = chunked(inside_any_ball, fake, batch_size, real_j, real_sq, real_radii)
  rec = chunked(inside_any_ball, real, batch_size, fake_j, fake_sq, fake_radii)
  return float(prec.mean()), float(rec.mean())


# ----------------------------------------------------------------------------
# Classifier-based scores.


def classifier_scores(logits: ArrayLike, num_splits: int = 1) -> dict[str, float]:
  """Mode-coverage scores from classifier logits of generated samples.

  With p_i = softmax(logits_i) and p_bar = mean_i p_i (entropies in nats):

  * ``entropy_of_mean_prediction`` H(p_bar): high when all classes are
    generated (max ln C).
  * ``mean_entropy`` mean_i H(p_i): low when samples are confidently
    classified.
  * ``inception_score`` exp(mean_i KL(p_i || p_bar))
    = exp(H(p_bar) - mean_i H(p_i)), in [1, C].

  Args:
    logits: [N, C] unnormalised class logits.
    num_splits: if > 1, the Inception Score is computed on that many equal
      contiguous splits (Salimans et al. use 10) and averaged, and
      ``inception_score_std`` (std over splits) is added. The entropies are
      always computed on all N samples.

  Returns:
    dict with the keys above (floats).
  """
  lg = _as_features(logits, "logits")
  log_p = scipy.special.log_softmax(lg, axis=1)
  p = np.exp(log_p)

  def _scores(lp: np.ndarray, pp: np.ndarray) -> tuple[float, float]:
    p_bar = pp.mean(axis=0)
    h_mean = float(-np.sum(scipy.special.xlogy(p_bar, p_bar)))
    mean_h = float(np.mean(-np.sum(pp * lp, axis=1)))
    return h_mean, mean_h

  h_of_mean, mean_h = _scores(log_p, p)
  out = dict(
    entropy_of_mean_prediction=h_of_mean,
    mean_entropy=mean_h,
    inception_score=float(math.exp(h_of_mean - mean_h)),
  )
  if num_splits > 1:
    idx = np.array_split(np.arange(lg.shape[0]), num_splits)
    split_is = [math.exp(np.subtract(*_scores(log_p[i], p[i]))) for i in idx]
    out["inception_score"] = float(np.mean(split_is))
    out["inception_score_std"] = float(np.std(split_is))
  return out


def conditional_accuracy(logits: ArrayLike, labels: ArrayLike) -> float:
  """Fraction of class-conditional samples classified as their label.

  Args:
    logits: [N, C] classifier logits of samples generated with class labels.
    labels: [N] integer conditioning labels.

  Returns:
    Accuracy in [0, 1].
  """
  return accuracy(logits, labels)
