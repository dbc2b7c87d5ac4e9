"""What each flow learns on the hard 2-D densities: its exact density on a grid next to the data, test NLL
against the true density, and FFJORD's function evaluations with and without RNODE.

  ./launch.sh python experiments/flows/study_toy2d.py --workdir=runs/flows_toy2d --models_dir=runs/flow_models \
      [--models=nice,realnvp,glow,spline,ffjord,ffjord+rnode] [--densities=checkerboard,spirals,rings] [--tiny]

Trains ``flows_toy2d.py:<model>,<density>`` for every pair (``ffjord+rnode`` is the ``ffjord,rnode``
variant; runs are shared through ``--models_dir``), then reports per pair: the test NLL (nats per point,
mean +- standard error over the 10,000 test points; exact for every flow here, FFJORD's trace is exact in
2-D), the true density's NLL of the same points where it is known in closed form (checkerboard: uniform on
8 squares of area 4, NLL = ln 32; rings: a Bessel-function mixture, ``true_log_density``; the two Gaussian
mixtures), the mass of exp(log p) on the plotted grid (its Riemann sum, ~1 when the grid covers the
density), the samples' raw-coordinate KID against the test points, the training wall time, and FFJORD's NFE
per step (from the run's metrics). Writes ``toy2d.json``, ``toy2d_density.png`` (rows: densities; columns:
the data, then each flow's density), ``toy2d_samples.png`` and, with FFJORD runs, ``toy2d_nfe.png``.
"""
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from gen_jax import data as data_lib
from gen_jax import studies
from gen_jax.core.metrics import read_jsonl
from gen_jax.core.state import eval_params
from gen_jax.families import flows

CONFIG = 'experiments/flows/flows_toy2d.py'
MODELS = ('nice', 'realnvp', 'glow', 'spline', 'ffjord', 'ffjord+rnode')
DENSITIES = ('checkerboard', 'spirals', 'rings')
RING_RADII, RING_STD = 0.75 * np.arange(1, 5), 0.08


def true_log_density(name: str, x: np.ndarray) -> np.ndarray | None:
  """Exact log density (nats) [n] of points ``x`` [n, 2] under a toy2d density, or None when unknown.

  checkerboard: uniform on 8 squares of side 2 (``gen_jax/data/builders/toy2d.py``): 1/32 inside.
  rings: 4 equally likely rings of radius r_k with isotropic N(0, s^2) noise; integrating the angle out,
  p(x | k) = exp(-(|x|^2 + r_k^2) / (2 s^2)) I0(|x| r_k / s^2) / (2 pi s^2) (I0: modified Bessel function).
  8gaussians, 25gaussians: ``gen_jax.data.toy2d_log_density``.
  """
  from scipy.special import i0e, logsumexp  # pylint: disable=g-import-not-at-top
  x = np.asarray(x, np.float64)
  if name == 'checkerboard':
    col, row = np.floor(x[:, 0] / 2) + 2, np.floor(x[:, 1] / 2) + 2
    inside = (np.abs(x) < 4).all(1) & ((row + col) % 2 == 0)
    return np.where(inside, -math.log(32.0), -np.inf)
  if name == 'rings':
    rho = np.linalg.norm(x, axis=1)[:, None]
    s2 = RING_STD ** 2
    log_k = -np.log(2 * np.pi * s2) - (rho - RING_RADII) ** 2 / (2 * s2) + np.log(i0e(rho * RING_RADII / s2))
    return logsumexp(log_k, axis=1) - math.log(len(RING_RADII))
  if name in ('8gaussians', '25gaussians'):
    return data_lib.toy2d_log_density(name, x)
  return None


def log_density(config, state, points: np.ndarray, chunk: int = 4096) -> np.ndarray:
  """log p (nats) [n] of ``points`` [n, 2] by the family's eval step (-nll), in fixed-size chunks."""
  step = jax.jit(flows.make_eval_step(config))
  out = []
  for i in range(0, len(points), chunk):
    x = points[i:i + chunk]
    n = len(x)
    if n < chunk and len(points) > chunk:  # one compiled shape
      x = np.concatenate([x, np.zeros((chunk - n, 2), np.float32)])
    out.append(-np.asarray(step(state, {'x': jnp.asarray(x, jnp.float32)}, jax.random.key(i))['nll'], np.float64)[:n])
  return np.concatenate(out)


