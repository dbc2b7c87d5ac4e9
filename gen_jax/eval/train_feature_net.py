"""Trains and stores the classifier feature net of an embedded image dataset, deterministically.

    .venv/bin/python -m gen_jax.eval.train_feature_net --dataset=mnist5k   # ~2 min on 2 CPU cores
    .venv/bin/python -m gen_jax.eval.train_feature_net --dataset=digits    # ~30 s

Fixed seed, fixed number of steps, data from ``gen_jax.data`` (train split, ``scale='01'``,
no binarization or dequantization) with light augmentation (random integer shifts of up
to ``TRAIN_CONFIGS[dataset]['max_shift']`` pixels, zero fill). Prints the test-split
accuracy and writes ``<weights_dir>/<dataset>_classifier.msgpack`` plus the JSON sidecar
(see ``gen_jax.eval.feature_net``). Running it twice on the same machine and software
gives the same bytes (same digest); on other hardware the digest may differ in the last
float bits while the accuracy agrees (the slow test checks this within 0.5%).
"""
from __future__ import annotations

import hashlib
import os
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import app, flags

from gen_jax import data as data_lib
from gen_jax.eval import feature_net as fn_lib

TRAIN_CONFIGS = {
    'mnist5k': dict(seed=0, batch_size=128, num_steps=1000, lr=3e-3, warmup_steps=100, weight_decay=1e-4,
                    max_shift=2),
    'digits': dict(seed=0, batch_size=64, num_steps=1500, lr=3e-3, warmup_steps=50, weight_decay=1e-4,
                   max_shift=1),
}

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command's absl flags (defined only when run as a script, so importing is side-effect free)."""
  flags.DEFINE_enum('dataset', 'mnist5k', list(fn_lib.DATASETS), 'Embedded image dataset.')
  flags.DEFINE_string('weights_dir', '', 'Output directory (default gen_jax/eval/weights).')
  flags.DEFINE_string('data_dir', '', 'tfds data_dir (default $TFDS_DATA_DIR or ~/tensorflow_datasets).')


def data_config(dataset: str, batch_size: int, seed: int, data_dir: str = '') -> ml_collections.ConfigDict:
  """The ``gen_jax.data`` config of the feature net's training and test data ([0, 1] images)."""
  return ml_collections.ConfigDict(dict(
      seed=seed, batch_size=batch_size,
      dataset=dict(name=dataset, data_dir=data_dir, train_split='train', eval_split='test', scale='01',
                   binarize='none', dequantize='none', num_workers=0, prefetch=2)))


def random_shift(images: jax.Array, rng: jax.Array, max_shift: int) -> jax.Array:
  """Shifts each image [B, H, W, C] by independent integer offsets in [-max_shift, max_shift]."""
  if max_shift <= 0:
    return images
  b, h, w, _ = images.shape
  padded = jnp.pad(images, ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0)))
  offsets = jax.random.randint(rng, (b, 2), 0, 2 * max_shift + 1)

  def crop(img, off):
    return jax.lax.dynamic_slice(img, (off[0], off[1], 0), (h, w, img.shape[-1]))

  return jax.vmap(crop)(padded, offsets)


def make_optimizer(cfg: dict) -> optax.GradientTransformation:
  """AdamW with linear warm-up and cosine decay to 0 over ``num_steps``."""
  sched = optax.warmup_cosine_decay_schedule(0.0, cfg['lr'], cfg['warmup_steps'], cfg['num_steps'])
  return optax.adamw(sched, weight_decay=cfg['weight_decay'])


def make_train_step(cfg: dict):
  """Pure ``(params, opt_state, batch, rng) -> (params, opt_state, loss)``; jit-able."""
  opt = make_optimizer(cfg)

  def loss_fn(params, images, labels):
    lg = fn_lib.logits(params, images)
    return optax.softmax_cross_entropy_with_integer_labels(lg, labels).mean()

  def step(params, opt_state, batch, rng):
    images = random_shift(batch['image'], rng, cfg['max_shift'])
    loss, grads = jax.value_and_grad(loss_fn)(params, images, batch['label'])
    updates, opt_state = opt.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  return opt, step


