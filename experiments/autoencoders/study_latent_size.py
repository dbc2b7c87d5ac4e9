"""Study 2 -- latent size: reconstruction error and ELBO of VAEs with 2, 4, 8, 16, 32 and 64 latents.

Trains ``vae_mnist5k.py:mlp`` (binarized digits, Bernoulli decoder) once per latent size and
reports, on the 1,000 test digits: negative ELBO, its reconstruction and KL terms (nats), bits/dim,
the reconstruction MSE and PSNR at the posterior mean, and the number of active units
(Burda et al.: Cov_x(E_q[z]) > 0.01); with --iwae_k also the k-sample IWAE bound.

  ./launch.sh python experiments/autoencoders/study_latent_size.py --workdir=runs/ae_latent_size [--tiny]
      [--steps=N] [--arch=conv] [--iwae_k=1000] [--models_dir=runs/ae_models]
Writes latent_size.json and latent_size.png.
"""
import os

import jax
import numpy as np
from absl import app, flags

from gen_jax import studies
from gen_jax.families import autoencoders as ae

CONFIG = 'experiments/autoencoders/vae_mnist5k.py'
SIZES = (2, 4, 8, 16, 32, 64)


def active_units_on(state, config, images: np.ndarray, labels: np.ndarray | None = None) -> int:
  """Active units of ``state``'s posterior over ``images`` [N, H, W, C]."""
  fn = jax.jit(lambda s, x, y: ae.posterior_means(s, x, config, y))
  means = studies.map_batches(lambda x, y: fn(state, x, y), images, labels)
  return ae.active_units(means)[0]


def run(workdir: str, tiny: bool = False, steps: int = 0, arch: str = 'mlp', iwae_k: int = 0,
        models_dir: str = '') -> dict:
  """Trains one VAE per latent size; writes the table and the curve; returns the table."""
  sizes = (2, 8) if tiny else SIZES
  results = {'arch': arch, 'iwae_k': iwae_k, 'models': {}}
  for d in sizes:
    config, state, info = studies.study_model(CONFIG, 'mlp' if arch == 'mlp' else '',
                                               models_dir or os.path.join(workdir, 'models'), tiny, steps,
                                               latent_dim=d)
    config.eval.iwae_k = iwae_k
    metrics = studies.evaluate_model(config, info['workdir'], state)
    test = studies.load_split(config)
    results['models'][str(d)] = {**info, 'test': studies.metric_values(metrics),
                                 'test_stderr': studies.metric_stderrs(metrics),
                                 'active_units': active_units_on(state, config, test['image'])}
  studies.save_json(os.path.join(workdir, 'latent_size.json'), results)
  _plot(results, workdir)
  return results


def _plot(results: dict, workdir: str) -> None:
  import matplotlib.ticker  # pylint: disable=g-import-not-at-top
  plt = studies.pyplot()
  sizes = [int(d) for d in results['models']]
  get = lambda k: [m['test'].get(k, np.nan) for m in results['models'].values()]  # noqa: E731
  fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
  axes[0].plot(sizes, get('nelbo'), 'o-', label='negative ELBO')
  axes[0].plot(sizes, get('recon'), 's--', label='reconstruction -log p(x|z)')
  if results['iwae_k']:
    axes[0].plot(sizes, get('iwae_nll'), '^-', label=f'-IWAE (k={results["iwae_k"]})')
  axes[0].set(xscale='log', xlabel='latent size', ylabel='nats per image', title='test bound')
  axes[0].legend()
  axes[1].plot(sizes, get('kl'), 'o-', color='C2')
  axes[1].set(xscale='log', xlabel='latent size', ylabel='KL (nats)', title='KL(q(z|x) || p(z))')
  ax2 = axes[2]
  ax2.plot(sizes, get('mse'), 'o-', color='C3')
  ax2.set(xscale='log', xlabel='latent size', ylabel='MSE per pixel', title='reconstruction error / active units')
  ax3 = ax2.twinx()
  ax3.plot(sizes, [m['active_units'] for m in results['models'].values()], 's:', color='C4')
  ax3.set_ylabel('active units', color='C4')
  for ax in axes:
    ax.set_xscale('log', base=2)
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xticks(sizes, [str(s) for s in sizes])
  studies.save_figure(fig, os.path.join(workdir, 'latent_size.png'))


def main(argv):
  del argv
  out = run(FLAGS.workdir, FLAGS.tiny, FLAGS.steps, FLAGS.arch, FLAGS.iwae_k, FLAGS.models_dir)
  print(f'{"latent":>6s} {"nelbo":>8s} {"recon":>8s} {"kl":>6s} {"mse":>7s} {"psnr":>6s} {"active":>6s}')
  for d, m in out['models'].items():
    t = m['test']
    print(f'{d:>6s} {t["nelbo"]:8.2f} {t["recon"]:8.2f} {t["kl"]:6.2f} {t["mse"]:7.4f} {t["psnr"]:6.2f} '
          f'{m["active_units"]:6d}' + (f'  iwae {t["iwae"]:.2f}' if 'iwae' in t else ''))
  print(f'Wrote {os.path.join(FLAGS.workdir, "latent_size.json")} and latent_size.png.')


if __name__ == '__main__':
  FLAGS = flags.FLAGS
  studies.define_flags('runs/ae_latent_size')
  flags.DEFINE_enum('arch', 'mlp', ['mlp', 'conv'], 'encoder/decoder architecture')
  flags.DEFINE_integer('iwae_k', 0, 'importance samples for the IWAE bound on the test set (0: off)')
  app.run(main)
