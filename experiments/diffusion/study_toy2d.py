"""What a DDPM learns on a 2-D toy density: data, samples and the model's own density.

  ./launch.sh python experiments/diffusion/study_toy2d.py \
      --config=experiments/diffusion/ddpm_toy2d.py:8gaussians --workdir=runs/study_toy2d_8g
  ./launch.sh python experiments/diffusion/study_toy2d.py --config=experiments/diffusion/ddpm_toy2d.py:moons \
      --workdir=runs/study_toy2d_moons --grid=120

Trains the run first when its workdir has no finished checkpoint (resuming a partial one). Then:
  * draws ``--num`` samples (the config's sampler, EMA parameters) and scores them against as many
    held-out points as ``study_samplers.py`` does: KID on raw coordinates, mean / std errors and, for
    the Gaussian mixtures, mode coverage (a sample within 3 std of a center hits it);
  * evaluates the model's density on a ``--grid`` x ``--grid`` lattice: the DDPM variational bound
    ``-log p(x) <= VLB(x)`` in nats per point, computed by the family's own eval step (all T terms
    when ``diffusion.vlb_timesteps = 0``, a Gaussian decoder at t = 0), so ``exp(-VLB)`` is a
    lower bound on the density. The bound's mass on the grid (its Riemann sum, <= 1 up to the
    grid's coverage and the estimator's noise) and the mean VLB of the held-out points (against
    the true mixture's NLL where it is known) say how tight it is; for the Gaussian mixtures a
    finer lattice over one mode (8 std each side, the VLB averaged over 4 draws) resolves a
    component (its mass should be 1/K, its peak 1 / (2 pi K std^2)).
The JSON also scores a baseline, the Gaussian with the data's mean and covariance. Note that KID
with its cubic kernel on raw 2-D coordinates barely separates the two (it sees low-order moments);
mode coverage and the samples' NLL under the true mixture (``true_nll``) do.
Writes ``<workdir>/toy2d.png`` (data | samples | exp(-VLB) heatmap | -VLB, log scale | one mode) and
``<workdir>/toy2d.json``. A class-conditional run (``:cfg``) is scored on samples of all classes
and its density is that of the null label (the unconditional model trained by label dropout).
"""
import json
import math
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gen_jax import data as data_lib
from gen_jax import studies
from gen_jax.core.state import eval_params
from gen_jax.families import diffusion as fam
from gen_jax.families.diffusion import sampling as sample_lib


def mixture(dataset_name: str):
  """(centers [K, 2], std) of a toy2d Gaussian mixture (equal weights, isotropic); None otherwise."""
  density = dataset_name.split('/', 1)[1]
  try:
    return data_lib.toy2d_modes(density), data_lib.toy2d_mode_std(density)
  except ValueError:  # not a Gaussian mixture
    return None


def vlb_nats(config: Any, state: Any, points, seed: int = 0, chunk: int = 4096):
  """The DDPM variational bound (nats) of every point [n, 2], float64 [n], by the family's eval step
  (``bits_per_dim * D ln 2``); conditional models use the null label."""
  eval_step = jax.jit(fam.make_eval_step(config))
  k = int(config.model.get('num_classes', 0) or 0)
  d = int(np.prod(config.model.data_shape))
  points = np.asarray(points, np.float32)
  out = []
  for i in range(0, len(points), chunk):
    x = points[i:i + chunk]
    n = len(x)
    if n < chunk and len(points) > chunk:  # keep one compiled shape: pad the last chunk
      x = np.concatenate([x, np.zeros((chunk - n,) + x.shape[1:], np.float32)])
    batch = {'x': jnp.asarray(x)}
    if k:
      batch['label'] = jnp.full((len(x),), k, jnp.int32)
    m = eval_step(state, batch, jax.random.fold_in(jax.random.key(seed), i))
    out.append(np.asarray(m['bits_per_dim'], np.float64)[:n] * d * math.log(2.0))
  return np.concatenate(out)


def grid_box(data, margin: float = 0.15) -> tuple[float, float, float, float]:
  """A square box around ``data`` [n, 2] (its range plus ``margin`` of it on every side)."""
  lo, hi = np.quantile(data, 0.001, axis=0), np.quantile(data, 0.999, axis=0)
  c, half = (lo + hi) / 2, (hi - lo).max() / 2 * (1 + 2 * margin)
  return float(c[0] - half), float(c[0] + half), float(c[1] - half), float(c[1] + half)


