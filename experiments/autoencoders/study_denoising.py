"""Study 1 -- denoising: PSNR of the corrupted input vs the DAE's output, over noise levels and types.

Trains one denoising autoencoder per noise type (Gaussian, salt-and-pepper, masking; each at the
level of ``dae_mnist5k.py``), then corrupts the 1,000 test digits at a range of levels and reports
the mean PSNR (dB) of the noisy input and of the denoised output against the clean digit.

  ./launch.sh python experiments/autoencoders/study_denoising.py --workdir=runs/ae_denoising [--tiny]
      [--steps=N] [--arch=conv] [--models_dir=runs/ae_models]
Writes denoising.json (the table), denoising_psnr.png (curves) and denoising_examples.png.
"""
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from gen_jax import studies
from gen_jax.core.images import make_grid
from gen_jax.eval import psnr
from gen_jax.families import autoencoders as ae
from gen_jax.families.autoencoders.noise import corrupt

CONFIG = 'experiments/autoencoders/dae_mnist5k.py'
LEVELS = {'gaussian': (0.1, 0.2, 0.3, 0.4, 0.5, 0.7), 'salt_pepper': (0.05, 0.1, 0.2, 0.3, 0.4, 0.6),
          'masking': (0.1, 0.25, 0.4, 0.5, 0.6, 0.75)}


def psnr_table(state, config, images: np.ndarray, noise: str, levels, seed: int = 0) -> dict:
  """{level: {'psnr_noisy', 'psnr_denoised' (mean dB), their stderr, 'gain'}} on ``images``."""
  @jax.jit
  def both(state, x, key, level):
    noisy = corrupt(key, x, noise, level)
    return psnr(noisy, x, 1.0), psnr(ae.reconstruct(state, noisy, config), x, 1.0)

  out = {}
  for i, level in enumerate(levels):
    key = jax.random.fold_in(jax.random.key(seed), i)
    pn, pd = both(state, jnp.asarray(images), key, jnp.float32(level))
    pn, pd = np.asarray(pn, np.float64), np.asarray(pd, np.float64)
    se = lambda v: float(v.std(ddof=1) / np.sqrt(v.size))  # noqa: E731
    out[f'{level:g}'] = {'psnr_noisy': round(float(pn.mean()), 3), 'psnr_noisy_stderr': round(se(pn), 3),
                         'psnr_denoised': round(float(pd.mean()), 3), 'psnr_denoised_stderr': round(se(pd), 3),
                         'gain_db': round(float(pd.mean() - pn.mean()), 3)}
  return out


def run(workdir: str, tiny: bool = False, steps: int = 0, arch: str = 'mlp', models_dir: str = '') -> dict:
  """Trains the three DAEs (``arch``: 'mlp' or 'conv'; runs under ``models_dir``, default
  ``workdir/models``) and writes the table and figures; returns the table."""
  results, examples = {'arch': arch, 'models': {}}, {}
  for noise, levels in LEVELS.items():
    variant = noise + (',mlp' if arch == 'mlp' else '')
    config, state, info = studies.study_model(CONFIG, variant, models_dir or os.path.join(workdir, 'models'),
                                               tiny, steps)
    test = studies.load_split(config)
    levels = levels[::2] if tiny else levels
    table = psnr_table(state, config, test['image'], noise, levels)
    results['models'][noise] = {'trained_noise_level': config.model.noise_level, **info, 'levels': table}
    x = jnp.asarray(test['image'][:8])
    noisy = corrupt(jax.random.key(1), x, noise, float(config.model.noise_level))
    denoised = ae.reconstruct(state, noisy, config)
    examples[noise] = np.concatenate([np.asarray(x), np.asarray(noisy), np.asarray(denoised)])
  studies.save_json(os.path.join(workdir, 'denoising.json'), results)
  _plot(results, examples, workdir)
  return results


def _plot(results: dict, examples: dict, workdir: str) -> None:
  plt = studies.pyplot()
  names = list(results['models'])
  fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), squeeze=False)
  for ax, noise in zip(axes[0], names):
    table = results['models'][noise]['levels']
    lv = [float(k) for k in table]
    ax.plot(lv, [t['psnr_noisy'] for t in table.values()], 'o--', label='noisy input')
    ax.plot(lv, [t['psnr_denoised'] for t in table.values()], 'o-', label='DAE output')
    ax.axvline(results['models'][noise]['trained_noise_level'], color='grey', lw=0.8, ls=':')
    ax.set(title=noise, xlabel='noise level', ylabel='PSNR (dB)')
    ax.legend()
  studies.save_figure(fig, os.path.join(workdir, 'denoising_psnr.png'))
  fig, axes = plt.subplots(len(names), 1, figsize=(6, 2.6 * len(names)), squeeze=False)
  for ax, noise in zip(axes[:, 0], names):
    ax.imshow(make_grid(examples[noise], ncols=8)[..., 0], cmap='gray')
    ax.set_title(f'{noise} (level {results["models"][noise]["trained_noise_level"]}): clean / noisy / denoised')
    ax.axis('off')
  studies.save_figure(fig, os.path.join(workdir, 'denoising_examples.png'))


def main(argv):
  del argv
  out = run(FLAGS.workdir, FLAGS.tiny, FLAGS.steps, FLAGS.arch, FLAGS.models_dir)
  for noise, m in out['models'].items():
    print(f'{noise:12s} trained at {m["trained_noise_level"]}: ' + ', '.join(
        f'{lv}: {t["psnr_noisy"]:.1f} -> {t["psnr_denoised"]:.1f} dB' for lv, t in m['levels'].items()))
  print(f'Wrote {os.path.join(FLAGS.workdir, "denoising.json")} and figures.')


if __name__ == '__main__':
  FLAGS = flags.FLAGS
  studies.define_flags('runs/ae_denoising')
  flags.DEFINE_enum('arch', 'mlp', ['mlp', 'conv'], 'encoder/decoder architecture')
  app.run(main)
