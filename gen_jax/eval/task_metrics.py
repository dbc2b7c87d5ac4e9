"""Task metrics: image reconstruction (PSNR, SSIM), detection (AUROC),
language modelling (perplexity, BLEU, exact match), classification accuracy
and toy-mixture mode coverage.

PSNR and SSIM are JAX functions (jit-compatible, batched over examples);
the others return Python floats computed in float64 numpy. BLEU needs the
optional dependency ``sacrebleu`` (imported on first use).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import jax.numpy as jnp
import numpy as np
import scipy.stats

ArrayLike = Any

__all__ = [
  "psnr",
  "ssim",
  "auroc",
  "perplexity",
  "accuracy",
  "bleu",
  "exact_match",
  "mode_coverage",
]


def psnr(x: ArrayLike, y: ArrayLike, data_range: float) -> jnp.ndarray:
  """Per-example peak signal-to-noise ratio in dB.

  PSNR = 10 log10(data_range^2 / MSE), MSE averaged over all non-batch axes.

  Args:
    x, y: [N, ...] images (any trailing shape), same shape.
    data_range: max - min of the data scale (1.0 for [0,1], 2.0 for [-1,1],
      255 for uint8 values).

  Returns:
    [N] PSNR in dB (+inf where x == y exactly).
  """
  x = jnp.asarray(x, jnp.float32)
  y = jnp.asarray(y, jnp.float32)
  if x.shape != y.shape:
    raise ValueError(f"shape mismatch {x.shape} vs {y.shape}")
  mse = jnp.mean(jnp.square(x - y), axis=tuple(range(1, x.ndim)))
  return 20.0 * jnp.log10(jnp.float32(data_range)) - 10.0 * jnp.log10(mse)


def _gaussian_window(win_size: int, sigma: float) -> np.ndarray:
  r = (win_size - 1) / 2.0
  t = np.arange(win_size) - r
  w = np.exp(-0.5 * (t / sigma) ** 2)
  return w / w.sum()


def _filter_valid(img: jnp.ndarray, w: np.ndarray) -> jnp.ndarray:
  """Separable 'valid' filtering of [N, H, W, C] along H then W."""
  k = len(w)
  h = img.shape[1] - k + 1
  out = sum(float(w[i]) * img[:, i : i + h] for i in range(k))
  wd = img.shape[2] - k + 1
  return sum(float(w[i]) * out[:, :, i : i + wd] for i in range(k))


def ssim(
  x: ArrayLike,
  y: ArrayLike,
  data_range: float,
  win_size: int = 11,
  sigma: float = 1.5,
  k1: float = 0.01,
  k2: float = 0.03,
) -> jnp.ndarray:
  """Per-example structural similarity (Wang et al. 2004).

  Gaussian-weighted local statistics (window ``win_size``, std ``sigma``
  pixels, population covariances), SSIM map averaged over the valid region
  (pixels at least win_size//2 from the border; no padding) and over
  channels. Matches ``skimage.metrics.structural_similarity(...,
  gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
  data_range=data_range, channel_axis=-1)`` per example.

  Args:
    x, y: [N, H, W] or [N, H, W, C] images (NHWC), H, W >= win_size.
    data_range: max - min of the data scale (e.g. 1.0, 2.0 or 255).
    win_size, sigma: Gaussian window size and std in pixels.
    k1, k2: stabilising constants, C1 = (k1 R)^2, C2 = (k2 R)^2.

  Returns:
    [N] SSIM values in [-1, 1] (1 for identical images).
  """
  x = jnp.asarray(x, jnp.float32)
  y = jnp.asarray(y, jnp.float32)
  if x.shape != y.shape:
    raise ValueError(f"shape mismatch {x.shape} vs {y.shape}")
  if x.ndim == 3:
    x, y = x[..., None], y[..., None]
  if x.ndim != 4:
    raise ValueError(f"expected [N,H,W] or [N,H,W,C], got {x.shape}")
  if min(x.shape[1], x.shape[2]) < win_size:
    raise ValueError(f"images {x.shape[1:3]} smaller than window {win_size}")
  w = _gaussian_window(win_size, sigma)
  c1 = (k1 * data_range) ** 2
  c2 = (k2 * data_range) ** 2
  mx, my = _filter_valid(x, w), _filter_valid(y, w)
  vx = _filter_valid(x * x, w) - mx * mx
  vy = _filter_valid(y * y, w) - my * my
  cxy = _filter_valid(x * y, w) - mx * my
  s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
  return jnp.mean(s, axis=(1, 2, 3))


def auroc(scores: ArrayLike, labels: ArrayLike) -> float:
  """Area under the ROC curve via the Mann-Whitney U statistic.

  AUROC = P(score_pos > score_neg) + 0.5 P(score_pos == score_neg), using
  average ranks for ties (equals sklearn.metrics.roc_auc_score).

  Args:
    scores: [N] real scores, higher = more likely positive.
    labels: [N] binary labels (bool or {0, 1}); both classes must occur.

  Returns:
    AUROC in [0, 1].
  """
  s = np.asarray(scores, np.float64).reshape(-1)
  lab = np.asarray(labels).reshape(-1)
  if s.shape != lab.shape:
    raise ValueError(f"scores {s.shape} and labels {lab.shape} differ")
  if not np.all((lab == 0) | (lab == 1)):
    raise ValueError("labels must be binary (0/1 or bool)")
  pos = lab.astype(bool)
  n_pos, n_neg = int(pos.sum()), int((~pos).sum())
  if n_pos == 0 or n_neg == 0:
    raise ValueError("auroc needs both positive and negative labels")
  ranks = scipy.stats.rankdata(s)  # average ranks for ties, 1-based
  u = ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0
  return float(u / (n_pos * n_neg))


def perplexity(nll_nats_per_token: ArrayLike, mask: ArrayLike | None = None) -> float:
  """Corpus perplexity exp(mean per-token NLL).

  Args:
    nll_nats_per_token: per-token NLL in nats, any shape (e.g. [B, T]), or
      a scalar mean NLL per token.
    mask: optional array of the same shape, True/1 for real tokens.

  Returns:
    exp(sum(nll * mask) / sum(mask)) (unitless, >= 1 for valid NLLs).
  """
  v = np.asarray(nll_nats_per_token, np.float64)
  if mask is not None:
    v = v[np.broadcast_to(np.asarray(mask), v.shape).astype(bool)]
  if v.size == 0:
    raise ValueError("perplexity needs at least one token")
  return float(math.exp(v.mean()))


def accuracy(
  predictions: ArrayLike, labels: ArrayLike, mask: ArrayLike | None = None
) -> float:
  """Classification accuracy.

  Args:
    predictions: integer class ids with the same shape as ``labels``, or
      logits/probabilities with shape labels.shape + (C,) (argmax is taken
      over the last axis).
    labels: integer class ids, any shape (e.g. [N] or [B, T]).
    mask: optional array shaped like ``labels``; True/1 entries are counted.

  Returns:
    Fraction correct in [0, 1].
  """
  p = np.asarray(predictions)
  lab = np.asarray(labels)
  if p.ndim == lab.ndim + 1:
    p = p.argmax(axis=-1)
  if p.shape != lab.shape:
    raise ValueError(f"predictions {p.shape} incompatible with labels {lab.shape}")
  correct = (p == lab).astype(np.float64)
  if mask is not None:
    m = np.broadcast_to(np.asarray(mask), lab.shape).astype(bool)
    correct = correct[m]
  if correct.size == 0:
    raise ValueError("accuracy needs at least one (unmasked) example")
  return float(correct.mean())


def _reference_lists(
  references: Sequence[str] | Sequence[Sequence[str]], n: int
) -> list[list[str]]:
  if len(references) != n:
    raise ValueError(f"{len(references)} references for {n} hypotheses")
  return [[r] if isinstance(r, str) else list(r) for r in references]


def bleu(
  hypotheses: Sequence[str],
  references: Sequence[str] | Sequence[Sequence[str]],
  tokenize: str = "13a",
) -> float:
  """Corpus BLEU (sacrebleu, default settings), on a 0-100 scale.

  Args:
    hypotheses: N detokenised system outputs.
    references: N references, each a string or a list of alternative
      reference strings (the number may differ between hypotheses).
    tokenize: sacrebleu tokenizer name ('13a' is the WMT default).

  Returns:
    BLEU score in [0, 100].
  """
  import sacrebleu  # optional dependency

  refs = _reference_lists(references, len(hypotheses))
  num_streams = max((len(r) for r in refs), default=1)
  streams = [[r[i] if i < len(r) else None for r in refs] for i in range(num_streams)]
  return float(sacrebleu.corpus_bleu(list(hypotheses), streams, tokenize=tokenize).score)


def exact_match(
  hypotheses: Sequence[str],
  references: Sequence[str] | Sequence[Sequence[str]],
  strip: bool = True,
) -> float:
  """Fraction of hypotheses equal to (any of) their reference string(s).

  Args:
    hypotheses: N strings.
    references: N references, each a string or a list of alternatives.
    strip: compare after stripping leading/trailing whitespace.

  Returns:
    Exact-match rate in [0, 1] (note: a fraction, not a percentage).
  """
  refs = _reference_lists(references, len(hypotheses))
  if not hypotheses:
    raise ValueError("exact_match needs at least one hypothesis")
  norm = (lambda s: s.strip()) if strip else (lambda s: s)
  hits = [norm(h) in {norm(r) for r in rs} for h, rs in zip(hypotheses, refs)]
  return float(np.mean(hits))


def mode_coverage(
  samples: ArrayLike,
  centers: ArrayLike,
  std: float,
  threshold: float = 3.0,
  min_count: int | None = None,
) -> dict[str, Any]:
  """Mode coverage on a Gaussian-mixture toy task (ring / grid of modes).

  Protocol of the unrolled-GAN / VEEGAN / PacGAN papers: every sample is
  assigned to its nearest mode centre; it is *high quality* if that
  distance is <= threshold * std. A mode is *hit* if at least ``min_count``
  high-quality samples are assigned to it.

  Args:
    samples: [N, 2] generated points (any [N, d] works).
    centers: [K, 2] mode centres.
    std: per-coordinate standard deviation of each (isotropic) mode.
    threshold: quality radius in units of ``std`` (3 in the papers).
    min_count: minimum number of high-quality samples for a mode to count
      as hit. Default None means ceil(0.2 * N / K), i.e. 1/5 of the count a
      perfect uniform model would put in each mode (PacGAN's 20 of 2,500
      samples for 25 modes); pass 1 for the lenient "any sample" rule.

  Returns:
    dict with ``modes_hit`` (int), ``high_quality_fraction`` (fraction of
    all N samples that are high quality), ``kl_to_uniform`` (reverse KL
    KL(q || U_K) = ln K - H(q) in nats, where q is the histogram of
    high-quality samples over the K modes; 0 for perfect balance, ln K for
    full collapse, NaN if there is no high-quality sample), ``mode_counts``
    ([K] int array of high-quality samples per mode) and ``min_count``.
  """
  x = np.asarray(samples, np.float64)
  c = np.asarray(centers, np.float64)
  if x.ndim != 2 or c.ndim != 2 or x.shape[1] != c.shape[1]:
    raise ValueError(f"samples {x.shape} and centers {c.shape} must be [N,d], [K,d]")
  n, k = x.shape[0], c.shape[0]
  if n == 0 or k == 0:
    raise ValueError("mode_coverage needs samples and centers")
  if min_count is None:
    min_count = max(1, math.ceil(0.2 * n / k))
  d2 = np.sum((x[:, None, :] - c[None, :, :]) ** 2, axis=-1)  # [N, K]
  nearest = d2.argmin(axis=1)
  good = np.sqrt(d2[np.arange(n), nearest]) <= threshold * std
  counts = np.bincount(nearest[good], minlength=k)
  total = counts.sum()
  if total > 0:
    q = counts / total
    kl = float(np.sum(q[q > 0] * np.log(q[q > 0] * k)))
  else:
    kl = float("nan")
  return dict(
    modes_hit=int(np.sum(counts >= min_count)),
    high_quality_fraction=float(good.mean()),
    kl_to_uniform=kl,
    mode_counts=counts,
    min_count=int(min_count),
  )