def run(config: Any, workdir: str, num: int = 2000, grid: int = 150, seed: int = 0, train_if_needed: bool = True) -> dict:
  """Trains if needed, then writes ``toy2d.json`` and ``toy2d.png`` into ``workdir``; returns the JSON."""
  _, state = studies.trained_state(config, workdir, train_if_needed)
  data = studies.load_split(config, num=num)['x']
  t0 = time.perf_counter()
  sample = jax.jit(lambda p, r: sample_lib.sample_with_params(p, r, num, config))
  samples = np.asarray(jax.block_until_ready(sample(eval_params(state), jax.random.key(seed + 1))), np.float64)
  t_sample = time.perf_counter() - t0
  sample_quality = studies.point_quality(samples, data, config.dataset.name)

  # the model's density on a grid, and the bound on held-out points
  box = grid_box(data)
  t0 = time.perf_counter()
  nll_grid, mass = density_on_grid(config, state, box, grid, seed + 2)
  t_grid = time.perf_counter() - t0
  nll_test = vlb_nats(config, state, data, seed=seed + 3)
  mix = mixture(config.dataset.name)
  truth = None if mix is None else data_lib.toy2d_log_density(config.dataset.name.split('/', 1)[1], data)
  density = {
      'grid': grid, 'box': [round(v, 4) for v in box], 'grid_seconds': round(t_grid, 2),
      'mass_on_grid': round(mass, 4),
      'test_vlb_nats': round(float(nll_test.mean()), 4),
      'test_vlb_nats_stderr': round(float(nll_test.std(ddof=1) / math.sqrt(len(nll_test))), 4),
      'true_nll_nats': None if truth is None else round(float(-truth.mean()), 4),
  }
  zoom = None
  if mix is not None:  # one mode up close, where the lattice resolves the component (8 std each side)
    (cx, cy), std = mix[0][0], mix[1]
    zbox = (cx - 8 * std, cx + 8 * std, cy - 8 * std, cy + 8 * std)
    zgrid = max(grid // 3, 8)
    znll, zmass = density_on_grid(config, state, zbox, zgrid, seed + 4, draws=4)
    zoom = (zbox, znll)
    density['zoom'] = {'center': [round(float(cx), 4), round(float(cy), 4)], 'half_width': round(8 * std, 4),
                       'grid': zgrid, 'vlb_draws': 4, 'mass': round(zmass, 4), 'true_mass': round(1.0 / len(mix[0]), 4),
                       'peak': round(float(np.exp(-znll).max()), 3),
                       'true_peak': round(1.0 / (len(mix[0]) * 2 * math.pi * std ** 2), 3)}
  result = {
      'config': f'{config.dataset.name}, {config.model.name} {config.model.hidden}x{config.model.num_layers}, '
                f'T={config.diffusion.num_timesteps} {config.diffusion.schedule}, {config.num_train_steps} steps, '
                f'sampler {config.sample.sampler}',
      'checkpoint_step': int(jax.device_get(state.step)),
      'num_samples': num,
      'sample_seconds': round(t_sample, 2),
      'samples': _rounded(sample_quality),
      'density': density,
  }
  # the baseline: the Gaussian with the data's mean and covariance (what matching moments alone
  # achieves), scored the same way
  rng = np.random.default_rng(seed)
  gauss = rng.multivariate_normal(data.mean(0), np.cov(data.T), size=num)
  result['baseline_gaussian'] = _rounded(studies.point_quality(gauss, data, config.dataset.name))
  studies.save_json(os.path.join(workdir, 'toy2d.json'), result)
  plot(data, samples, nll_grid, box, zoom, result, os.path.join(workdir, 'toy2d.png'), mix)
  return result


def _rounded(d: dict) -> dict:
  return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in d.items()}


def density_on_grid(config: Any, state: Any, box, grid: int, seed: int, draws: int = 1):
  """VLB (nats) on a ``grid`` x ``grid`` lattice over ``box`` = (x0, x1, y0, y1), float64 [grid, grid]
  (row i is y = y0 + i dy), and the Riemann sum of exp(-VLB) over the lattice (the bound's mass).
  The VLB of every point is the mean of ``draws`` independent estimates (each L_t at a random x_t)."""
  gx, gy = np.linspace(box[0], box[1], grid), np.linspace(box[2], box[3], grid)
  pts = np.stack(np.meshgrid(gx, gy, indexing='xy'), -1).reshape(-1, 2)
  nll = vlb_nats(config, state, np.tile(pts, (draws, 1)), seed=seed).reshape(draws, grid, grid).mean(0)
  return nll, float(np.exp(-nll).sum() * (gx[1] - gx[0]) * (gy[1] - gy[0]))


