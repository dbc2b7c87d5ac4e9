"""Cross-family evaluation metrics for gen_jax models.

* ``likelihood``: bits/dim, dequantization offsets, IWAE bound.
* ``sample_quality``: FID statistics, KID, precision/recall, Inception Score.
* ``task_metrics``: PSNR, SSIM, AUROC, perplexity, accuracy, BLEU, exact
  match, toy-mixture mode coverage.
* ``feature_net``: the project's classifier feature nets (mnist5k, digits).
* ``inception``: pytorch-fid's Inception-v3 from a user-supplied weights file.
* ``harness``: streaming sample-quality evaluation (``harness.sample_quality``; not
  re-exported here, where ``sample_quality`` is the metrics module) and likelihood summaries.
* ``config_eval``: the ``config.eval``-driven entry point of ``--mode=eval``.
See README.md, section "Comparing models", for what each metric means and how to run it.
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
from gen_jax.eval.feature_net import (
  FeatureNet,
  FeatureNetError,
  load_feature_net,
  to_unit_range,
)
from gen_jax.eval.harness import (
  FeatureSet,
  compare_feature_sets,
  generated_features,
  likelihood_summary,
  make_feature_extractor,
  reference_features,
)
from gen_jax.eval.config_eval import (
  default_eval_config,
  evaluate_sample_quality,
  validate_eval_config,
)
from gen_jax.eval.inception import load_inception_features
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
  "FeatureNet",
  "FeatureNetError",
  "load_feature_net",
  "to_unit_range",
  "FeatureSet",
  "compare_feature_sets",
  "generated_features",
  "likelihood_summary",
  "make_feature_extractor",
  "reference_features",
  "default_eval_config",
  "evaluate_sample_quality",
  "validate_eval_config",
  "load_inception_features",
  "accuracy",
  "auroc",
  "bleu",
  "exact_match",
  "mode_coverage",
  "perplexity",
  "psnr",
  "ssim",
]
