"""Config-driven sample-quality evaluation: what ``--mode=eval`` calls for ``config.eval``.

An experiment names its metrics in ``config.eval`` (every field optional; defaults below):

    c.eval = ml_collections.ConfigDict(dict(
        metrics=('nll',),          # add 'fid', 'kid', 'precision_recall', 'classifier' for samples
        num_samples=10_000,        # generated samples (FID/KID are biased in 1/N: compare at equal N)
        sample_batch_size=500,     # samples per family.sample call and per feature-net call
        feature_net='classifier',  # the project's classifier of config.dataset.name (mnist5k, digits),
                                   # or 'inception:/path/to/pt_inception-2015-12-05.npz'
        reference_split='',        # '' -> config.dataset.eval_split ('test')
        conditional=False,         # class-conditional sampler: sample_fn(rng, n, labels)
        kid_subsets=100, kid_subset_size=1000, pr_k=3, is_splits=10))

``'nll'`` is the family's own per-example eval step (``train.evaluate``); every other name is
a group of ``gen_jax.eval.harness.SAMPLE_METRICS`` computed here. The reference set is the
same for every family on a dataset: ``reference_split`` read with ``scale='01'``, no
binarization and no dequantization, whatever the model was trained on; generated samples
are mapped from ``config.dataset.scale`` to [0, 1] and clipped.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import ml_collections
import numpy as np

from gen_jax.core.errors import ConfigError
from gen_jax.eval import harness
from gen_jax.eval.feature_net import DATASETS, FeatureNet, FeatureNetError, load_feature_net

EVAL_DEFAULTS = dict(
    metrics=('nll',), num_samples=10_000, sample_batch_size=500,
    feature_net='classifier', reference_split='', conditional=False, kid_subsets=100, kid_subset_size=1000,
    pr_k=3, is_splits=10)
ALL_METRICS = ('nll',) + harness.SAMPLE_METRICS
_REFERENCE_CACHE: dict[tuple, harness.FeatureSet] = {}


def default_eval_config(**overrides: Any) -> ml_collections.ConfigDict:
  """``config.eval`` with the defaults above (an experiment may override any field)."""
  return ml_collections.ConfigDict({**EVAL_DEFAULTS, **overrides})


def eval_settings(config: Any) -> dict:
  """``config.eval`` merged over ``EVAL_DEFAULTS`` as a plain dict (missing ``config.eval`` -> defaults)."""
  ev = config.get('eval', None) or {}
  ev = ev.to_dict() if hasattr(ev, 'to_dict') else dict(ev)
  out = {**EVAL_DEFAULTS, **ev}
  out['metrics'] = tuple(out['metrics'])
  return out


def sample_metrics(config: Any) -> tuple[str, ...]:
  """The sample-quality groups of ``config.eval.metrics`` (everything but 'nll')."""
  return tuple(m for m in eval_settings(config)['metrics'] if m != 'nll')


def validate_eval_config(config: Any, info: Any = None) -> None:
  """Fails fast (ConfigError) on unknown metrics, bad sizes, or a missing feature network.

  Args:
    config: the experiment config.
    info: optional ``gen_jax.data.DatasetInfo`` of ``config.dataset`` (checks image data).
  """
  s = eval_settings(config)
  unknown = [m for m in s['metrics'] if m not in ALL_METRICS]
  if unknown:
    raise ConfigError(f'config.eval.metrics has unknown entries {unknown}; allowed: {", ".join(ALL_METRICS)}.')
  for field in ('num_samples', 'sample_batch_size', 'kid_subsets', 'kid_subset_size', 'pr_k', 'is_splits'):
    v = s[field]
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
      raise ConfigError(f'config.eval.{field}={v!r} must be a positive integer.')
  if not sample_metrics(config):
    return
  if s['num_samples'] <= s['pr_k']:
    raise ConfigError(f'config.eval.num_samples={s["num_samples"]} must exceed config.eval.pr_k={s["pr_k"]}.')
  if info is not None and info.kind != 'image':
    raise ConfigError(f'config.eval.metrics {sample_metrics(config)} need image data; {info.name!r} holds '
                      f'{info.kind}. Use task metrics (e.g. mode coverage) for it.')
  try:
    net = feature_net_for_config(config)
  except FeatureNetError as e:
    raise ConfigError(str(e)) from e
  if 'classifier' in s['metrics'] and net.num_classes is None:
    raise ConfigError(f'config.eval.metrics has "classifier" but {net.name} has no classifier head.')
  if info is not None and 'image' in info.element_spec:
    try:
      net.check_images((1,) + tuple(info.element_spec['image'][0]))
    except FeatureNetError as e:
      raise ConfigError(str(e)) from e


def feature_net_for_config(config: Any) -> FeatureNet:
  """The FeatureNet named by ``config.eval.feature_net`` (loaded and digest-checked)."""
  spec = str(eval_settings(config)['feature_net'])
  if spec.startswith('inception:'):
    from gen_jax.eval.inception import load_inception_features  # pylint: disable=g-import-not-at-top
    return load_inception_features(spec.split(':', 1)[1])
  if spec != 'classifier':
    raise ConfigError(f"config.eval.feature_net={spec!r}; allowed: 'classifier' or 'inception:<path.npz>'.")
  name = config.dataset.name
  if name not in DATASETS:
    raise FeatureNetError(f'no project classifier for dataset {name!r} (they exist for {", ".join(DATASETS)}); '
                          "set config.eval.feature_net='inception:<path.npz>' (see gen_jax/eval/inception.py).")
  return load_feature_net(name)


def reference_data_config(config: Any, batch_size: int) -> ml_collections.ConfigDict:
  """The ``gen_jax.data`` config of the reference split: [0, 1] images, no binarize/dequantize."""
  s = eval_settings(config)
  ds = config.dataset.to_dict() if hasattr(config.dataset, 'to_dict') else dict(config.dataset)
  split = s['reference_split'] or ds.get('eval_split', None) or 'test'
  ds.update(scale='01', binarize='none', dequantize='none', eval_split=split)
  return ml_collections.ConfigDict(dict(seed=0, batch_size=batch_size, dataset=ds))


def reference_for_config(config: Any, feature_net: FeatureNet, extract: Callable) -> harness.FeatureSet:
  """Reference features of ``config`` (every process reads the whole split; cached per process)."""
  from gen_jax import data as data_lib  # pylint: disable=g-import-not-at-top
  data_cfg = reference_data_config(config, extract.batch_size)
  metrics = sample_metrics(config)
  key = (feature_net.digest, data_cfg.dataset.name, data_cfg.dataset.get('data_dir', ''),
         data_cfg.dataset.eval_split, metrics)
  if key not in _REFERENCE_CACHE:
    it = data_lib.make_eval_iterator(data_cfg, 0, 1)
    _REFERENCE_CACHE[key] = harness.reference_features(it, extract, feature_net, metrics=metrics)
  return _REFERENCE_CACHE[key]


def evaluate_sample_quality(config: Any, sample_fn: harness.SampleFn, rng: jax.Array) -> dict:
  """Sample-quality metrics of ``config.eval`` for a trained model (the ``--mode=eval`` hook).

  Args:
    config: the experiment config (``config.dataset``, optional ``config.eval``).
    sample_fn: ``sample_fn(rng, n) -> images [n, H, W, C]`` in ``config.dataset.scale`` as host
      (numpy) or fully addressable arrays, e.g. a jitted ``lambda r, n: family.sample(state,
      r, n, config)`` with n static; ``sample_fn(rng, n, labels)`` when
      ``config.eval.conditional``.
    rng: JAX key for sampling.

  Returns:
    The harness result dict (``{}`` when ``config.eval.metrics`` has no sample metric): per
    metric ``{'value', 'stderr' (None where undefined), 'num_samples', ...}`` plus
    ``'feature_net'`` and ``'feature_net_digest'``.
  """
  metrics = sample_metrics(config)
  if not metrics:
    return {}
  s = eval_settings(config)
  net = feature_net_for_config(config)
  extract = harness.make_feature_extractor(net, s['sample_batch_size'])
  ref = reference_for_config(config, net, extract)
  labels_fn = None
  if s['conditional']:
    num_classes = net.num_classes or 10
    labels_fn = lambda r, n: jax.random.randint(r, (n,), 0, num_classes)  # noqa: E731
  gen = harness.generated_features(sample_fn, s['num_samples'], s['sample_batch_size'], extract, net, rng=rng,
                                   metrics=metrics, labels_fn=labels_fn,
                                   scale=config.dataset.get('scale', '01'))
  return _compare(config, gen, ref, net)


def score_samples(config: Any, samples: Any, labels: Any = None, metrics: tuple[str, ...] | None = None) -> dict:
  """The sample metrics of ``--mode=eval`` for samples drawn elsewhere (a study's sampler, an editing method).

  Same feature network, reference split and settings as ``evaluate_sample_quality``, so the numbers
  are comparable with ``eval.json`` at equal N.

  Args:
    config: the experiment config.
    samples: images [N, H, W, C] in ``config.dataset.scale``.
    labels: optional [N] requested classes (adds ``conditional_accuracy`` with 'classifier').
    metrics: the groups to compute (default: those of ``config.eval.metrics``, or all but 'nll'
      when it names none).

  Returns:
    The same dict as ``evaluate_sample_quality``.
  """
  cfg = config.copy_and_resolve_references()
  cfg.eval.metrics = tuple(metrics or sample_metrics(config) or harness.SAMPLE_METRICS)
  s = eval_settings(cfg)
  net = feature_net_for_config(cfg)
  extract = harness.make_feature_extractor(net, s['sample_batch_size'])
  ref = reference_for_config(cfg, net, extract)
  samples = np.asarray(samples, np.float32)
  b = s['sample_batch_size']
  batches = ({'image': samples[i:i + b], **({} if labels is None else {'label': np.asarray(labels)[i:i + b]})}
             for i in range(0, len(samples), b))
  gen = harness.reference_features(batches, extract, net, metrics=sample_metrics(cfg),
                                   scale=cfg.dataset.get('scale', '01'))
  return _compare(cfg, gen, ref, net)


def _compare(config: Any, gen: harness.FeatureSet, ref: harness.FeatureSet, net: FeatureNet) -> dict:
  s = eval_settings(config)
  out = harness.compare_feature_sets(gen, ref, sample_metrics(config), kid_subsets=s['kid_subsets'],
                                     kid_subset_size=s['kid_subset_size'], pr_k=s['pr_k'],
                                     is_splits=s['is_splits'])
  out['feature_net'] = net.name
  out['feature_net_digest'] = net.digest
  return out