def plot(data, samples, nll_grid, box, zoom, result: dict, path: str, mix=None) -> None:
  """data | samples | exp(-VLB) | -VLB (log scale) [| one mode up close, with the true component's
  1, 2, 3 std circles], one row."""
  plt = studies.pyplot()
  n = 5 if zoom is not None else 4
  fig, axes = plt.subplots(1, n, figsize=(4.3 * n, 4.6))
  q, d = result['samples'], result['density']
  sample_title = f'DDPM samples (n={len(samples)})\nKID(raw) {q["kid_raw"]:.1e}'
  if 'modes_hit' in q:
    sample_title += f', modes {q["modes_hit"]}/{q["num_modes"]}, {100 * q["high_quality"]:.1f}% within 3 std'
  for ax, pts, title, color in ((axes[0], data, f'held-out data (n={len(data)})', 'C0'),
                                (axes[1], samples, sample_title, 'C3')):
    ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.4, color=color)
    ax.set_title(title, fontsize=9)
  dens = np.exp(-nll_grid)
  im = axes[2].imshow(dens, origin='lower', extent=box, cmap='magma', interpolation='nearest',
                      vmax=np.quantile(dens, 0.999))
  fig.colorbar(im, ax=axes[2], fraction=0.046)
  axes[2].set_title(f'model density exp(-VLB), {d["grid"]}x{d["grid"]} grid\nRiemann mass {d["mass_on_grid"]:.2f}',
                    fontsize=9)
  logp = -nll_grid
  im = axes[3].imshow(logp, origin='lower', extent=box, cmap='viridis', interpolation='nearest',
                      vmin=max(logp.min(), logp.max() - 15), vmax=logp.max())
  fig.colorbar(im, ax=axes[3], fraction=0.046)
  truth = '' if d['true_nll_nats'] is None else f' (true NLL {d["true_nll_nats"]:.2f})'
  axes[3].set_title(f'log density -VLB (nats, clipped at max - 15)\ntest VLB {d["test_vlb_nats"]:.2f}{truth}',
                    fontsize=9)
  for ax in axes[:4]:
    ax.set_xlim(box[0], box[1])
    ax.set_ylim(box[2], box[3])
    ax.set_aspect('equal')
  if zoom is not None:
    zbox, znll = zoom
    z = d['zoom']
    im = axes[4].imshow(np.exp(-znll), origin='lower', extent=zbox, cmap='magma', interpolation='bilinear')
    fig.colorbar(im, ax=axes[4], fraction=0.046)
    (cx, cy), std = z['center'], mix[1]
    for r in (1, 2, 3):
      axes[4].add_patch(plt.Circle((cx, cy), r * std, fill=False, color='cyan', lw=0.8, ls='--'))
    axes[4].set_title(f'one mode up close: exp(-VLB), true 1/2/3 std (cyan)\nmass {z["mass"]:.3f} (true '
                      f'{z["true_mass"]:.3f}), peak {z["peak"]:.0f} (true {z["true_peak"]:.0f})', fontsize=9)
    axes[4].set_xlim(zbox[0], zbox[1])
    axes[4].set_ylim(zbox[2], zbox[3])
    axes[4].set_aspect('equal')
  fig.suptitle(result['config'], fontsize=10)
  studies.save_figure(fig, path)


def main(argv):
  del argv
  result = run(FLAGS.config, FLAGS.workdir, FLAGS.num, FLAGS.grid, FLAGS.seed, FLAGS.train)
  print(json.dumps(result, indent=2))
  print(f'Wrote {os.path.join(FLAGS.workdir, "toy2d.json")} and {os.path.join(FLAGS.workdir, "toy2d.png")}.')


if __name__ == '__main__':
  from absl import app, flags
  from ml_collections import config_flags
  config_flags.DEFINE_config_file('config', os.path.join(os.path.dirname(__file__), 'ddpm_toy2d.py:8gaussians'),
                                  'Experiment config[:variant] (a ddpm_toy2d variant).', lock_config=False)
  flags.DEFINE_string('workdir', 'runs/study_toy2d_8g', 'A run of that config (trained here when it has no checkpoint).')
  flags.DEFINE_integer('num', 2000, 'Samples drawn (and held-out points compared against).')
  flags.DEFINE_integer('grid', 150, 'Density grid resolution per axis.')
  flags.DEFINE_integer('seed', 0, 'Seed of the samples and the VLB noise.')
  flags.DEFINE_bool('train', True, 'Train the run first when the workdir has no finished checkpoint.')
  FLAGS = flags.FLAGS
  app.run(main)
