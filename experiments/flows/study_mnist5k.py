"""The flows on mnist5k: exact test bits/dim, invertibility, samples at temperatures, interpolations and
out-of-distribution likelihoods, one row per flow.

  ./launch.sh python experiments/flows/study_mnist5k.py --models=nice,realnvp,glow,spline,ffjord,glow+vardeq \
      --workdir=runs/flows_mnist5k --models_dir=runs/flow_models [--tiny] [--steps=N] [--noood]

Trains each ``flows_mnist5k.py:<model>`` run (``a+b``: the variants a,b, e.g. ``glow+vardeq``) under
``--models_dir`` (or reuses the identical finished run: train them one command at a time with
``--train_only``, then run all), then, on the 1,000 test digits:
  * bits/dim (mean +- standard error) exactly as ``--mode=eval`` computes it, and the x -> z -> x
    reconstruction error (float32; mean and max over the test set of the per-image max |x - x'|);
  * FID / KID / precision / recall of ``--num_samples`` samples at each temperature of ``--temperatures``
    in the project classifier's feature space (as ``--mode=eval``), and the seconds per 500 samples;
  * out-of-distribution likelihoods: bits/dim of the test digits against the same digits inverted
    (255 - pixel), uniform noise, and scikit-learn's 8x8 ``digits`` upscaled to 28x28 (all dequantized like
    the training data), with the AUROC of separating each from the test digits by NLL (0.5: chance;
    below 0.5: the flow gives the foreign images *higher* likelihood); ``--noood`` skips them (for FFJORD
    each of the 3,000 foreign images costs two ODE solves).
FFJORD runs keep the experiment's ``log_every`` (their row has ``train_nfe``: the NFE of the forward solve
at each logged step). Writes ``mnist5k.json``, ``samples.png`` (rows: flows; columns: temperatures),
``interpolation.png``, ``ood.png`` (histograms of test log-likelihoods; not with ``--noood``) and, with an
FFJORD run, ``nfe.png`` into ``--workdir``.
"""
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from gen_jax import studies
from gen_jax.core.metrics import read_jsonl
from gen_jax.eval import auroc
from gen_jax.core.state import eval_params
from gen_jax.families import flows

CONFIG = 'experiments/flows/flows_mnist5k.py'
MODELS = ('nice', 'realnvp', 'glow', 'spline', 'ffjord')
TEMPERATURES = (0.5, 0.7, 1.0)
OOD_SETS = ('inverted', 'noise', 'digits upscaled')


def dequantize(pixels: np.ndarray, seed: int) -> np.ndarray:
  """uint8-valued pixels [N, H, W, C] -> (pixel + u) / 256, u ~ U[0, 1) (the pipeline's dequantization)."""
  u = np.random.default_rng(seed).random(pixels.shape, dtype=np.float32)
  return ((pixels.astype(np.float32) + u) / 256.0).astype(np.float32)