def study_run(variant: str, tiny: bool, steps: int, models_dir: str):
  """``studies.study_model`` of ``flows_toy2d.py:<variant>``, keeping the experiment's ``log_every`` for
  FFJORD (its NFE curve needs more than the study's four log lines). Returns (config, state, info)."""
  config = studies.load_spec(f'{CONFIG}:{variant}{",tiny" if tiny else ""}')
  every = config.log_every
  config = studies.study_config(config, tiny, steps)
  if config.model.name == 'ffjord':
    config.log_every = min(every, config.num_train_steps)
  workdir = studies.model_dir(models_dir, config.model.name, config)
  state, info = studies.train_model(config, workdir)
  return config, state, {'config': f'{CONFIG}:{variant}', 'workdir': workdir, 'steps': config.num_train_steps, **info}


def box_of(density: str) -> tuple[float, float, float, float]:
  return {'checkerboard': (-4.5, 4.5, -4.5, 4.5), 'rings': (-3.6, 3.6, -3.6, 3.6)}.get(density, (-4, 4, -4, 4))


def run(workdir: str, tiny: bool = False, steps: int = 0, models: tuple[str, ...] = MODELS,
        densities: tuple[str, ...] = DENSITIES, grid: int = 0, num: int = 2000, models_dir: str = '') -> dict:
  grid = grid or (24 if tiny else 150)
  num = min(num, 256) if tiny else num
  results = {'device': studies.device_kind(), 'grid': grid, 'densities': {}}
  maps, samples, nfe_curves = {}, {}, {}
  for density in densities:
    entry = {}
    test = None
    box = box_of(density)
    gx, gy = np.linspace(box[0], box[1], grid), np.linspace(box[2], box[3], grid)
    pts = np.stack(np.meshgrid(gx, gy, indexing='xy'), -1).reshape(-1, 2).astype(np.float32)
    cell = (gx[1] - gx[0]) * (gy[1] - gy[0])
    for spec in models:
      variant = f'{spec.replace("+", ",")},{density}'
      config, state, info = study_run(variant, tiny, steps, models_dir or os.path.join(workdir, 'models'))
      if test is None:
        test = studies.load_split(config)['x']
      ev = studies.evaluate_model(config, info['workdir'], state)
      logp = log_density(config, state, pts).reshape(grid, grid)
      draw = np.asarray(jax.jit(lambda p: flows.sample_with_params(p, jax.random.key(1), num, config))(
          eval_params(state)), np.float64)
      row = {'config': info['config'], 'steps': info['steps'], 'train_wall_s': info['train_wall_s'],
             'test': studies.flat(ev, 4), 'mass_on_grid': round(float(np.exp(logp).sum() * cell), 4),
             'kid_raw': round(studies.point_quality(draw, test[:num], config.dataset.name)['kid_raw'], 6)}
      if config.model.name == 'ffjord':
        rows = read_jsonl(os.path.join(info['workdir'], 'metrics.jsonl'))
        curve = [(r['step'], r['train/nfe']) for r in rows if 'train/nfe' in r]
        row['nfe_first_last'] = [curve[0][1], curve[-1][1]] if curve else None
        nfe_curves[f'{spec}, {density}'] = curve
      entry[spec] = row
      maps[(density, spec)] = logp
      samples[(density, spec)] = draw
    truth = true_log_density(density, test)
    entry['true_nll'] = None if truth is None else round(float(-truth.mean()), 4)
    results['densities'][density] = entry
    maps[(density, 'data')] = test
  studies.save_json(os.path.join(workdir, 'toy2d.json'), results)
  _plot_density(maps, results, models, densities, os.path.join(workdir, 'toy2d_density.png'))
  _plot_samples(samples, maps, models, densities, os.path.join(workdir, 'toy2d_samples.png'))
  if nfe_curves:
    _plot_nfe(nfe_curves, os.path.join(workdir, 'toy2d_nfe.png'))
  return results


