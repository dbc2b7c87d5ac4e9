"""Corpus-level metrics of a language model from the per-window sums of its eval step.

The loop averages each per-window value over the split: ``nll`` (nats), ``tokens``, ``chars`` and the
products ``nll_x_chars``, ``nll_x_tokens``, with their standard errors. Ratios of those means are the exact
corpus numbers (every target of the split counted once):

  bits/char   = mean(nll) / (ln 2 * mean(chars))       (= total NLL in bits / total characters)
  bits/token  = mean(nll) / (ln 2 * mean(tokens))
  perplexity  = exp(mean(nll) / mean(tokens))          (per token)

Standard errors of a ratio R = mean(y) / mean(x) of n windows by the delta method,
``var(R) = (var(y) - 2 R cov(x, y) + R^2 var(x)) / (n mean(x)^2)``, with the per-window variances
recovered from the loop's standard errors and the covariance from the mean of the product x y.
"""
import math
from typing import Any

_LN2 = math.log(2.0)


def _moments(results: dict, key: str) -> tuple[float, float, int]:
  r = results[key]
  n = int(r['num_samples'])
  se = r.get('stderr')
  var = (se ** 2) * n if se is not None else 0.0          # the sample variance (ddof=1) of the per-window values
  return float(r['value']), var, n


def ratio(results: dict, num: str, den: str, product: str | None) -> tuple[float, float | None, int]:
  """``(mean(num) / mean(den), its delta-method standard error, n)`` from the loop's eval results."""
  y, var_y, n = _moments(results, num)
  x, var_x, _ = _moments(results, den)
  r = y / x
  if product is None or product not in results or n < 2:
    return r, None, n
  cov = (float(results[product]['value']) - x * y) * n / (n - 1)
  var_r = max(var_y - 2 * r * cov + r * r * var_x, 0.0) / (n * x * x)
  return r, math.sqrt(var_r), n


def corpus_metrics(results: dict) -> dict[str, dict[str, Any]]:
  """``bits_per_char`` (when ``chars`` was counted), ``bits_per_token`` and ``perplexity`` of an eval pass
  (``{metric: {'value', 'stderr', 'num_samples'}}`` in, the same shape out); {} for other families' results."""
  if 'nll' not in results or 'tokens' not in results:
    return {}
  out = {}
  if 'chars' in results:
    r, se, n = ratio(results, 'nll', 'chars', 'nll_x_chars')
    out['bits_per_char'] = {'value': r / _LN2, 'stderr': None if se is None else se / _LN2, 'num_samples': n}
  r, se, n = ratio(results, 'nll', 'tokens', 'nll_x_tokens')
  out['bits_per_token'] = {'value': r / _LN2, 'stderr': None if se is None else se / _LN2, 'num_samples': n}
  out['perplexity'] = {'value': math.exp(r), 'stderr': None if se is None else math.exp(r) * se, 'num_samples': n}
  out['nll_per_token'] = {'value': r, 'stderr': se, 'num_samples': n}
  return out


def summarize_eval(results: dict, config: Any) -> dict[str, dict[str, Any]]:
  """The contract hook: metrics of the whole split derived from the per-example means (added to
  ``--mode=eval``'s results by the loop when it calls it; studies call it directly)."""
  del config
  return corpus_metrics(results)
