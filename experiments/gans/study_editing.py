"""Editing with a trained StyleGAN on mnist5k: latent interpolation in z and in w, the style-mixing grid,
and the truncation trick's trade-off between sample quality and diversity.

  ./launch.sh python experiments/gans/study_editing.py --workdir=runs/gan_editing --models_dir=runs/gan_models
  ./launch.sh python experiments/gans/study_editing.py --tiny      # seconds: a smoke test

The model is ``experiments/gans/stylegan.py`` (trained or reused under ``--models_dir``, shared with
study_image_generation.py). Writes into ``--workdir``:

* ``interpolation.png``: for 4 pairs of latents, 9 images along a spherical path in z (top row of each
  pair) and a straight path in w (bottom row), noise fixed; ``editing.json`` adds the perceptual path
  length of each space measured in the project classifier's feature space, ``E[||f(G(t)) - f(G(t +
  eps))||^2] / eps^2`` over 500 random paths and t ~ U[0, 1] (eps = 1e-2; Karras et al. 2019 use
  VGG features): shorter paths mean smoother images along the path.
* ``style_mixing.png``: rows are images of source A, columns of source B; each block replaces A's
  coarse (4x4 and 8x8), middle (16x16) or fine (32x32) styles with B's.
* ``truncation.png``: FID, precision and recall of 1,000 samples for psi in 0 ... 1, and samples at
  each psi (the same z); ``editing.json`` the numbers.
"""
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from gen_jax import studies
from gen_jax.eval.feature_net import load_feature_net
from gen_jax.families import gans
from gen_jax.families.gans import networks, stylegan

EXPERIMENT = 'experiments/gans/stylegan.py'
PSIS = (0.0, 0.25, 0.5, 0.7, 0.85, 1.0)
LAYER_GROUPS = {'coarse (4-8 px)': (0, 3), 'middle (16 px)': (3, 5), 'fine (32 px)': (5, None)}



def unit(x: np.ndarray) -> np.ndarray:
  return np.clip((np.asarray(x) + 1.0) / 2.0, 0.0, 1.0)


def path_length(state, config, space: str, num: int, eps: float = 1e-2, seed: int = 0) -> float:
  """Perceptual path length in the classifier's feature space (module docstring), z (slerp) or w (lerp)."""
  nets = networks.get_networks(config)
  net = load_feature_net(config.dataset.name)
  k1, k2, k3, k4 = jax.random.split(jax.random.key(seed), 4)
  z_a = networks.sample_latents(k1, num, nets)
  z_b = networks.sample_latents(k2, num, nets)
  t = jax.random.uniform(k3, (num, 1))

  @jax.jit
  def endpoints(state):
    if space == 'z':
      p0, p1 = gans.sampling.slerp(z_a, z_b, t), gans.sampling.slerp(z_a, z_b, t + eps)
      return (gans.generate_from_latents(state, p0, k4, config), gans.generate_from_latents(state, p1, k4, config))
    w_a, w_b = gans.map_latents(state, z_a, config), gans.map_latents(state, z_b, config)
    n_ws = stylegan.num_ws(nets.g.channels)
    ws = lambda s: jnp.repeat((w_a + s * (w_b - w_a))[:, None], n_ws, axis=1)
    return gans.synthesize(state, ws(t), k4, config), gans.synthesize(state, ws(t + eps), k4, config)

  x0, x1 = endpoints(state)
  f0 = np.asarray(net.features(jnp.asarray(unit(x0))))
  f1 = np.asarray(net.features(jnp.asarray(unit(x1))))
  return float(np.mean(np.sum((f1 - f0) ** 2, axis=1)) / eps ** 2)