def data_fingerprint(dataset: str, data_dir: str = '') -> str:
  """SHA-256 of the train split as ``gen_jax.data`` reads it (stored order; float32 images, int32 labels).

  The train stream's per-epoch permutations index the stored order, so equal fingerprints
  mean the training run sees exactly the same batches.
  """
  h = hashlib.sha256()
  for batch in data_lib.make_eval_iterator(data_config(dataset, 500, 0, data_dir), split='train'):
    m = batch['mask'] > 0
    h.update(np.ascontiguousarray(batch['image'][m], np.float32).tobytes())
    h.update(np.ascontiguousarray(batch['label'][m], np.int32).tobytes())
  return h.hexdigest()


def evaluate_accuracy(params: Any, dataset: str, data_dir: str = '', batch_size: int = 500) -> tuple[float, int]:
  """(accuracy, number of examples) of ``ConvClassifier`` params on the test split."""
  it = data_lib.make_eval_iterator(data_config(dataset, batch_size, 0, data_dir))
  predict = jax.jit(lambda p, x: jnp.argmax(fn_lib.logits(p, x), axis=-1))
  correct = total = 0.0
  for batch in it:
    pred = np.asarray(predict(params, batch['image']))
    m = batch['mask'] > 0
    correct += float(np.sum((pred == batch['label'])[m]))
    total += float(np.sum(m))
  return correct / total, int(total)


def train(dataset: str, data_dir: str = '', log_every: int = 200) -> tuple[Any, dict]:
  """Trains the classifier of ``dataset``; returns (params, training summary)."""
  cfg = TRAIN_CONFIGS[dataset]
  it = data_lib.make_train_iterator(data_config(dataset, cfg['batch_size'], cfg['seed'], data_dir))
  rng = jax.random.key(cfg['seed'])
  init_rng, aug_rng = jax.random.split(rng)
  params = fn_lib.init_classifier(init_rng, fn_lib.IMAGE_SHAPES[dataset])
  opt, step = make_train_step(cfg)
  opt_state = opt.init(params)
  step = jax.jit(step)
  t0 = time.perf_counter()
  loss = float('nan')
  for i in range(cfg['num_steps']):
    batch = next(it)
    params, opt_state, loss = step(params, opt_state, batch, jax.random.fold_in(aug_rng, i))
    if log_every and ((i + 1) % log_every == 0 or i + 1 == cfg['num_steps']):
      print(f'step {i + 1:5d}/{cfg["num_steps"]}  loss {float(loss):.4f}  ({time.perf_counter() - t0:.0f}s)',
            flush=True)
  it.close()
  return params, {'final_train_loss': float(loss), 'train_seconds': round(time.perf_counter() - t0, 1)}


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments {argv[1:]}')
  dataset = FLAGS.dataset
  fingerprint = data_fingerprint(dataset, FLAGS.data_dir)
  _, stored_meta = fn_lib.weights_paths(dataset)
  if os.path.isfile(stored_meta):
    stored = fn_lib.load_metadata(dataset).get('train_data_sha256')
    if stored and stored != fingerprint:
      print(f'WARNING: the {dataset} train split read here (sha256 {fingerprint[:12]}...) differs from the one '
            f'the stored weights were trained on ({stored[:12]}...): the prepared data may be stale (delete '
            f'<data_dir>/{dataset} to re-prepare it) or the builder changed. Weights will differ.', flush=True)
  params, summary = train(dataset, FLAGS.data_dir)
  acc, n = evaluate_accuracy(params, dataset, FLAGS.data_dir)
  print(f'{dataset}: test accuracy {acc:.4f} ({n} examples)', flush=True)
  meta = {'test_accuracy': acc, 'num_test_examples': n, 'command': fn_lib.train_command(dataset),
          'train_data_sha256': fingerprint,
          'train_config': {**TRAIN_CONFIGS[dataset], 'optimizer': 'adamw, warmup + cosine decay to 0',
                           'augmentation': 'random integer shifts in [-max_shift, max_shift], zero fill',
                           'data': 'gen_jax.data train split, scale=01, binarize=none, dequantize=none'},
          'software': {'jax': jax.__version__, 'python': sys.version.split()[0]},
          **summary}
  sidecar = fn_lib.save_feature_net(dataset, params, meta, FLAGS.weights_dir or None)
  path, _ = fn_lib.weights_paths(dataset, FLAGS.weights_dir or None)
  print(f'Wrote {path} ({sidecar["num_bytes"]:,} bytes, sha256 {sidecar["sha256"]})', flush=True)


if __name__ == '__main__':
  define_flags()
  app.run(main)
