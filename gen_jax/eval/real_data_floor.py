"""The "floor" of the sample-quality metrics: real train images scored against the real test set.

    .venv/bin/python -m gen_jax.eval.real_data_floor --dataset=mnist5k
    .venv/bin/python -m gen_jax.eval.real_data_floor --dataset=digits

Treats the train split as if it were a model's samples and runs exactly the harness code
path of ``--mode=eval`` (same feature net, same reference set: the test split at
``scale='01'``), so a generative model cannot be expected to beat these numbers at the same
number of samples. Prints the table and writes ``experiments/eval/floor_<dataset>.json``
(or ``--output``).
"""
from __future__ import annotations

import json
import os
import time

import jax
import ml_collections
from absl import app, flags

from gen_jax import data as data_lib
from gen_jax.eval import harness
from gen_jax.eval.feature_net import DATASETS, load_feature_net
from gen_jax.eval.train_feature_net import data_fingerprint

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command's absl flags (defined only when run as a script)."""
  flags.DEFINE_enum('dataset', 'mnist5k', list(DATASETS), 'Embedded image dataset.')
  flags.DEFINE_integer('num_samples', 0, 'Train images used as "samples" (0: the whole split).')
  flags.DEFINE_integer('batch_size', 500, 'Images per feature-net call.')
  flags.DEFINE_string('output', '', 'JSON path (default experiments/eval/floor_<dataset>.json).')
  flags.DEFINE_string('data_dir', '', 'tfds data_dir (default $TFDS_DATA_DIR or ~/tensorflow_datasets).')


def _data_config(dataset: str, batch_size: int, data_dir: str) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(seed=0, batch_size=batch_size, dataset=dict(
      name=dataset, data_dir=data_dir, eval_split='test', scale='01', binarize='none', dequantize='none')))


def real_data_floor(dataset: str, num_samples: int = 0, batch_size: int = 500, data_dir: str = '',
                    metrics: tuple[str, ...] = harness.SAMPLE_METRICS, **compare_kwargs) -> dict:
  """Harness metrics of the ``train`` split (first ``num_samples`` images; 0 = all) vs ``test``.

  Returns the harness result dict plus ``'samples': 'train[:N]'`` and ``'reference': 'test'``.
  """
  net = load_feature_net(dataset)
  extract = harness.make_feature_extractor(net, batch_size)
  cfg = _data_config(dataset, batch_size, data_dir)
  ref = harness.reference_features(data_lib.make_eval_iterator(cfg, 0, 1), extract, net, metrics=metrics)
  train_it = data_lib.make_eval_iterator(cfg, 0, 1, split='train')
  gen = harness.reference_features(train_it, extract, net, metrics=metrics, max_examples=num_samples or None)
  out = harness.compare_feature_sets(gen, ref, metrics, **compare_kwargs)
  if 'conditional_accuracy' in out:  # the "samples" carry their true labels: the classifier's train accuracy
    out['train_accuracy'] = out.pop('conditional_accuracy')
  out['feature_net'] = net.name
  out['feature_net_digest'] = net.digest
  out['samples'] = f'{dataset} train[:{gen.num}]'
  out['reference'] = f'{dataset} test ({ref.num})'
  return out


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments {argv[1:]}')
  dataset = FLAGS.dataset
  t0 = time.perf_counter()
  out = real_data_floor(dataset, FLAGS.num_samples, FLAGS.batch_size, FLAGS.data_dir)
  cmd = f'.venv/bin/python -m gen_jax.eval.real_data_floor --dataset={dataset}'
  if FLAGS.num_samples:
    cmd += f' --num_samples={FLAGS.num_samples}'
  out['command'] = cmd
  out['train_data_sha256'] = data_fingerprint(dataset, FLAGS.data_dir)  # as in the feature net's sidecar
  out['jax_version'] = jax.__version__
  print(harness.format_results(out))
  path = FLAGS.output or os.path.join(ROOT, 'experiments', 'eval', f'floor_{dataset}.json')
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'w', encoding='utf-8') as f:
    json.dump(out, f, indent=2)
    f.write('\n')
  print(f'Wrote {path} ({time.perf_counter() - t0:.0f}s).', flush=True)


if __name__ == '__main__':
  define_flags()
  app.run(main)
