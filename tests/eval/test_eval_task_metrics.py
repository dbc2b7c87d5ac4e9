"""Tests for gen_jax.eval.task_metrics.

References: closed forms, sklearn (roc_auc_score, accuracy_score),
scikit-image (PSNR, SSIM; skipped if not installed), sacrebleu.
"""

import math

import numpy as np
import pytest
import scipy.stats
from sklearn.metrics import accuracy_score, roc_auc_score

from gen_jax.eval import task_metrics as tm

# ------------------------------------------------------------------- images


def test_psnr_closed_form():
  x = np.zeros((3, 8, 8, 3))
  c = np.array([0.1, 0.01, 0.5])
  y = x + c[:, None, None, None]
  got = np.asarray(tm.psnr(x, y, data_range=1.0))
  np.testing.assert_allclose(got, 20.0 * np.log10(1.0 / c), rtol=1e-5)
  assert np.isinf(np.asarray(tm.psnr(x, x, 2.0))).all()


def test_psnr_matches_skimage():
  metrics = pytest.importorskip("skimage.metrics")
  rng = np.random.default_rng(0)
  x = rng.uniform(-1, 1, size=(4, 16, 16, 3))
  y = np.clip(x + 0.1 * rng.normal(size=x.shape), -1, 1)
  got = np.asarray(tm.psnr(x, y, data_range=2.0))
  ref = [metrics.peak_signal_noise_ratio(a, b, data_range=2.0) for a, b in zip(x, y)]
  np.testing.assert_allclose(got, ref, rtol=1e-5)


def test_ssim_of_image_with_itself_is_one():
  x = np.random.default_rng(1).uniform(size=(2, 20, 24, 3))
  np.testing.assert_allclose(np.asarray(tm.ssim(x, x, 1.0)), 1.0, atol=1e-6)


@pytest.mark.parametrize("shape,data_range", [((3, 32, 28, 3), 1.0), ((2, 24, 24), 255.0)])
def test_ssim_matches_skimage(shape, data_range):
  metrics = pytest.importorskip("skimage.metrics")
  rng = np.random.default_rng(2)
  x = rng.uniform(0, data_range, size=shape)
  # Smooth structure plus noise so SSIM is far from both 0 and 1.
  y = np.clip(0.7 * x + 0.3 * data_range * rng.uniform(size=shape), 0, data_range)
  got = np.asarray(tm.ssim(x, y, data_range))
  kw = dict(
    data_range=data_range, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
  )
  if len(shape) == 4:
    kw["channel_axis"] = -1
  ref = np.array([metrics.structural_similarity(a, b, **kw) for a, b in zip(x, y)])
  assert np.all((ref > 0.1) & (ref < 0.95))
  np.testing.assert_allclose(got, ref, atol=2e-5)


# ---------------------------------------------------------------- detection


def test_auroc_matches_sklearn_with_ties():
  rng = np.random.default_rng(3)
  labels = rng.integers(0, 2, size=500)
  scores = rng.integers(0, 10, size=500) + 2 * labels  # many ties
  np.testing.assert_allclose(tm.auroc(scores, labels), roc_auc_score(labels, scores), rtol=1e-12)
  cont = rng.normal(size=500) + labels
  np.testing.assert_allclose(
    tm.auroc(cont, labels.astype(bool)), roc_auc_score(labels, cont), rtol=1e-12
  )


def test_auroc_closed_forms_and_errors():
  assert tm.auroc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
  assert tm.auroc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 0.0
  assert tm.auroc([0.5] * 4, [0, 1, 0, 1]) == 0.5
  with pytest.raises(ValueError):
    tm.auroc([0.1, 0.2], [1, 1])


# ----------------------------------------------------------------- language


def test_perplexity_of_uniform_model_is_vocab_size():
  v = 50
  tokens = np.random.default_rng(4).integers(0, v, size=(3, 17))
  nll = -scipy.stats.randint(0, v).logpmf(tokens)
  np.testing.assert_allclose(tm.perplexity(nll), v, rtol=1e-12)


def test_perplexity_masked_is_token_weighted():
  nll = np.array([[1.0, 2.0, 9.0], [3.0, 9.0, 9.0]])
  mask = np.array([[1, 1, 0], [1, 0, 0]])
  np.testing.assert_allclose(tm.perplexity(nll, mask), math.exp(2.0), rtol=1e-12)