def run(workdir: str, models_dir: str = '', tiny: bool = False, steps: int = 0) -> dict:
  models_dir = models_dir or os.path.join(workdir, 'models')
  config, state, info = studies.study_model(EXPERIMENT, '', models_dir, tiny, steps)
  nets = networks.get_networks(config)
  plt = studies.pyplot()
  out = {'model': info['config'], 'steps': info['steps'], 'device': studies.device_kind()}

  # interpolation in z and w
  pairs, frames = 4, 9
  z_a = networks.sample_latents(jax.random.key(1), pairs, nets)
  z_b = networks.sample_latents(jax.random.key(2), pairs, nets)
  noise = jax.random.key(3)
  rows = []
  for space in ('z', 'w'):
    img = jax.jit(lambda s, a, b, sp=space: gans.interpolate(s, a, b, frames, noise, config, space=sp))(state, z_a, z_b)
    rows.append(np.asarray(img))
  grid = np.stack(rows, axis=1).reshape((pairs * 2, frames) + nets.data_shape)       # z row, w row per pair
  fig, ax = plt.subplots(figsize=(frames * 0.9, pairs * 2 * 0.9))
  h, w = nets.data_shape[:2]
  ax.imshow(unit(grid)[..., 0].transpose(0, 2, 1, 3).reshape(pairs * 2 * h, frames * w), cmap='gray', vmin=0, vmax=1)
  ax.set_yticks([(i + 0.5) * h for i in range(pairs * 2)], ['z', 'w'] * pairs, fontsize=8)
  ax.set_xticks([])
  studies.save_figure(fig, os.path.join(workdir, 'interpolation.png'), dpi=90)
  num = 50 if tiny else 500
  out['path_length'] = {space: path_length(state, config, space, num) for space in ('z', 'w')}

  # style mixing: coarse / middle / fine styles of B into A
  n = 5
  w_rows = jax.jit(lambda s, z: gans.map_latents(s, z, config))(state, networks.sample_latents(jax.random.key(4), n, nets))
  w_cols = jax.jit(lambda s, z: gans.map_latents(s, z, config))(state, networks.sample_latents(jax.random.key(5), n, nets))
  n_ws = stylegan.num_ws(nets.g.channels)
  fig, axes = plt.subplots(1, len(LAYER_GROUPS), figsize=(4.2 * len(LAYER_GROUPS), 4.4))
  a_img = np.asarray(gans.synthesize(state, jnp.repeat(w_rows[:, None], n_ws, 1), None, config, 'const'))
  b_img = np.asarray(gans.synthesize(state, jnp.repeat(w_cols[:, None], n_ws, 1), None, config, 'const'))
  mix_fn = jax.jit(lambda s, r, c, lo, hi: gans.style_mix(s, r, c, (lo, hi), config))   # layers traced: one compile
  for ax, (name, (lo, hi)) in zip(axes, LAYER_GROUPS.items()):
    mix = np.asarray(mix_fn(state, w_rows, w_cols, jnp.int32(lo), jnp.int32(hi or n_ws)))
    canvas = np.ones(((n + 1) * h, (n + 1) * w))
    for j in range(n):
      canvas[:h, (j + 1) * w:(j + 2) * w] = unit(b_img[j])[..., 0]
      canvas[(j + 1) * h:(j + 2) * h, :w] = unit(a_img[j])[..., 0]
      for k in range(n):
        canvas[(j + 1) * h:(j + 2) * h, (k + 1) * w:(k + 2) * w] = unit(mix[j, k])[..., 0]
    ax.imshow(canvas, cmap='gray', vmin=0, vmax=1)
    ax.set_title(f"B's {name} styles in A", fontsize=9)
    ax.axis('off')
  studies.save_figure(fig, os.path.join(workdir, 'style_mixing.png'), dpi=90)

  # truncation sweep
  num = 100 if tiny else 1000
  sweep, strips = [], []
  z = networks.sample_latents(jax.random.key(6), num, nets)
  fn = jax.jit(lambda s, z, k, psi: gans.generate_from_latents(s, z, k, config, psi=psi))   # psi traced: one compile
  for psi in PSIS:
    x = np.concatenate([np.asarray(fn(state, z[i:i + 500], jax.random.key(7), jnp.float32(psi)))
                        for i in range(0, num, 500)])
    q = studies.flat(studies.sample_quality(config, x), 4)
    sweep.append({'psi': psi, **{k: q.get(k) for k in ('fid', 'kid', 'precision', 'recall', 'class_entropy')}})
    strips.append(unit(x[:10]))
  out['truncation'] = sweep
  fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={'width_ratios': [1, 1.3]})
  ax1.plot(PSIS, [r['precision'] for r in sweep], 'o-', label='precision')
  ax1.plot(PSIS, [r['recall'] for r in sweep], 's-', label='recall')
  ax1.set_xlabel('truncation psi')
  ax1.legend(loc='center left')
  ax1b = ax1.twinx()
  ax1b.plot(PSIS, [r['fid'] for r in sweep], 'k^--', label='FID')
  ax1b.set_ylabel('FID (classifier features)')
  ax1b.legend(loc='center right')
  strip = np.stack(strips)[..., 0]                                  # [psi, 10, h, w]
  ax2.imshow(strip.transpose(0, 2, 1, 3).reshape(len(PSIS) * h, 10 * w), cmap='gray', vmin=0, vmax=1)
  ax2.set_yticks([(i + 0.5) * h for i in range(len(PSIS))], [f'psi={p}' for p in PSIS], fontsize=8)
  ax2.set_xticks([])
  studies.save_figure(fig, os.path.join(workdir, 'truncation.png'), dpi=90)
  studies.save_json(os.path.join(workdir, 'editing.json'), out)
  print(f'path length: z {out["path_length"]["z"]:.1f}, w {out["path_length"]["w"]:.1f}')
  for r in sweep:
    print(f'psi {r["psi"]:.2f}: FID {r["fid"]} precision {r["precision"]} recall {r["recall"]}')
  return out


def main(argv):
  del argv
  run(FLAGS.workdir, FLAGS.models_dir, FLAGS.tiny, FLAGS.steps)


if __name__ == '__main__':
  FLAGS = flags.FLAGS
  studies.define_flags('runs/gan_editing')
  app.run(main)
