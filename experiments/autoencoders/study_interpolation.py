"""Study 6 -- interpolation between test digits through the latent space.

For 8 pairs of test digits (the first test example of digits a and b, for (a, b) = (0, 1), (2, 3),
..., (8, 9), (1, 7), (4, 9), (3, 8)), decodes 10 evenly spaced points on the straight line between
their codes, for a VAE (``vae_mnist5k.py:mlp,grey``, posterior means) and an autoencoder
(``ae_mnist5k.py:mlp``), next to the pixel-space cross-fade. As numbers, for each method: how
digit-like the 8 interior frames are -- their negative ELBO (nats, mean of 10 samples) after
thresholding at 0.5, under a separate VAE of binarized digits (``vae_mnist5k.py:mlp``), next to
that of the thresholded end-point test digits (lower = more plausible; thresholding keeps a blurry
frame from being scored for its grey levels) -- and how even the path is: the largest
frame-to-frame pixel change over the mean one (1 = evenly spaced).

  ./launch.sh python experiments/autoencoders/study_interpolation.py --workdir=runs/ae_interpolation [--tiny]
      [--steps=N] [--models_dir=runs/ae_models]
Writes interpolation.json and interpolation.png (rows: pairs; blocks: VAE, AE, pixels).
"""
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from gen_jax import studies
from gen_jax.core.images import make_grid
from gen_jax.families import autoencoders as ae

MODELS = {'vae': ('experiments/autoencoders/vae_mnist5k.py', 'mlp,grey'),
          'ae': ('experiments/autoencoders/ae_mnist5k.py', 'mlp')}
JUDGE = ('experiments/autoencoders/vae_mnist5k.py', 'mlp')  # a VAE of binarized digits scores the frames
PAIRS = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (1, 7), (4, 9), (3, 8))
STEPS = 10


def path_unevenness(frames: np.ndarray) -> float:
  """max / mean of the L2 distances between consecutive frames [T, H, W, C] (1 = evenly spaced)."""
  d = np.sqrt(np.sum(np.diff(frames.reshape(frames.shape[0], -1), axis=0) ** 2, -1))
  return float(d.max() / max(d.mean(), 1e-12))


def run(workdir: str, tiny: bool = False, steps: int = 0, models_dir: str = '') -> dict:
  """Trains both models; writes the image strips and the numbers; returns them."""
  strips, states = {}, {}
  for name, (path, variant) in MODELS.items():
    config, state, info = studies.study_model(path, variant, models_dir or os.path.join(workdir, 'models'),
                                               tiny, steps)
    states[name] = (config, state, info)
  vae_config = states['vae'][0]
  test = studies.load_split(vae_config)
  first = {d: int(np.flatnonzero(test['label'] == d)[0]) for d in range(10)}
  x_a = test['image'][[first[a] for a, _ in PAIRS]]
  x_b = test['image'][[first[b] for _, b in PAIRS]]
  for name, (config, state, _) in states.items():
    strips[name] = np.asarray(jax.jit(lambda s, a, b, c=config: ae.interpolate(s, a, b, STEPS, c))(state, x_a, x_b))
  t = np.linspace(0, 1, STEPS).reshape(1, -1, 1, 1, 1)
  strips['pixels'] = x_a[:, None] * (1 - t) + x_b[:, None] * t
  judge_config, judge_state, _ = studies.study_model(JUDGE[0], JUDGE[1], models_dir or os.path.join(workdir, 'models'),
                                                      tiny, steps)
  eval_step = ae.make_eval_step(judge_config)

  @jax.jit
  def nelbo(s, x):  # negative ELBO of binarized frames under the binary-data VAE, mean of 10 samples: [N]
    b = {'image': (x > 0.5).astype(jnp.float32), 'mask': jnp.ones(x.shape[0])}
    return jnp.mean(jax.vmap(lambda r: eval_step(s, b, r)['nelbo'])(jax.random.split(jax.random.key(0), 10)), 0)

  def plausibility(frames):  # [P, T, H, W, C] -> mean over the interior frames
    return round(float(np.mean(nelbo(judge_state, frames[:, 1:-1].reshape((-1,) + frames.shape[2:])))), 2)

  ends = np.concatenate([x_a, x_b])[:, None]  # the real test digits at the ends, for reference
  results = {'pairs': [list(p) for p in PAIRS], 'steps': STEPS, 'methods': {},
             'judge': f'{JUDGE[0]}:{JUDGE[1]}',
             'test_digits_binarized_nelbo': plausibility(np.concatenate([ends, ends, ends], 1))}
  for name, frames in strips.items():
    results['methods'][name] = {
        'interior_binarized_nelbo': plausibility(frames),
        'path_unevenness': round(float(np.mean([path_unevenness(f) for f in frames])), 3)}
    if name in states:
      results['methods'][name].update({k: v for k, v in states[name][2].items() if k != 'train'})
  studies.save_json(os.path.join(workdir, 'interpolation.json'), results)
  _plot(strips, workdir)
  return results


def _plot(strips: dict, workdir: str) -> None:
  plt = studies.pyplot()
  fig, axes = plt.subplots(len(strips), 1, figsize=(7, 6.2 * len(strips) / 1.6), squeeze=False)
  for ax, (name, frames) in zip(axes[:, 0], strips.items()):
    ax.imshow(make_grid(np.clip(frames.reshape((-1,) + frames.shape[2:]), 0, 1), ncols=frames.shape[1])[..., 0],
              cmap='gray')
    ax.set_title({'vae': 'VAE latent space', 'ae': 'autoencoder latent space', 'pixels': 'pixel cross-fade'}[name])
    ax.axis('off')
  studies.save_figure(fig, os.path.join(workdir, 'interpolation.png'))


def main(argv):
  del argv
  out = run(FLAGS.workdir, FLAGS.tiny, FLAGS.steps, FLAGS.models_dir)
  for name, m in out['methods'].items():
    print(f'{name:>7s}: interior frames (binarized) nelbo {m["interior_binarized_nelbo"]:.1f} nats, '
          f'path unevenness {m["path_unevenness"]:.2f}')
  print(f'(the 16 end-point test digits, binarized: {out["test_digits_binarized_nelbo"]:.1f} nats). '
        f'Wrote {os.path.join(FLAGS.workdir, "interpolation.json")} and interpolation.png.')


if __name__ == '__main__':
  FLAGS = flags.FLAGS
  studies.define_flags('runs/ae_interpolation')
  app.run(main)
