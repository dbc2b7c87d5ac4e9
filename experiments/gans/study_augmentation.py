"""Data augmentation with a conditional GAN (use case 7): a digit classifier trained on few labels, with
and without cGAN samples added to its training batches; test accuracy with standard errors over seeds.

  ./launch.sh python experiments/gans/study_augmentation.py --workdir=runs/gan_augmentation --steps=1500
  ./launch.sh python experiments/gans/study_augmentation.py --per_class=10,50 --seeds=3 --clf_steps=300
  ./launch.sh python experiments/gans/study_augmentation.py --tiny      # seconds: a smoke test

For each labelled budget ``k`` in ``--per_class`` and each of ``--seeds`` seeds, the seed draws ``k``
labelled train digits per class. The classifier is the project's own
(``gen_jax.eval.feature_net.ConvClassifier`` and the train step of ``gen_jax.eval.train_feature_net``:
AdamW 3e-3 with warm-up and cosine decay, weight decay 1e-4, random shifts of up to 2 pixels), trained
from scratch ``--clf_steps`` steps of batch 32 in three arms that share the labelled digits, the
initialisation and the real half of every batch:

  real            the ``k`` labelled digits per class only (batches drawn with replacement);
  real+cgan_few   half of each batch real, half from the pool of a cGAN trained on **the same labelled
                  digits and nothing else** (no other train image, labelled or not): the fair arm, a
                  generator that knows exactly what the classifier knows;
  real+cgan_all   half real, half from a cGAN trained on all mnist5k train digits with their labels: an
                  **upper bound**, not a few-label method (the generator saw 4,000 labels the classifier
                  did not; this is "train a classifier on a generator's samples", Ravuri & Vinyals 2019).

Every cGAN is ``experiments/gans/dcgan.py:<--cgan_variant>`` (default ``cgan,diffaug``: DCGAN generator
with a label embedding, projection discriminator, DiffAugment on every discriminator input, the
small-data setting DiffAugment was made for), trained ``--steps`` generator updates (0: the config's
3,000) with the family's own step; the cGANs train one after another, each on its own
labelled digits from its own seed. Each draws a pool of ``--num_synthetic`` samples (classes cycling 0..9,
labelled with the class asked for); the project classifier (trained on all labels) scores how many it
assigns to the requested class. The classifiers train one after another. Scored on the 1,000
test digits: accuracy per classifier, mean and standard error over seeds per arm, and each cGAN arm's
paired difference from ``real``. Writes ``augmentation.json``, ``augmentation.md`` and
``augmentation.png`` (accuracies; samples of a fair cGAN at each budget and of the all-label cGAN).
"""
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from gen_jax import studies
from gen_jax.core.config import load_experiment
from gen_jax.eval import feature_net as fn_lib
from gen_jax.eval import train_feature_net as clf_lib
from gen_jax.families import gans

CGAN = 'experiments/gans/dcgan.py'
ARMS = ('real', 'real+cgan_few', 'real+cgan_all')
NUM_CLASSES = 10