def ood_images(test_pixels: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
  """Dequantized foreign image sets of the test set's size and shape (28x28x1): the test digits inverted,
  uniform noise, and scikit-learn's 8x8 digits upscaled bilinearly (their 0..16 levels scaled to 0..255)."""
  from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
  n, h, w, c = test_pixels.shape
  rng = np.random.default_rng(seed)
  small = load_digits().images[:n].astype(np.float32) * (255.0 / 16.0)
  up = np.asarray(jax.image.resize(jnp.asarray(small)[..., None], (len(small), h, w, c), 'bilinear'))
  pixels = {'inverted': 255 - test_pixels, 'noise': rng.integers(0, 256, (n, h, w, c)),
            'digits upscaled': np.clip(np.round(up), 0, 255)}
  return {k: dequantize(v, seed + i + 1) for i, (k, v) in enumerate(pixels.items())}


def per_example(config, state, images: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
  """The family's eval step on ``images`` [N, ...] in batches: {'nll', 'bits_per_dim', 'recon_err'} [N]."""
  step = jax.jit(flows.make_eval_step(config))
  key = jax.random.key(seed)
  out = {}
  for i in range(0, len(images), 250):
    m = step(state, {'image': jnp.asarray(images[i:i + 250])}, jax.random.fold_in(key, i))
    for k, v in m.items():
      out.setdefault(k, []).append(np.asarray(v, np.float64))
  return {k: np.concatenate(v) for k, v in out.items()}


def study_run(variant: str, tiny: bool, steps: int, models_dir: str):
  """``studies.study_model`` of ``flows_mnist5k.py:<variant>``, keeping the experiment's ``log_every`` for
  FFJORD (its NFE curve needs more than the study's four log lines). Returns (config, state, info)."""
  if not variant.startswith('ffjord'):
    return studies.study_model(CONFIG, variant, models_dir, tiny, steps)
  full = f'{variant},tiny' if tiny else variant
  config = studies.load_spec(f'{CONFIG}:{full}')
  every = config.log_every
  config = studies.study_config(config, tiny, steps)
  config.log_every = min(every, config.num_train_steps)
  workdir = studies.model_dir(models_dir, config.model.name, config)
  state, info = studies.train_model(config, workdir)
  return config, state, {'config': f'{CONFIG}:{full}', 'workdir': workdir, 'steps': config.num_train_steps, **info}


def run(workdir: str, tiny: bool = False, steps: int = 0, models: tuple[str, ...] = MODELS,
        temperatures: tuple[float, ...] = TEMPERATURES, num_samples: int = 0, models_dir: str = '',
        train_only: bool = False, ood_sets: bool = True) -> dict:
  """Trains or reuses one run per flow; writes the JSON and figures; returns the JSON (``train_only``:
  trains the runs and returns their training records, nothing else)."""
  results = {'device': studies.device_kind(), 'temperatures': list(temperatures), 'models': {}}
  grids, interps, ood = {}, {}, {}
  for name in models:
    config, state, info = study_run(name.replace('+', ','), tiny, steps, models_dir or os.path.join(workdir, 'models'))
    if train_only:
      results['models'][name] = info
      continue
    ev = studies.evaluate_model(config, info['workdir'], state)
    test = studies.load_split(config, num=64 if tiny else None)
    pixels = np.floor(test['image'] * 256).astype(np.int64)
    in_dist = per_example(config, state, test['image'])
    n = num_samples or (64 if tiny else int(config.eval.num_samples))
    row = {'config': info['config'], 'steps': info['steps'], 'train_wall_s': info['train_wall_s'],
           'params': int(sum(np.prod(p.shape) for p in jax.tree.leaves(state.params))),
           'test': studies.flat(ev, 4), 'recon_err_max': float(in_dist['recon_err'].max()),
           'temperature': {}}
    if config.model.name == 'ffjord':
      rows = read_jsonl(os.path.join(info['workdir'], 'metrics.jsonl'))
      row['train_nfe'] = [[r['step'], r['train/nfe']] for r in rows if 'train/nfe' in r]
    p = eval_params(state)
    grids[name] = []
    for t in temperatures:
      draw = jax.jit(lambda p, r, t=t: flows.sample_with_params(p, r, min(n, 500), config, temp=t))
      jax.block_until_ready(draw(p, jax.random.key(1)))  # compile
      t0 = time.perf_counter()
      samples = np.concatenate([np.asarray(draw(p, jax.random.key(10 + i))) for i in range(0, n, 500)])[:n]
      seconds = (time.perf_counter() - t0) / max(1, -(-n // 500))
      quality = studies.sample_quality(config, samples) if studies.has_feature_net(config) else {}
      row['temperature'][str(t)] = {'seconds_per_500': round(seconds, 3), **studies.flat(quality, 4)}
      grids[name].append(samples[:36])
    interps[name] = np.asarray(jax.jit(lambda p, a, b: flows.interpolate(p, a, b, 8, config))(
        p, test['image'][:4], test['image'][4:8]))
    results['models'][name] = row
    if not ood_sets:
      continue
    scores = {'test digits': in_dist['bits_per_dim']}
    row['ood'] = {'test digits': {'bits_per_dim': round(float(in_dist['bits_per_dim'].mean()), 4)}}
    for k, images in ood_images(pixels).items():
      b = per_example(config, state, images)['bits_per_dim']
      scores[k] = b
      labels = np.concatenate([np.zeros(len(in_dist['bits_per_dim'])), np.ones(len(b))])  # 1: foreign
      row['ood'][k] = {'bits_per_dim': round(float(np.mean(b)), 4),
                       'auroc': round(float(auroc(np.concatenate([in_dist['bits_per_dim'], b]), labels)), 4)}
    ood[name] = scores
  if train_only:
    return results
  studies.save_json(os.path.join(workdir, 'mnist5k.json'), results)
  _plot_samples(grids, temperatures, os.path.join(workdir, 'samples.png'))
  _plot_interpolation(interps, os.path.join(workdir, 'interpolation.png'))
  if ood:
    _plot_ood(ood, results, os.path.join(workdir, 'ood.png'))
  nfe = {k: r['train_nfe'] for k, r in results['models'].items() if r.get('train_nfe')}
  if nfe:
    _plot_nfe(nfe, os.path.join(workdir, 'nfe.png'))
  return results


def _tile(images: np.ndarray, cols: int) -> np.ndarray:
  """[N, H, W, 1] -> one [rows * H, cols * W] image (missing cells blank)."""
  n, h, w = images.shape[:3]
  rows = -(-n // cols)
  out = np.ones((rows * h, cols * w))
  for i in range(n):
    out[(i // cols) * h:(i // cols + 1) * h, (i % cols) * w:(i % cols + 1) * w] = images[i, ..., 0]
  return out


def _plot_samples(grids: dict, temperatures, path: str) -> None:
  plt = studies.pyplot()
  fig, axes = plt.subplots(len(grids), len(temperatures), figsize=(3.2 * len(temperatures), 3.3 * len(grids)),
                           squeeze=False)
  for r, (name, per_t) in enumerate(grids.items()):
    for c, (t, images) in enumerate(zip(temperatures, per_t)):
      axes[r, c].imshow(_tile(np.clip(images, 0, 1), 6), cmap='gray', vmin=0, vmax=1)
      axes[r, c].set_title(f'{name}, T = {t}', fontsize=10)
      axes[r, c].axis('off')
  studies.save_figure(fig, path)


def _plot_interpolation(interps: dict, path: str) -> None:
  plt = studies.pyplot()
  fig, axes = plt.subplots(len(interps), 1, figsize=(8, 4.4 * len(interps)), squeeze=False)
  for r, (name, x) in enumerate(interps.items()):
    b, k = x.shape[:2]
    axes[r, 0].imshow(_tile(np.clip(x.reshape((b * k,) + x.shape[2:]), 0, 1), k), cmap='gray', vmin=0, vmax=1)
    axes[r, 0].set_title(f'{name}: straight lines between the latents of two test digits', fontsize=10)
    axes[r, 0].axis('off')
  studies.save_figure(fig, path)


def _plot_ood(ood: dict, results: dict, path: str) -> None:
  plt = studies.pyplot()
  fig, axes = plt.subplots(1, len(ood), figsize=(4.6 * len(ood), 3.6), squeeze=False)
  for c, (name, scores) in enumerate(ood.items()):
    ax = axes[0, c]
    lo = min(np.quantile(v, 0.01) for v in scores.values())
    hi = max(np.quantile(v, 0.99) for v in scores.values())
    for k, v in scores.items():
      auc = results['models'][name]['ood'][k].get('auroc')
      ax.hist(np.clip(v, lo, hi), bins=60, range=(lo, hi), alpha=0.55,
              label=k + ('' if auc is None else f' (AUROC {auc:.2f})'))
    ax.set(xlabel='bits/dim (lower: more likely)', ylabel='images', title=f'{name} trained on mnist5k')
    ax.legend(fontsize=7)
  studies.save_figure(fig, path)


def _plot_nfe(curves: dict, path: str) -> None:
  plt = studies.pyplot()
  fig, ax = plt.subplots(figsize=(6, 3.6))
  for name, curve in curves.items():
    s, n = zip(*curve)
    ax.plot(s, n, marker='.', label=name)
  ax.set(xlabel='train step', ylabel='NFE of the forward solve', title='FFJORD on mnist5k: function evaluations')
  ax.legend(fontsize=7)
  studies.save_figure(fig, path)


def main(argv):
  del argv
  models = tuple(m for m in FLAGS.models.split(',') if m)
  out = run(FLAGS.workdir, FLAGS.tiny, FLAGS.steps, models, tuple(float(t) for t in FLAGS.temperatures.split(',')),
            FLAGS.num_samples, FLAGS.models_dir, FLAGS.train_only, FLAGS.ood)
  if FLAGS.train_only:
    for name, info in out['models'].items():
      print(f'{name}: {info["steps"]} steps in {info["train_wall_s"]:.0f}s, {info["workdir"]}')
    return
  print(f'{"model":8s} {"params":>9s} {"steps":>6s} {"train":>8s} {"bits/dim":>16s} {"recon max":>10s} '
        f'{"FID@1.0":>8s} {"FID@0.7":>8s}')
  for name, r in out['models'].items():
    t = r['test']
    fid = {k: v.get('fid', float('nan')) for k, v in r['temperature'].items()}
    print(f'{name:8s} {r["params"]:9,d} {r["steps"]:6d} {r["train_wall_s"] / 60:7.1f}m '
          f'{t["bits_per_dim"]:8.4f} ± {t["bits_per_dim_stderr"]:.4f} {r["recon_err_max"]:10.2e} '
          f'{fid.get("1.0", float("nan")):8.2f} {fid.get("0.7", float("nan")):8.2f}')
  print(f'Wrote {os.path.join(FLAGS.workdir, "mnist5k.json")}, samples.png, interpolation.png'
        f'{", ood.png" if FLAGS.ood else ""}.')


if __name__ == '__main__':
  FLAGS = flags.FLAGS
  studies.define_flags('runs/flows_mnist5k')
  flags.DEFINE_string('models', ','.join(MODELS), 'comma-separated flows of flows_mnist5k.py (a+b: variants a,b)')
  flags.DEFINE_string('temperatures', ','.join(str(t) for t in TEMPERATURES), 'sampling temperatures')
  flags.DEFINE_integer('num_samples', 0, 'samples per temperature for FID etc. (0: config.eval.num_samples)')
  flags.DEFINE_bool('train_only', False, 'only train (or find) the runs; evaluate later with the same --models_dir')
  flags.DEFINE_bool('ood', True, 'score the out-of-distribution image sets (--noood: skip them)')
  app.run(main)
