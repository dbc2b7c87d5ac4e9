"""Data augmentation with a conditional GAN (use case 7): a digit classifier trained on few labels, with
and without cGAN samples added to its training batches; test accuracy with standard errors over seeds.

  ./launch.sh python experiments/gans/study_augmentation.py --workdir=runs/gan_augmentation --models_dir=runs/gan_models
  ./launch.sh python experiments/gans/study_augmentation.py --per_class=10,50 --seeds=3 --clf_steps=300
  ./launch.sh python experiments/gans/study_augmentation.py --tiny      # seconds: a smoke test

The cGAN is ``experiments/gans/dcgan.py:cgan`` (DCGAN generator with a label embedding, projection
discriminator), trained or reused under ``--models_dir`` exactly as the image-generation study trains
it (``--steps`` generator updates; 0: the config's 3,000), so the two studies share the model. **It is
trained on the whole mnist5k train split with its labels**: the classifier here gets few labels, the
generator got all of them. This is the setting of "train a classifier on a generator's samples"
(classification accuracy score, Ravuri & Vinyals 2019) with a small real set added; it is not a
semi-supervised method, and a gain here is an upper bound of what a cGAN trained on the few labels
alone could give.

The classifier is the project's own (``gen_jax.eval.feature_net.ConvClassifier`` and the train step of
``gen_jax.eval.train_feature_net``: AdamW 3e-3 with warm-up and cosine decay, weight decay 1e-4, random
shifts of up to 2 pixels), trained from scratch ``--clf_steps`` steps of batch 32 on

  real       ``k`` labelled train digits per class (drawn per seed), batches drawn with replacement;
  real+cgan  the same digits for half of each batch, cGAN samples (``--num_synthetic`` drawn once,
             classes cycling 0..9, labelled with the class they were asked for) for the other half;

for each ``k`` in ``--per_class`` and each of ``--seeds`` seeds (the seed draws the labelled digits, the
initialisation and the batches; both arms of one seed share the digits and the initialisation). All
classifiers train at once (``jax.vmap`` of the one step). Scored on the 1,000 test digits: accuracy
per classifier, mean and standard error over seeds per arm, and the paired difference. Writes
``augmentation.json``, ``augmentation.md`` and ``augmentation.png`` (accuracies; the cGAN samples used).
"""
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from gen_jax import studies
from gen_jax.eval import feature_net as fn_lib
from gen_jax.eval import train_feature_net as clf_lib
from gen_jax.families import gans

CGAN = ('experiments/gans/dcgan.py', 'cgan')
ARMS = ('real', 'real+cgan')
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