def labelled_subset(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
  """Indices of ``per_class`` examples of each class, drawn without replacement by ``seed`` (sorted)."""
  rng = np.random.default_rng(seed)
  picks = []
  for k in range(NUM_CLASSES):
    where = np.flatnonzero(labels == k)
    if len(where) < per_class:
      raise ValueError(f'class {k} has {len(where)} train examples, fewer than --per_class={per_class}.')
    picks.append(rng.choice(where, per_class, replace=False))
  return np.sort(np.concatenate(picks))


def cgan_config(variant: str, tiny: bool, steps: int):
  """``dcgan.py:<variant>`` (plus ``,tiny``) with ``steps`` generator updates (0: the config's); refuses an
  unconditional variant."""
  config = load_experiment(CGAN, ','.join(v for v in (variant, 'tiny' if tiny else '') if v))
  if not int(config.model.get('num_classes', 0) or 0):
    raise ValueError(f'--cgan_variant={variant!r} is unconditional; the pools need samples of requested classes '
                     '(include "cgan").')
  if steps:
    config.num_train_steps = int(steps)
  return config


def train_cgans(config, images: np.ndarray, labels: np.ndarray, subsets: list[np.ndarray], seeds: list[int],
                steps: int) -> tuple[Any, np.ndarray]:
  """Trains one cGAN per entry of ``subsets`` (indices into ``images`` [N, 28, 28, 1] in [-1, 1] and
  ``labels`` [N]), each only on its own examples and from its own ``seeds`` entry, with the family's ``init``
  and ``make_train_step`` (batches drawn with replacement on the device). The runs go one after another
  through one compiled step, called from Python: a ``jax.vmap`` over runs would turn the convolutions into
  grouped ones and a ``lax.scan`` over steps would put their weight gradients in a loop body, both of which
  XLA:CPU runs far slower. Returns ``(states stacked on a leading run axis, diverged bool [R])``; a run whose
  loss turns non-finite keeps its last finite state (as ``gen_jax.families.gans.seeds``)."""
  b = int(config.batch_size)
  size = max(len(i) for i in subsets)
  x, y = jnp.asarray(images), jnp.asarray(labels, jnp.int32)
  train_step = gans.make_train_step(config)

  @jax.jit
  def one(state, alive, k, rows, n):
    pick = rows[jax.random.randint(jax.random.fold_in(jax.random.fold_in(k, 1), state.step), (b,), 0, n)]
    new, metrics = train_step(state, {'image': x[pick], 'label': y[pick]}, jax.random.fold_in(k, 2))
    ok = alive & jnp.isfinite(metrics['loss'])
    return jax.tree.map(lambda a, o: jnp.where(ok, a, o), new, state), ok

  init = jax.jit(lambda k: gans.init(jax.random.fold_in(k, 0), config, {'image': x[:b], 'label': y[:b]}))
  states, diverged = [], []
  for idx, seed in zip(subsets, seeds):
    k = jax.random.key(seed)
    rows, n = jnp.asarray(np.resize(idx, size), jnp.int32), jnp.asarray(len(idx), jnp.int32)   # padded: one shape
    state, alive = init(k), jnp.ones((), bool)
    for _ in range(steps):
      state, alive = one(state, alive, k, rows, n)
    states.append(state)
    diverged.append(not bool(alive))
    print(f'cGAN {len(states)}/{len(subsets)} ({len(idx)} train digits) trained', flush=True)
  return jax.tree.map(lambda *v: jnp.stack(v), *states), np.asarray(diverged)


def sample_pools(states: Any, config, num: int, batch: int = 500) -> np.ndarray:
  """``num`` samples of each run's (EMA) generator in [0, 1], classes cycling 0..9: [R, num, 28, 28, 1]."""
  runs = jax.tree.leaves(states)[0].shape[0]
  pools = [gans.sample_many(jax.tree.map(lambda v, r=r: v[r], states), config, num, pool_labels(num), seed=r,
                            batch=min(batch, num)) for r in range(runs)]
  return np.clip((np.stack(pools) + 1.0) / 2.0, 0.0, 1.0).astype(np.float32)    # the cGAN draws in [-1, 1]


def pool_labels(num: int) -> np.ndarray:
  """The classes ``gans.sample`` asks a conditional model for by default: 0..9 cycling."""
  return (np.arange(num) % NUM_CLASSES).astype(np.int32)


def classifier_config(steps: int) -> dict:
  """The project classifier's training settings (``train_feature_net.TRAIN_CONFIGS['mnist5k']``) for ``steps``."""
  cfg = {k: v for k, v in clf_lib.TRAIN_CONFIGS['mnist5k'].items() if k != 'batch_size'}   # the batch: run(batch=)
  cfg.update(num_steps=int(steps), warmup_steps=max(1, int(steps) // 10))
  return cfg


def train_classifiers(runs: list[dict], steps: int, batch: int, seed: int = 0) -> list:
  """Trains one classifier per entry of ``runs`` ({'images', 'labels', 'seed', 'pool'}), one after another
  through one compiled step. A run with a ``pool`` ({'images', 'labels'}) fills half of each batch from it;
  runs with equal ``seed`` and ``per_class`` share the initialisation and the real examples of every batch.
  Returns the list of trained parameters."""
  cfg = classifier_config(steps)
  opt, step = clf_lib.make_train_step(cfg)
  jstep = jax.jit(step, donate_argnums=(0, 1))
  init = jax.jit(lambda k: fn_lib.init_classifier(k, (28, 28, 1)))
  half = batch // 2
  out = []
  for i, r in enumerate(runs):
    key = jax.random.key(r['seed'])
    params = init(key)
    opt_state = opt.init(params)
    real_rng = np.random.default_rng([seed, r['per_class'], r['seed']])
    pool_rng = np.random.default_rng([seed, r['per_class'], r['seed'], i + 1])
    pool = r.get('pool')
    for t in range(steps):
      j = real_rng.integers(0, len(r['labels']), batch)
      if pool is None:
        xb, yb = r['images'][j], r['labels'][j]
      else:
        q = pool_rng.integers(0, len(pool['labels']), half)
        xb = np.concatenate([r['images'][j[:batch - half]], pool['images'][q]])
        yb = np.concatenate([r['labels'][j[:batch - half]], pool['labels'][q]])
      params, opt_state, _ = jstep(params, opt_state, {'image': xb, 'label': yb}, jax.random.fold_in(key, t))
    out.append(params)
  return out


def test_accuracy(params: list, images: np.ndarray, labels: np.ndarray) -> list[float]:
  predict = jax.jit(lambda p, x: jnp.argmax(fn_lib.logits(p, x), axis=-1))
  return [float(np.mean(studies.map_batches(lambda x, p=p: predict(p, x), images) == labels)) for p in params]


def _mean_stderr(values: list[float]) -> tuple[float, float | None]:
  v = np.asarray(values, np.float64)
  return round(float(v.mean()), 4), (round(float(v.std(ddof=1) / np.sqrt(len(v))), 4) if len(v) > 1 else None)


def run(workdir: str, per_class=(10, 50), num_seeds: int = 3, tiny: bool = False, steps: int = 0,
        clf_steps: int = 300, num_synthetic: int = 5000, batch: int = 32, cgan_variant: str = 'cgan,diffaug') -> dict:
  if tiny:
    per_class, num_seeds, clf_steps, num_synthetic, batch = tuple(per_class)[:2], min(num_seeds, 2), 3, 40, 8
  config = cgan_config(cgan_variant, tiny, steps)
  train = studies.load_split(config, 'train')                      # [-1, 1]: what the cGANs train on
  clf_cfg = config.copy_and_resolve_references()
  clf_cfg.dataset.scale = '01'
  train01 = studies.load_split(clf_cfg, 'train')                   # [0, 1]: what the classifiers train on
  test = studies.load_split(clf_cfg, 'test', 200 if tiny else None)
  labelled = {(k, s): labelled_subset(train['label'], k, s) for k in per_class for s in range(num_seeds)}
  # one cGAN per labelled set (seeded by its own seed and budget), and one on every labelled train digit
  gan_runs = [{'name': f'few_{k}_{s}', 'per_class': k, 'seed': s, 'rows': idx} for (k, s), idx in labelled.items()]
  gan_runs.append({'name': 'all', 'per_class': None, 'seed': 0, 'rows': np.arange(len(train['label']))})
  t0 = time.perf_counter()
  states, diverged = train_cgans(config, train['image'], train['label'], [g['rows'] for g in gan_runs],
                                 [1000 * (g['per_class'] or 0) + g['seed'] for g in gan_runs], config.num_train_steps)
  gan_wall = round(time.perf_counter() - t0, 1)
  pools = sample_pools(states, config, num_synthetic)
  syn_labels = pool_labels(num_synthetic)
  net = fn_lib.load_feature_net('mnist5k')
  for g, pool, bad in zip(gan_runs, pools, diverged):
    pred = studies.map_batches(lambda x: jnp.argmax(net.logits(x), -1), pool)
    g.update(pool={'images': pool, 'labels': syn_labels}, diverged=bool(bad),
             classified_as_requested=round(float(np.mean(pred == syn_labels)), 4))
  pool_of = {(g['per_class'], g['seed']): g for g in gan_runs}
  runs = []
  for (k, s), idx in labelled.items():
    for arm in ARMS:
      pool = {'real': None, 'real+cgan_few': pool_of[(k, s)]['pool'], 'real+cgan_all': pool_of[(None, 0)]['pool']}[arm]
      runs.append({'per_class': k, 'seed': s, 'arm': arm, 'images': train01['image'][idx],
                   'labels': train01['label'][idx], 'pool': pool})
  t0 = time.perf_counter()
  params = train_classifiers(runs, clf_steps, batch)
  clf_wall = round(time.perf_counter() - t0, 1)
  accs = test_accuracy(params, test['image'], test['label'])
  per_run = [{'per_class': r['per_class'], 'seed': r['seed'], 'arm': r['arm'], 'test_accuracy': round(a, 4)}
             for r, a in zip(runs, accs)]
  rows = []
  for k in per_class:
    by_arm = {arm: [r['test_accuracy'] for r in per_run if r['per_class'] == k and r['arm'] == arm] for arm in ARMS}
    row = {'per_class': k, 'labelled': k * NUM_CLASSES, 'seeds': num_seeds}
    for arm in ARMS:
      row[f'{arm}_accuracy'], row[f'{arm}_stderr'] = _mean_stderr(by_arm[arm])
    for arm in ARMS[1:]:   # paired with 'real': same digits, same initialisation, same real examples
      diff = [b - a for a, b in zip(by_arm['real'], by_arm[arm])]
      row[f'{arm}_gain'], row[f'{arm}_gain_stderr'] = _mean_stderr(diff)
    few = [pool_of[(k, s)]['classified_as_requested'] for s in range(num_seeds)]
    row['cgan_few_classified_as_requested'] = round(float(np.mean(few)), 4)
    rows.append(row)
    print(f'{k:3d}/class: ' + '  '.join(f'{arm} {row[f"{arm}_accuracy"]:.4f} ± {row[f"{arm}_stderr"]}' for arm in ARMS)
          + '  gains ' + '  '.join(f'{row[f"{arm}_gain"]:+.4f} ± {row[f"{arm}_gain_stderr"]}' for arm in ARMS[1:]),
          flush=True)
  shown = [pool_of[(k, 0)] for k in per_class] + [pool_of[(None, 0)]]
  figure(rows, per_run, shown, os.path.join(workdir, 'augmentation.png'))
  cgans = [{k: g[k] for k in ('name', 'per_class', 'seed', 'diverged', 'classified_as_requested')} |
           {'train_examples': len(g['rows'])} for g in gan_runs]
  result = {'device': studies.device_kind(), 'arms': list(ARMS), 'table': rows, 'runs': per_run,
            'classifier': {**classifier_config(clf_steps), 'batch': batch, 'synthetic_fraction': 0.5,
                           'train_wall_s_all_runs': clf_wall, 'model': 'gen_jax.eval.feature_net.ConvClassifier'},
            'cgan': {'config': f'{CGAN}:{cgan_variant}' + (',tiny' if tiny else ''), 'steps': config.num_train_steps,
                     'batch': int(config.batch_size), 'train_wall_s_all_runs': gan_wall, 'num_synthetic': num_synthetic,
                     'runs': cgans},
            'full_label_classifier_test_accuracy': fn_lib.load_metadata('mnist5k').get('test_accuracy'),
            'num_train': len(train['label']), 'num_test': len(test['label'])}
  studies.save_json(os.path.join(workdir, 'augmentation.json'), result)
  with open(os.path.join(workdir, 'augmentation.md'), 'w', encoding='utf-8') as f:
    f.write(studies.markdown(rows) + '\n')
  return result


def figure(rows: list[dict], per_run: list[dict], shown: list[dict], path: str, per_class_shown: int = 3) -> str:
  """Left: test accuracy per labelled budget and arm (bars: mean; error bars: standard error; dots: seeds).
  Right: ``per_class_shown`` samples per class (columns 0..9) of each cGAN in ``shown`` (one block each)."""
  plt = studies.pyplot()
  fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4.2), gridspec_kw={'width_ratios': [1.2, 1]})
  width = 0.8 / len(ARMS)
  for j, arm in enumerate(ARMS):
    xs = np.arange(len(rows)) + (j - (len(ARMS) - 1) / 2) * width
    ax.bar(xs, [r[f'{arm}_accuracy'] for r in rows], width, yerr=[r[f'{arm}_stderr'] or 0 for r in rows],
           capsize=3, label=arm + (' (upper bound)' if arm == 'real+cgan_all' else ''),
           color=('tab:gray', 'tab:orange', 'tab:blue')[j], alpha=0.8)
    for x, r in zip(xs, rows):
      pts = [p['test_accuracy'] for p in per_run if p['per_class'] == r['per_class'] and p['arm'] == arm]
      ax.plot([x] * len(pts), pts, 'k.', markersize=4)
  ax.set_xticks(np.arange(len(rows)))
  ax.set_xticklabels([f'{r["per_class"]} per class' for r in rows])
  lo = min(p['test_accuracy'] for p in per_run)
  ax.set_ylim(max(0.0, lo - 0.1), 1.0)
  ax.set_ylabel('test accuracy')
  ax.legend(fontsize=7, loc='lower right')
  ax.set_title('classifier on few labels', fontsize=9)
  blocks, ticks, names = [], [], []
  for g in shown:
    imgs = g['pool']['images']
    labels = g['pool']['labels']
    grid = np.concatenate([np.concatenate(list(imgs[labels == k][:per_class_shown, ..., 0]), axis=0)
                           for k in range(NUM_CLASSES)], axis=1)
    ticks.append(sum(b.shape[0] for b in blocks) + grid.shape[0] / 2)
    names.append('all labels' if g['per_class'] is None else f'{g["per_class"]}/class')
    blocks += [grid, np.full((4, grid.shape[1]), 0.5, np.float32)]
  ax2.imshow(np.concatenate(blocks[:-1], axis=0), cmap='gray', vmin=0, vmax=1)
  ax2.set_yticks(ticks)
  ax2.set_yticklabels(names, fontsize=8)
  ax2.set_xticks([])
  ax2.set_title('cGAN samples (columns: class 0..9; rows: trained on)', fontsize=9)
  return studies.save_figure(fig, path, dpi=90)


def main(argv):
  del argv
  run(FLAGS.workdir, tuple(int(k) for k in FLAGS.per_class), FLAGS.seeds, FLAGS.tiny, FLAGS.steps, FLAGS.clf_steps,
      FLAGS.num_synthetic, cgan_variant=FLAGS.cgan_variant)


if __name__ == '__main__':
  FLAGS = flags.FLAGS
  studies.define_flags('runs/gan_augmentation')
  flags.DEFINE_list('per_class', ['10', '50'], 'labelled train digits per class (one budget each)')
  flags.DEFINE_integer('seeds', 3, 'seeds per budget (standard errors over them)')
  flags.DEFINE_integer('clf_steps', 300, 'classifier train steps (batch 32)')
  flags.DEFINE_integer('num_synthetic', 5000, 'samples drawn once from each cGAN for its pool')
  flags.DEFINE_string('cgan_variant', 'cgan,diffaug', 'variant of experiments/gans/dcgan.py for every cGAN')
  app.run(main)
