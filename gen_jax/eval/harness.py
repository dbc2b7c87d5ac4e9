"""The evaluation harness: sample quality (FID, KID, precision/recall, classifier scores) and
likelihood summaries in one result format for every family.

Results are dicts ``{metric: {'value': float, 'stderr': float | None, 'num_samples': int, ...}}``
(``stderr`` is None where no standard error is defined) plus ``'feature_net'`` and
``'feature_net_digest'`` (str) naming the exact feature network the numbers depend on.

Memory: generated images are produced, mapped to [0, 1] and embedded one batch at a time.
FID uses the streaming float64 Gaussian statistics (``update_stats``), so it needs one batch
of features and a D x D matrix whatever ``num_samples`` is; the [N, D] features are kept
(float32) only when KID or precision/recall is requested, and the [N, C] logits only for
the classifier scores. The feature network is jitted once: every call sees the same
[batch_size, H, W, C] shape (short batches are zero-padded and the padding dropped).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Iterable

import jax
import numpy as np

from gen_jax.eval import likelihood as lik
from gen_jax.eval import sample_quality as sq
from gen_jax.eval.feature_net import FeatureNet, FeatureNetError, to_unit_range

SAMPLE_METRICS = ('fid', 'kid', 'precision_recall', 'classifier')
DEFAULT_METRICS = SAMPLE_METRICS

# sample_fn(rng, num) -> images [num, H, W, C]; with labels_fn: sample_fn(rng, num, labels [num]).
SampleFn = Callable[..., Any]
LabelsFn = Callable[[jax.Array, int], Any]


@dataclasses.dataclass
class FeatureSet:
  """What the harness keeps of one image set (generated or reference).

  Attributes:
    stats: streaming mean/covariance of the [N, D] features (float64).
    features: [N, D] float32 features, or None when not kept (FID only).
    logits: [N, C] float32 classifier logits, or None.
    labels: [N] int labels (reference labels, or the requested labels of conditional
      samples), or None.
  """
  stats: sq.GaussianStatsAccumulator
  features: np.ndarray | None = None
  logits: np.ndarray | None = None
  labels: np.ndarray | None = None

  @property
  def num(self) -> int:
    return int(self.stats.count)


def make_feature_extractor(feature_net: FeatureNet, batch_size: int) -> Callable[[Any, str], tuple]:
  """``extract(images [n, H, W, C], scale) -> (features [n, D], logits [n, C] | None)`` (numpy).

  Images are mapped from ``scale`` ('01' | '-11' | 'none') to [0, 1] and run through the
  network in zero-padded chunks of exactly ``batch_size`` rows, so the jitted network
  (``extract.jitted``) compiles once for any n.
  """
  jitted = jax.jit(feature_net.apply_fn)

  def extract(images: Any, scale: str = '01') -> tuple[np.ndarray, np.ndarray | None]:
    x = np.asarray(images, np.float32)
    feature_net.check_images(x.shape)
    feats, logits = [], []
    for start in range(0, x.shape[0], batch_size):
      chunk = x[start:start + batch_size]
      n = chunk.shape[0]
      if n < batch_size:
        chunk = np.concatenate([chunk, np.zeros((batch_size - n,) + chunk.shape[1:], np.float32)])
      f, lg = jitted(feature_net.params, to_unit_range(chunk, scale))
      feats.append(np.asarray(f, np.float32)[:n])
      if lg is not None:
        logits.append(np.asarray(lg, np.float32)[:n])
    d = feature_net.feature_dim
    return (np.concatenate(feats) if feats else np.zeros((0, d), np.float32),
            np.concatenate(logits) if logits else None)

  extract.jitted = jitted  # type: ignore[attr-defined]
  extract.batch_size = batch_size  # type: ignore[attr-defined]
  return extract


def _needs(metrics: Iterable[str]) -> tuple[bool, bool]:
  """(keep features, keep logits) for the requested metric groups."""
  metrics = tuple(metrics)
  unknown = [m for m in metrics if m not in SAMPLE_METRICS]
  if unknown:
    raise ValueError(f'unknown sample-quality metrics {unknown}; allowed: {", ".join(SAMPLE_METRICS)}.')
  return ('kid' in metrics or 'precision_recall' in metrics), 'classifier' in metrics


def _add(fs: FeatureSet, feats: np.ndarray, logits: np.ndarray | None, labels: np.ndarray | None,
         keep_features: bool, keep_logits: bool, parts: dict) -> FeatureSet:
  fs = dataclasses.replace(fs, stats=sq.update_stats(fs.stats, feats))
  if keep_features:
    parts['features'].append(feats)
  if keep_logits and logits is not None:
    parts['logits'].append(logits)
  if labels is not None:
    parts['labels'].append(np.asarray(labels).astype(np.int64))
  return fs


def _finish(fs: FeatureSet, parts: dict) -> FeatureSet:
  cat = lambda k: np.concatenate(parts[k]) if parts[k] else None  # noqa: E731
  return dataclasses.replace(fs, features=cat('features'), logits=cat('logits'), labels=cat('labels'))


def reference_features(batches: Iterable[dict], extract: Callable, feature_net: FeatureNet, *,
                       metrics: Iterable[str] = DEFAULT_METRICS, scale: str = '01',
                       max_examples: int | None = None) -> FeatureSet:
  """Embeds a finite iterable of batches ``{'image' [B, H, W, C], 'mask' [B]?, 'label' [B]?}``.

  Rows with ``mask == 0`` (eval-iterator padding) are dropped; at most ``max_examples``
  rows are used. ``scale`` is the images' range ('01' for ``gen_jax.data`` with scale '01').
  """
  keep_f, keep_l = _needs(metrics)
  fs = FeatureSet(sq.init_stats(feature_net.feature_dim))
  parts: dict = {'features': [], 'logits': [], 'labels': []}
  for batch in batches:
    images = np.asarray(batch['image'])
    keep = np.asarray(batch['mask']) > 0 if 'mask' in batch else np.ones(images.shape[0], bool)
    if max_examples is not None:
      keep &= np.cumsum(keep) <= max_examples - fs.num
    if not keep.any():
      if max_examples is not None and fs.num >= max_examples:
        break
      continue
    feats, logits = extract(images[keep], scale)
    labels = np.asarray(batch['label'])[keep] if 'label' in batch else None
    fs = _add(fs, feats, logits, labels, keep_f, keep_l, parts)
  if fs.num < 2:
    raise ValueError(f'the reference set has {fs.num} examples; need at least 2.')
  return _finish(fs, parts)


def generated_features(sample_fn: SampleFn, num_samples: int, batch_size: int, extract: Callable,
                       feature_net: FeatureNet, *, rng: jax.Array, metrics: Iterable[str] = DEFAULT_METRICS,
                       labels_fn: LabelsFn | None = None, scale: str = '01') -> FeatureSet:
  """Draws ``num_samples`` samples in batches of ``batch_size`` and embeds them one batch at a time.

  Batch i uses ``jax.random.fold_in(rng, i)`` (split in two for labels and samples when
  ``labels_fn`` is given); the last batch is drawn full and truncated, so ``sample_fn`` is
  always called with the same ``batch_size`` (one compilation of a jitted sampler).
  """
  keep_f, keep_l = _needs(metrics)
  fs = FeatureSet(sq.init_stats(feature_net.feature_dim))
  parts: dict = {'features': [], 'logits': [], 'labels': []}
  for i in range(-(-num_samples // batch_size)):
    key = jax.random.fold_in(rng, i)
    labels = None
    if labels_fn is None:
      images = sample_fn(key, batch_size)
    else:
      label_key, key = jax.random.split(key)
      labels = np.asarray(labels_fn(label_key, batch_size))
      images = sample_fn(key, batch_size, labels)
    images = np.asarray(jax.device_get(images))
    if images.shape[0] != batch_size:
      raise ValueError(f'sample_fn returned {images.shape[0]} samples; asked for {batch_size}.')
    take = min(batch_size, num_samples - fs.num)
    feats, logits = extract(images[:take], scale)
    fs = _add(fs, feats, logits, None if labels is None else labels[:take], keep_f, keep_l, parts)
  return _finish(fs, parts)


def _entry(value: float, stderr: float | None, n: int, **extra: Any) -> dict:
  stderr = None if stderr is None or not math.isfinite(stderr) else float(stderr)
  return {'value': float(value), 'stderr': stderr, 'num_samples': int(n), **extra}


def compare_feature_sets(gen: FeatureSet, ref: FeatureSet, metrics: Iterable[str] = DEFAULT_METRICS, *,
                         kid_subsets: int = 100, kid_subset_size: int = 1000, pr_k: int = 3,
                         is_splits: int = 10, seed: int = 0) -> dict:
  """The requested metrics of a generated set against a reference set (see module docstring).

  * ``fid``: Frechet distance of the two feature Gaussians (squared feature units).
  * ``kid``: unbiased cubic-kernel MMD^2 over ``kid_subsets`` subsets of
    m = min(``kid_subset_size``, N_gen, N_ref) rows; stderr over subsets (None when
    m = N_gen = N_ref). It ignores the noise of a fixed reference set, so |KID| of a
    few stderr below 0 happens for near-identical distributions.
  * ``precision_recall`` -> ``precision`` and ``recall`` (k = ``pr_k``), computed on random
    subsets (numpy seed ``seed``) of n = min(N_gen, N_ref) rows of each set: the k-NN radii
    depend on the set size, so both sets must be equally large to be comparable.
  * ``classifier`` -> ``inception_score`` (mean over ``is_splits`` random splits, stderr over
    splits), ``class_entropy`` H(mean prediction) in nats (mode coverage; max ln C),
    ``conditional_accuracy`` for conditional samples, and the same scores of the
    reference set (``reference_*``) as the target values.
  """
  metrics = tuple(metrics)
  _needs(metrics)
  out: dict = {}
  n_gen, n_ref = gen.num, ref.num
  if 'fid' in metrics:
    mu_g, s_g = sq.finalize_stats(gen.stats)
    mu_r, s_r = sq.finalize_stats(ref.stats)
    out['fid'] = _entry(sq.frechet_distance(mu_g, s_g, mu_r, s_r), None, n_gen, num_reference=n_ref)
  if 'kid' in metrics:
    m = min(kid_subset_size, n_gen, n_ref)
    val, err = sq.kid(gen.features, ref.features, num_subsets=kid_subsets, subset_size=m, seed=seed)
    if m == n_gen == n_ref:  # every subset is both whole sets: no subset-sampling error to report
      err = None
    out['kid'] = _entry(val, err, n_gen, num_reference=n_ref, subset_size=m, num_subsets=kid_subsets)
  if 'precision_recall' in metrics:
    n = min(n_gen, n_ref)
    rng = np.random.default_rng(seed)
    sub_ref = ref.features[np.sort(rng.permutation(n_ref)[:n])]
    sub_gen = gen.features[np.sort(rng.permutation(n_gen)[:n])]
    prec, rec = sq.precision_recall(sub_ref, sub_gen, k=pr_k)
    out['precision'] = _entry(prec, None, n, num_reference=n, k=pr_k)
    out['recall'] = _entry(rec, None, n, num_reference=n, k=pr_k)
  if 'classifier' in metrics:
    if gen.logits is None or ref.logits is None:
      raise FeatureNetError('the classifier metrics need a feature net with a classifier head (logits).')
    num_classes = gen.logits.shape[1]
    for prefix, fs in (('', gen), ('reference_', ref)):
      splits = max(1, min(is_splits, fs.num // 2))
      order = np.random.default_rng(seed).permutation(fs.num)  # data order may be sorted by class
      scores = sq.classifier_scores(fs.logits[order], num_splits=splits)
      is_err = scores.get('inception_score_std', float('nan')) / math.sqrt(splits)
      out[prefix + 'inception_score'] = _entry(scores['inception_score'], is_err, fs.num, num_splits=splits)
      out[prefix + 'class_entropy'] = _entry(scores['entropy_of_mean_prediction'], None, fs.num,
                                             max_value=math.log(num_classes))
      if fs.labels is not None:
        acc = sq.conditional_accuracy(fs.logits, fs.labels)
        name = 'conditional_accuracy' if fs is gen else 'reference_accuracy'
        out[name] = _entry(acc, math.sqrt(acc * (1.0 - acc) / fs.num), fs.num)
  return out


def sample_quality(sample_fn: SampleFn, num_samples: int, batch_size: int, feature_net: FeatureNet,
                   reference_iterator: Iterable[dict] | FeatureSet, *, rng: jax.Array,
                   metrics: Iterable[str] = DEFAULT_METRICS, labels_fn: LabelsFn | None = None,
                   sample_scale: str = '01', reference_scale: str = '01', **compare_kwargs: Any) -> dict:
  """Sample-quality metrics of a generative model against reference data.

  Args:
    sample_fn: ``sample_fn(rng, batch_size) -> images [batch_size, H, W, C]`` in
      ``sample_scale``; with ``labels_fn``, ``sample_fn(rng, batch_size, labels)``.
    num_samples: N generated samples (FID/KID are biased in 1/N: compare at equal N).
    batch_size: samples per ``sample_fn`` call and rows per feature-network call.
    feature_net: from ``load_feature_net(dataset)`` or ``load_inception_features(path)``.
    reference_iterator: a finite iterable of batches ``{'image', 'mask', 'label'?}`` (e.g.
      ``gen_jax.data.make_eval_iterator``), or a FeatureSet from ``reference_features``
      computed earlier with the same feature net (reuse across evaluations).
    rng: JAX key for sampling.
    metrics: subset of ``SAMPLE_METRICS``.
    labels_fn: ``labels_fn(rng, batch_size) -> int labels [batch_size]`` for conditional
      models; adds ``conditional_accuracy`` (classifier accuracy on the requested labels).
    sample_scale, reference_scale: '01' | '-11' | 'none', the ranges of the images.
    **compare_kwargs: ``kid_subsets``, ``kid_subset_size``, ``pr_k``, ``is_splits``, ``seed``.

  Returns:
    ``{metric: {'value', 'stderr', 'num_samples', ...}, 'feature_net': str,
    'feature_net_digest': str}``; metric names as in ``compare_feature_sets``.
  """
  metrics = tuple(metrics)
  extract = make_feature_extractor(feature_net, batch_size)
  if isinstance(reference_iterator, FeatureSet):
    ref = reference_iterator
  else:
    ref = reference_features(reference_iterator, extract, feature_net, metrics=metrics, scale=reference_scale)
  gen = generated_features(sample_fn, num_samples, batch_size, extract, feature_net, rng=rng, metrics=metrics,
                           labels_fn=labels_fn, scale=sample_scale)
  out = compare_feature_sets(gen, ref, metrics, **compare_kwargs)
  out['feature_net'] = feature_net.name
  out['feature_net_digest'] = feature_net.digest
  return out


def likelihood_summary(per_example_nll_nats: Any, num_dims: int, scale: str, dequantized: bool,
                       mask: Any = None, num_bits: int = 8) -> dict:
  """Bits/dim and NLL with standard errors, in the harness's result format.

  Args:
    per_example_nll_nats: [N] NLL per example in nats: -log p(y) of a continuous density on
      dequantized data (``dequantized=True``), or -log P(x) of a discrete model
      (``dequantized=False``: Bernoulli on binarized pixels, categorical over 2^num_bits
      levels, tokens), which is used as is.
    num_dims: D, data dimensions per example (H * W * C).
    scale: the data range the density lives on: '01' (bin width 1/2^b), '-11' (2/2^b) or
      'none' (pixel units, bin width 1).
    dequantized: whether ``per_example_nll_nats`` is a continuous NLL of uniformly
      dequantized data, converted here by + D ln(1 / bin width).
    mask: optional [N] validity mask (1 = include).
    num_bits: bit depth of the discrete data.

  Returns:
    ``{'bits_per_dim': {...}, 'nll_nats': {...}}``, each with value/stderr/num_samples.
  """
  nll = np.asarray(per_example_nll_nats, np.float64)
  if scale not in ('01', '-11', 'none'):
    raise ValueError(f"scale must be '01', '-11' or 'none', got {scale!r}")
  if dequantized and scale != 'none':  # the conversion of gen_jax.eval.likelihood.nll_bits_per_dim, in nats
    nll = lik.continuous_to_discrete_nll(nll, num_dims, scale, num_bits)
  s = lik.bits_per_dim_summary(nll, num_dims, mask)
  n = s['num_examples']
  return {'bits_per_dim': _entry(s['bits_per_dim'], s['bits_per_dim_stderr'], n),
          'nll_nats': _entry(s['nll_nats'], s['nll_nats_stderr'], n)}


def format_results(results: dict) -> str:
  """One line per metric: ``name = value ± stderr (n=...)`` (for consoles and logs)."""
  lines = []
  for k, v in results.items():
    if isinstance(v, dict):
      err = '' if v.get('stderr') is None else f' ± {v["stderr"]:.4g}'
      lines.append(f'{k:>28s} = {v["value"]:.4f}{err}  (n={v["num_samples"]})')
    else:
      lines.append(f'{k:>28s} : {v}')
  return '\n'.join(lines)
