"""Study 8 -- the model table: every autoencoder of the family on mnist5k, one row each.

Trains each model (MLP encoder/decoder unless --arch=conv) and reports on the 1,000 test digits:
the negative ELBO (nats; VAEs), its bits/dim, the reconstruction error (per-pixel MSE, PSNR) at the
posterior mean / code, the number of active units (Cov_x(E_q[z]) > 0.01), the training wall time,
and the IWAE bound with k importance samples next to the negative ELBO of the same digits (averaged
over 10 posterior samples) -- on all test digits, or on every (1000/N)-th with --iwae_examples=N
(about a minute per MLP VAE for k = 5000 and all 1,000 digits on 2 CPU cores). For a CVAE the
bounds are on log p(x | y).

  ./launch.sh python experiments/autoencoders/study_models.py --workdir=runs/ae_models_table [--tiny]
      [--models=vae,vae_mog,...] [--iwae_k=5000] [--iwae_examples=1000] [--steps=N] [--arch=conv]
      [--models_dir=runs/ae_models] [--default_run=runs/vae_mnist5k]
Writes models.json and models.png (a bar chart of the bounds).
"""
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from gen_jax import studies
from gen_jax.core.config import load_experiment
from gen_jax.core.state import eval_params
from gen_jax.families import autoencoders as ae
from gen_jax.families.autoencoders.models import get_model

VAE, AE, DAE = ('experiments/autoencoders/' + f for f in ('vae_mnist5k.py', 'ae_mnist5k.py', 'dae_mnist5k.py'))
MODELS = {
    'ae': (AE, ''), 'ae_mse': (AE, 'mse'),
    'dae_gaussian': (DAE, 'gaussian'), 'dae_salt_pepper': (DAE, 'salt_pepper'), 'dae_masking': (DAE, 'masking'),
    'vae': (VAE, ''), 'vae_beta4': (VAE, 'beta4'), 'vae_warmup': (VAE, 'warmup'), 'vae_mog': (VAE, 'mog'),
    'vae_laplace': (VAE, 'laplace'), 'vae_gumbel': (VAE, 'gumbel'), 'vae_cvae': (VAE, 'cvae'),
    'vae_grey': (VAE, 'grey'), 'vae_gaussian': (VAE, 'gaussian'), 'vae_learned': (VAE, 'learned'),
}
TINY_MODELS = ('dae_gaussian', 'vae_cvae')


def iwae_and_elbo(state, config, images: np.ndarray, labels: np.ndarray, k: int, batch: int = 50) -> dict:
  """Per-example IWAE-k bound and negative ELBO (mean of 10 one-sample estimates) on ``images``: nats."""
  model = get_model(config)
  y_needed = 'cvae' in config.model.name
  iwae = jax.jit(lambda s, x, y, r: ae.iwae_log_likelihood(eval_params(s), model, x, r, k, config,
                                                           y if y_needed else None))
  eval_step = ae.make_eval_step(config.copy_and_resolve_references())

  @jax.jit
  def nelbo(s, x, y):
    b = {'image': x, 'label': y, 'mask': jnp.ones(x.shape[0])}
    return jnp.mean(jax.vmap(lambda r: eval_step(s, b, r)['nelbo'])(jax.random.split(jax.random.key(1), 10)), 0)

  out = {'iwae': [], 'nelbo': []}
  for i in range(0, images.shape[0], batch):
    x, y = images[i:i + batch], labels[i:i + batch]
    out['iwae'].append(np.asarray(iwae(state, x, y, jax.random.fold_in(jax.random.key(0), i))))
    out['nelbo'].append(np.asarray(nelbo(state, x, y)))
  return {k_: np.concatenate(v) for k_, v in out.items()}


def _mean_se(v: np.ndarray) -> tuple[float, float]:
  return round(float(v.mean()), 3), round(float(v.std(ddof=1) / np.sqrt(v.size)), 3)


