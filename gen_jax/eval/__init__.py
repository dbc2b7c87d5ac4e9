"""Cross-family evaluation metrics for gen_jax models.

* ``likelihood``: bits/dim, dequantization offsets, IWAE bound.
* ``sample_quality``: FID statistics, KID, precision/recall, Inception Score.
* ``task_metrics``: PSNR, SSIM, AUROC, perplexity, accuracy, BLEU, exact
  match, toy-mixture mode coverage.
"""

from gen_jax.eval.likelihood import (
  bits_per_dim,
  bits_per_dim_summary,
  continuous_to_discrete_nll,
  iwae_bound,
  mean_with_stderr,
)
from gen_jax.eval.sample_quality import (
  GaussianStatsAccumulator,
  classifier_scores,
  conditional_accuracy,
  finalize_stats,
  frechet_distance,
  gaussian_stats,
  init_stats,
  kid,
  precision_recall,
  update_stats,
)
from gen_jax.eval.task_metrics import (
  accuracy,
  auroc,
  bleu,
  exact_match,
  mode_coverage,
  perplexity,
  psnr,
  ssim,
)

__all__ = [
  "bits_per_dim",
  "bits_per_dim_summary",
  "continuous_to_discrete_nll",
  "iwae_bound",
  "mean_with_stderr",
  "GaussianStatsAccumulator",
  "classifier_scores",
  "conditional_accuracy",
  "finalize_stats",
  "frechet_distance",
  "gaussian_stats",
  "init_stats",
  "kid",
  "precision_recall",
  "update_stats",
  "accuracy",
  "auroc",
  "bleu",
  "exact_match",
  "mode_coverage",
  "perplexity",
  "psnr",
  "ssim",
]