def _plot_density(maps, results, models, densities, path):
  plt = studies.pyplot()
  cols = 1 + len(models)
  fig, axes = plt.subplots(len(densities), cols, figsize=(2.6 * cols, 2.7 * len(densities)), squeeze=False)
  for r, density in enumerate(densities):
    box = box_of(density)
    data = maps[(density, 'data')]
    axes[r, 0].hist2d(data[:, 0], data[:, 1], bins=100, range=[box[:2], box[2:]], cmap='magma')
    truth = results['densities'][density]['true_nll']
    axes[r, 0].set_title(f'{density}: test data' + ('' if truth is None else f'\ntrue NLL {truth:.3f}'), fontsize=8)
    for c, spec in enumerate(models, start=1):
      d = results['densities'][density][spec]
      axes[r, c].imshow(np.exp(maps[(density, spec)]), origin='lower', extent=box, cmap='magma')
      axes[r, c].set_title(f'{spec}: NLL {d["test"]["nll"]:.3f}\nmass on grid {d["mass_on_grid"]:.2f}', fontsize=8)
    for ax in axes[r]:
      ax.set_xticks([])
      ax.set_yticks([])
  studies.save_figure(fig, path)


def _plot_samples(samples, maps, models, densities, path):
  plt = studies.pyplot()
  cols = 1 + len(models)
  fig, axes = plt.subplots(len(densities), cols, figsize=(2.6 * cols, 2.6 * len(densities)), squeeze=False)
  for r, density in enumerate(densities):
    box = box_of(density)
    for c, (label, pts) in enumerate([('test data', maps[(density, 'data')][:len(samples[(density, models[0])])])] +
                                     [(spec, samples[(density, spec)]) for spec in models]):
      axes[r, c].scatter(pts[:, 0], pts[:, 1], s=1, alpha=0.5, color='C0' if c == 0 else 'C3')
      axes[r, c].set(xlim=box[:2], ylim=box[2:], xticks=[], yticks=[])
      axes[r, c].set_title(f'{density}: {label}', fontsize=8)
  studies.save_figure(fig, path)


def _plot_nfe(curves, path):
  plt = studies.pyplot()
  fig, ax = plt.subplots(figsize=(6, 3.6))
  for label, curve in curves.items():
    if curve:
      s, n = zip(*curve)
      ax.plot(s, n, label=label, ls='--' if 'rnode' in label else '-')
  ax.set(xlabel='train step', ylabel='NFE of the forward solve', title='FFJORD: function evaluations per step')
  ax.legend(fontsize=7)
  studies.save_figure(fig, path)


def main(argv):
  del argv
  out = run(FLAGS.workdir, FLAGS.tiny, FLAGS.steps, tuple(m for m in FLAGS.models.split(',') if m),
            tuple(d for d in FLAGS.densities.split(',') if d), FLAGS.grid, FLAGS.num, FLAGS.models_dir)
  for density, entry in out['densities'].items():
    print(f'{density}: true NLL {entry["true_nll"]}')
    for spec, r in entry.items():
      if isinstance(r, dict):
        print(f'  {spec:14s} NLL {r["test"]["nll"]:.4f} ± {r["test"]["nll_stderr"]:.4f}  '
              f'mass {r["mass_on_grid"]:.3f}  '
              f'KID {r["kid_raw"]:.2e}  train {r["train_wall_s"]:.0f}s  NFE {r.get("nfe_first_last", "")}')
  print(f'Wrote {os.path.join(FLAGS.workdir, "toy2d.json")}, toy2d_density.png, toy2d_samples.png.')


if __name__ == '__main__':
  FLAGS = flags.FLAGS
  studies.define_flags('runs/flows_toy2d')
  flags.DEFINE_string('models', ','.join(MODELS), 'flows of flows_toy2d.py (ffjord+rnode: the rnode variant)')
  flags.DEFINE_string('densities', ','.join(DENSITIES), 'toy2d densities')
  flags.DEFINE_integer('grid', 0, 'density grid points per axis (0: 150, 24 with --tiny)')
  flags.DEFINE_integer('num', 2000, 'samples drawn per model')
  app.run(main)