def test_accuracy_matches_sklearn():
  rng = np.random.default_rng(5)
  labels = rng.integers(0, 5, size=(8, 12))
  logits = rng.normal(size=(8, 12, 5))
  pred = logits.argmax(-1)
  expected = accuracy_score(labels.ravel(), pred.ravel())
  assert tm.accuracy(logits, labels) == pytest.approx(expected)
  assert tm.accuracy(pred, labels) == pytest.approx(expected)
  mask = rng.integers(0, 2, size=(8, 12)).astype(bool)
  expected_m = accuracy_score(labels[mask], pred[mask])
  assert tm.accuracy(logits, labels, mask) == pytest.approx(expected_m)


def test_bleu_identical_is_100():
  pytest.importorskip("sacrebleu")
  sents = ["the quick brown fox jumps over the lazy dog", "a b c d e f g", "hello there my friend"]
  assert tm.bleu(sents, sents) == pytest.approx(100.0)


def test_bleu_hand_computed():
  pytest.importorskip("sacrebleu")
  # n-gram precisions 5/6, 3/5, 2/4, 1/3, equal lengths (BP = 1).
  got = tm.bleu(["the cat sat on the mat"], ["the cat sat on a mat"])
  expected = 100.0 * (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25
  np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_bleu_multiple_references_take_best_match():
  pytest.importorskip("sacrebleu")
  hyps = ["the cat sat on the mat", "one two three four five"]
  refs = [["the cat sat on a mat", "the cat sat on the mat"], ["one two three four five"]]
  assert tm.bleu(hyps, refs) == pytest.approx(100.0)
  assert tm.bleu(hyps, [r[0] for r in refs]) < 100.0


def test_exact_match():
  hyps = ["Paris", " 42 ", "blue", "x"]
  refs = ["Paris", "42", ["red", "blue"], "y"]
  assert tm.exact_match(hyps, refs) == 0.75
  assert tm.exact_match(hyps, refs, strip=False) == 0.5


# ------------------------------------------------------------ mode coverage


def _ring(k=8, radius=2.0):
  t = 2 * np.pi * np.arange(k) / k
  return radius * np.stack([np.cos(t), np.sin(t)], axis=1)


def _sample(centers, which, n, std, seed):
  rng = np.random.default_rng(seed)
  idx = np.asarray(which)[np.arange(n) % len(which)]
  return centers[idx] + std * rng.normal(size=(n, 2))


def test_mode_coverage_full_ring():
  centers, std, n = _ring(), 0.02, 2500
  out = tm.mode_coverage(_sample(centers, range(8), n, std, 0), centers, std)
  assert out["modes_hit"] == 8
  # P(|z| <= 3) for a 2-D standard normal is 1 - exp(-9/2) (chi2 with 2 dof).
  p = scipy.stats.chi2(2).cdf(9.0)
  assert abs(out["high_quality_fraction"] - p) < 4 * math.sqrt(p * (1 - p) / n)
  assert 0.0 <= out["kl_to_uniform"] < 0.01


def test_mode_coverage_three_of_eight_modes():
  centers, std = _ring(), 0.02
  out = tm.mode_coverage(_sample(centers, [0, 3, 5], 2400, std, 1), centers, std)
  assert out["modes_hit"] == 3
  assert list(np.nonzero(out["mode_counts"])[0]) == [0, 3, 5]
  np.testing.assert_allclose(out["kl_to_uniform"], math.log(8 / 3), atol=0.01)


def test_mode_coverage_min_count_and_low_quality():
  centers, std = _ring(), 0.02
  x = _sample(centers, [0], 1000, std, 2)
  x[0] = centers[4]  # a single stray sample on another mode
  assert tm.mode_coverage(x, centers, std)["modes_hit"] == 1
  assert tm.mode_coverage(x, centers, std, min_count=1)["modes_hit"] == 2
  far = tm.mode_coverage(np.zeros((50, 2)), centers, std)  # ring centre: far from all
  assert far["modes_hit"] == 0 and far["high_quality_fraction"] == 0.0
  assert math.isnan(far["kl_to_uniform"])