def classifier_config(steps: int) -> dict:
  """The project classifier's training settings (``train_feature_net.TRAIN_CONFIGS['mnist5k']``) for ``steps``."""
  cfg = {k: v for k, v in clf_lib.TRAIN_CONFIGS['mnist5k'].items() if k != 'batch_size'}   # the batch: run(batch=)
  cfg.update(num_steps=int(steps), warmup_steps=max(1, int(steps) // 10))
  return cfg


def train_classifiers(runs: list[dict], synthetic: dict, steps: int, batch: int, seed: int = 0) -> list:
  """Trains one classifier per entry of ``runs`` ({'images', 'labels', 'arm', 'seed'}) together
  (vmapped); ``synthetic`` {'images', 'labels'} fills half of each batch of the 'real+cgan' arm.
  Returns the list of trained parameters."""
  cfg = classifier_config(steps)
  opt, step = clf_lib.make_train_step(cfg)
  keys = jnp.stack([jax.random.key_data(jax.random.key(r['seed'])) for r in runs])
  params = jax.vmap(lambda k: fn_lib.init_classifier(jax.random.wrap_key_data(k), (28, 28, 1)))(keys)
  opt_state = jax.vmap(opt.init)(params)
  vstep = jax.jit(jax.vmap(step), donate_argnums=(0, 1))
  rngs = [np.random.default_rng([seed, r['seed'], i]) for i, r in enumerate(runs)]
  half = batch // 2
  for t in range(steps):
    xs, ys = [], []
    for r, g in zip(runs, rngs):
      if r['arm'] == 'real':
        i = g.integers(0, len(r['labels']), batch)
        xs.append(r['images'][i])
        ys.append(r['labels'][i])
      else:
        i, j = g.integers(0, len(r['labels']), batch - half), g.integers(0, len(synthetic['labels']), half)
        xs.append(np.concatenate([r['images'][i], synthetic['images'][j]]))
        ys.append(np.concatenate([r['labels'][i], synthetic['labels'][j]]))
    aug = jax.vmap(lambda k: jax.random.fold_in(jax.random.wrap_key_data(k), t))(keys)
    params, opt_state, _ = vstep(params, opt_state, {'image': np.stack(xs), 'label': np.stack(ys)}, aug)
  return [jax.tree.map(lambda p, m=m: p[m], params) for m in range(len(runs))]


def test_accuracy(params: list, images: np.ndarray, labels: np.ndarray) -> list[float]:
  predict = jax.jit(lambda p, x: jnp.argmax(fn_lib.logits(p, x), axis=-1))
  return [float(np.mean(studies.map_batches(lambda x, p=p: predict(p, x), images) == labels)) for p in params]


def _mean_stderr(values: list[float]) -> tuple[float, float | None]:
  v = np.asarray(values, np.float64)
  return round(float(v.mean()), 4), (round(float(v.std(ddof=1) / np.sqrt(len(v))), 4) if len(v) > 1 else None)


def run(workdir: str, per_class=(10, 50), num_seeds: int = 3, models_dir: str = '', tiny: bool = False,
        steps: int = 0, clf_steps: int = 300, num_synthetic: int = 5000, batch: int = 32) -> dict:
  if tiny:
    per_class, num_seeds, clf_steps, num_synthetic, batch = tuple(per_class)[:2], min(num_seeds, 2), 3, 40, 8
  models_dir = models_dir or os.path.join(workdir, 'models')
  config, state, info = studies.study_model(*CGAN, models_dir, tiny, steps)
  data_cfg = config.copy_and_resolve_references()
  data_cfg.dataset.scale = '01'
  train = studies.load_split(data_cfg, 'train')
  test = studies.load_split(data_cfg, 'test', 200 if tiny else None)
  syn_labels = (np.arange(num_synthetic) % NUM_CLASSES).astype(np.int32)
  syn = np.asarray(gans.sample_many(state, config, num_synthetic, syn_labels))
  syn = np.clip((syn + 1.0) / 2.0, 0.0, 1.0).astype(np.float32)     # the cGAN draws in [-1, 1]
  net = fn_lib.load_feature_net('mnist5k')
  syn_acc = float(np.mean(studies.map_batches(lambda x: jnp.argmax(net.logits(x), -1), syn) == syn_labels))
  runs = []
  for k in per_class:
    for s in range(num_seeds):
      idx = labelled_subset(train['label'], k, s)
      for arm in ARMS:
        runs.append({'per_class': k, 'seed': s, 'arm': arm, 'images': train['image'][idx], 'labels': train['label'][idx]})
  t0 = time.perf_counter()
  params = train_classifiers(runs, {'images': syn, 'labels': syn_labels}, clf_steps, batch)
  wall = round(time.perf_counter() - t0, 1)
  accs = test_accuracy(params, test['image'], test['label'])
  per_run = [{'per_class': r['per_class'], 'seed': r['seed'], 'arm': r['arm'], 'test_accuracy': round(a, 4)}
             for r, a in zip(runs, accs)]
  rows = []
  for k in per_class:
    by_arm = {arm: [r['test_accuracy'] for r in per_run if r['per_class'] == k and r['arm'] == arm] for arm in ARMS}
    row = {'per_class': k, 'labelled': k * NUM_CLASSES, 'seeds': num_seeds}
    for arm in ARMS:
      row[f'{arm}_accuracy'], row[f'{arm}_stderr'] = _mean_stderr(by_arm[arm])
    diff = [b - a for a, b in zip(by_arm['real'], by_arm['real+cgan'])]   # paired: same digits, same init
    row['gain'], row['gain_stderr'] = _mean_stderr(diff)
    rows.append(row)
    print(f'{k:3d}/class: real {row["real_accuracy"]:.4f} ± {row["real_stderr"]}  real+cgan '
          f'{row["real+cgan_accuracy"]:.4f} ± {row["real+cgan_stderr"]}  gain {row["gain"]:+.4f} ± {row["gain_stderr"]}',
          flush=True)
  figure(rows, per_run, syn, syn_labels, os.path.join(workdir, 'augmentation.png'))
  result = {'device': studies.device_kind(), 'table': rows, 'runs': per_run,
            'classifier': {**classifier_config(clf_steps), 'batch': batch, 'synthetic_fraction': 0.5,
                           'train_wall_s_all_runs': wall, 'model': 'gen_jax.eval.feature_net.ConvClassifier'},
            'cgan': {'config': info['config'], 'steps': info['steps'], 'train_wall_s': info['train_wall_s'],
                     'train_examples': len(train['label']), 'num_synthetic': num_synthetic,
                     'synthetic_classified_as_requested': round(syn_acc, 4)},
            'full_label_classifier_test_accuracy': fn_lib.load_metadata('mnist5k').get('test_accuracy'),
            'num_test': len(test['label'])}
  studies.save_json(os.path.join(workdir, 'augmentation.json'), result)
  with open(os.path.join(workdir, 'augmentation.md'), 'w', encoding='utf-8') as f:
    f.write(studies.markdown(rows) + '\n')
  return result


def figure(rows: list[dict], per_run: list[dict], syn: np.ndarray, syn_labels: np.ndarray, path: str) -> str:
  """Left: test accuracy per labelled budget and arm (bars: mean; error bars: standard error; dots: seeds).
  Right: cGAN samples of the synthetic pool, one column per class 0..9."""
  plt = studies.pyplot()
  fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9, 3.6), gridspec_kw={'width_ratios': [1, 1.1]})
  width = 0.38
  for j, arm in enumerate(ARMS):
    xs = np.arange(len(rows)) + (j - 0.5) * width
    ax.bar(xs, [r[f'{arm}_accuracy'] for r in rows], width, yerr=[r[f'{arm}_stderr'] or 0 for r in rows],
           capsize=4, label=arm, color=('tab:gray', 'tab:orange')[j], alpha=0.8)
    for x, r in zip(xs, rows):
      pts = [p['test_accuracy'] for p in per_run if p['per_class'] == r['per_class'] and p['arm'] == arm]
      ax.plot([x] * len(pts), pts, 'k.', markersize=4)
  ax.set_xticks(np.arange(len(rows)))
  ax.set_xticklabels([f'{r["per_class"]} per class' for r in rows])
  lo = min(p['test_accuracy'] for p in per_run)
  ax.set_ylim(max(0.0, lo - 0.1), 1.0)
  ax.set_ylabel('test accuracy')
  ax.legend(fontsize=8, loc='lower right')
  ax.set_title('classifier on few labels', fontsize=9)
  cols = []
  for k in range(NUM_CLASSES):
    imgs = syn[syn_labels == k][:6, ..., 0]
    cols.append(np.concatenate(list(imgs), axis=0))
  ax2.imshow(np.concatenate(cols, axis=1), cmap='gray', vmin=0, vmax=1)
  ax2.set_title('cGAN samples added (columns: class 0..9)', fontsize=9)
  ax2.axis('off')
  return studies.save_figure(fig, path, dpi=90)


def main(argv):
  del argv
  run(FLAGS.workdir, tuple(int(k) for k in FLAGS.per_class), FLAGS.seeds, FLAGS.models_dir, FLAGS.tiny, FLAGS.steps,
      FLAGS.clf_steps, FLAGS.num_synthetic)


if __name__ == '__main__':
  FLAGS = flags.FLAGS
  studies.define_flags('runs/gan_augmentation')
  flags.DEFINE_list('per_class', ['10', '50'], 'labelled train digits per class (one budget each)')
  flags.DEFINE_integer('seeds', 3, 'seeds per budget and arm (standard errors over them)')
  flags.DEFINE_integer('clf_steps', 300, 'classifier train steps (batch 32)')
  flags.DEFINE_integer('num_synthetic', 5000, 'cGAN samples drawn once for the real+cgan arm')
  app.run(main)