def run(workdir: str, tiny: bool = False, steps: int = 0, models=None, iwae_k: int = 5000,
        iwae_examples: int = 1000, arch: str = 'mlp', models_dir: str = '', default_run: str = '') -> dict:
  """Trains and evaluates ``models`` (names of ``MODELS``), plus the default experiment's run in
  ``default_run`` if given; writes and returns the table."""
  names = [] if list(models or []) == ['none'] else list(models or (TINY_MODELS if tiny else MODELS))
  iwae_k, iwae_examples = (min(iwae_k, 50), min(iwae_examples, 20)) if tiny else (iwae_k, iwae_examples)
  results = {'arch': arch, 'iwae_k': iwae_k, 'iwae_examples': iwae_examples, 'models': {}}
  jobs = [(name, None) for name in names] + ([('vae_conv_default_run', default_run)] if default_run else [])
  for name, existing in jobs:
    if existing:  # the default experiment, trained by ./launch.sh in ``existing``: evaluated as it is
      config = load_experiment(VAE)
      state = studies.restore_model(config, existing)
      info = {'config': VAE, 'workdir': existing, 'steps': config.num_train_steps, 'train_wall_s': None}
    else:
      path, variant = MODELS[name]
      variant = ','.join(v for v in (variant, 'mlp' if arch == 'mlp' else '') if v)
      config, state, info = studies.study_model(path, variant, models_dir or os.path.join(workdir, 'models'),
                                                 tiny, steps)
    metrics = studies.evaluate_model(config, info['workdir'], state)
    test = studies.load_split(config)
    fn = jax.jit(lambda s, x, y, c=config: ae.posterior_means(s, x, c, y if 'cvae' in c.model.name else None))
    means = studies.map_batches(lambda x, y: fn(state, x, y), test['image'], test['label'])
    row = {**{k: v for k, v in info.items() if k != 'train'}, 'test': studies.metric_values(metrics),
           'test_stderr': studies.metric_stderrs(metrics),
           'active_units': ae.active_units(means)[0]}
    if 'vae' in config.model.name and iwae_k:
      idx = np.arange(0, test['image'].shape[0], max(1, test['image'].shape[0] // iwae_examples))[:iwae_examples]
      b = iwae_and_elbo(state, config, test['image'][idx], test['label'][idx], iwae_k)
      row['subset'] = {'num_examples': int(idx.size), 'iwae_k': iwae_k,
                       'iwae_nll': _mean_se(-b['iwae']), 'nelbo': _mean_se(b['nelbo']),
                       'gap': _mean_se(b['nelbo'] + b['iwae'])}
    results['models'][name] = row
    studies.save_json(os.path.join(workdir, 'models.json'), results)
  _plot(results, workdir)
  return results


def _plot(results: dict, workdir: str) -> None:
  plt = studies.pyplot()
  rows = {n: m for n, m in results['models'].items() if 'nelbo' in m['test']}
  fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(rows) + 2), 3.8))
  x = np.arange(len(rows))
  ax.bar(x - 0.2, [m['test']['nelbo'] for m in rows.values()], 0.4, label='test negative ELBO')
  ax.bar(x + 0.2, [m['subset']['iwae_nll'][0] if 'subset' in m else np.nan for m in rows.values()], 0.4,
         label=f'-IWAE (k={results["iwae_k"]}, {results["iwae_examples"]} test digits)')
  ax.set_xticks(x, list(rows), rotation=30, ha='right')
  ax.set(ylabel='nats per image')
  ax.legend()
  studies.save_figure(fig, os.path.join(workdir, 'models.png'))


def main(argv):
  del argv
  out = run(FLAGS.workdir, FLAGS.tiny, FLAGS.steps, FLAGS.models, FLAGS.iwae_k, FLAGS.iwae_examples, FLAGS.arch,
            FLAGS.models_dir, FLAGS.default_run)
  for name, m in out['models'].items():
    t = m['test']
    line = f'{name:>16s}: mse {t["mse"]:.4f} psnr {t["psnr"]:5.2f} dB'
    if 'nelbo' in t:
      line += f' | nelbo {t["nelbo"]:7.2f} ({t["bits_per_dim"]:.4f} bits/dim) active {m["active_units"]:3d}'
    if 'subset' in m:
      line += f' | subset nelbo {m["subset"]["nelbo"][0]:.2f} iwae-nll {m["subset"]["iwae_nll"][0]:.2f}'
    print(line + (f' | train {m["train_wall_s"]:.0f}s' if m['train_wall_s'] else ''))
  print(f'Wrote {os.path.join(FLAGS.workdir, "models.json")} and models.png.')


if __name__ == '__main__':
  FLAGS = flags.FLAGS
  studies.define_flags('runs/ae_models_table')
  flags.DEFINE_list('models', [], f'models to run (default: all; "none" with --default_run: only that run): '
                    f'{", ".join(MODELS)}')
  flags.DEFINE_integer('iwae_k', 5000, 'importance samples of the IWAE bound (0: skip it)')
  flags.DEFINE_integer('iwae_examples', 1000, 'test digits for the IWAE bound (1000: all; N < 1000: every '
                       '(1000/N)-th)')
  flags.DEFINE_enum('arch', 'mlp', ['mlp', 'conv'], 'encoder/decoder architecture')
  flags.DEFINE_string('default_run', '', 'workdir of a finished ./launch.sh run of vae_mnist5k.py (the default '
                      'experiment, e.g. runs/vae_mnist5k): evaluated too, as row vae_conv_default_run')
  app.run(main)
