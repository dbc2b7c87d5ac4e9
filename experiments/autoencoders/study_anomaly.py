"""Study 5 -- anomaly detection: train on all digits but one, detect the held-out digit.

Trains ``vae_mnist5k.py:mlp`` (binarized digits) with ``config.model.exclude_labels=(digit,)``: the
held-out digit's rows of every train batch get loss weight 0 (the family's label mask; the data
pipeline is unchanged, so the model sees ~10% fewer examples per step). Each of the 1,000 test
digits is then scored by its reconstruction error (per-pixel MSE of the decoder mean at the
posterior mean) and by its negative ELBO (nats, averaged over 10 posterior samples); the AUROC
(``gen_jax.eval.auroc``) measures how well each score ranks the held-out digit above the others.

  ./launch.sh python experiments/autoencoders/study_anomaly.py --workdir=runs/ae_anomaly [--digit=0 | --digit=-1
      (all ten)] [--tiny] [--steps=N] [--models_dir=runs/ae_models]
Writes anomaly.json and anomaly.png.
"""
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from gen_jax import studies
from gen_jax.eval import auroc
from gen_jax.families import autoencoders as ae

CONFIG = 'experiments/autoencoders/vae_mnist5k.py'


def anomaly_scores(state, config, images: np.ndarray, num_samples: int = 10) -> dict[str, np.ndarray]:
  """Per-example scores [N]: 'recon_mse' and 'nelbo' (mean of ``num_samples`` one-sample estimates)."""
  eval_step = ae.make_eval_step(config)

  @jax.jit
  def scores(s, x):
    batch = {'image': x, 'mask': jnp.ones(x.shape[0])}
    runs = jax.vmap(lambda k: eval_step(s, batch, k))(jax.random.split(jax.random.key(0), num_samples))
    return jnp.stack([runs['mse'][0], jnp.mean(runs['nelbo'], 0)], -1)

  out = studies.map_batches(lambda x: scores(state, x), images)
  return {'recon_mse': out[:, 0], 'nelbo': out[:, 1]}


def run(workdir: str, tiny: bool = False, steps: int = 0, digits=(0,), models_dir: str = '') -> dict:
  """One model per held-out digit; writes the AUROCs and score histograms; returns the table."""
  results, hists = {'score_samples': 10, 'digits': {}}, {}
  for digit in digits:
    config, state, info = studies.study_model(CONFIG, 'mlp', models_dir or os.path.join(workdir, 'models'), tiny,
                                               steps, exclude_labels=(int(digit),))
    test = studies.load_split(config)
    scores = anomaly_scores(state, config, test['image'], 2 if tiny else 10)
    is_anomaly = (test['label'] == digit).astype(int)
    results['digits'][str(digit)] = {
        **info, 'num_anomalies': int(is_anomaly.sum()), 'num_normal': int((1 - is_anomaly).sum()),
        'auroc': {k: round(auroc(v, is_anomaly), 4) for k, v in scores.items()},
        'mean_score_heldout': {k: round(float(v[is_anomaly == 1].mean()), 4) for k, v in scores.items()},
        'mean_score_others': {k: round(float(v[is_anomaly == 0].mean()), 4) for k, v in scores.items()}}
    hists[digit] = (scores, is_anomaly)
  aucs = [m['auroc'] for m in results['digits'].values()]
  results['mean_auroc'] = {k: round(float(np.mean([a[k] for a in aucs])), 4) for k in aucs[0]}
  studies.save_json(os.path.join(workdir, 'anomaly.json'), results)
  _plot(hists, results, workdir)
  return results


def _plot(hists: dict, results: dict, workdir: str) -> None:
  plt = studies.pyplot()
  digit = next(iter(hists))
  scores, is_anomaly = hists[digit]
  fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
  for ax, (name, v) in zip(axes, scores.items()):
    bins = np.linspace(np.percentile(v, 0.5), np.percentile(v, 99.5), 40)
    ax.hist(v[is_anomaly == 0], bins, alpha=0.6, density=True, label='trained digits')
    ax.hist(v[is_anomaly == 1], bins, alpha=0.6, density=True, label=f'held-out digit {digit}')
    ax.set(title=f'{name}: AUROC {results["digits"][str(digit)]["auroc"][name]:.3f}', xlabel=name)
    ax.legend()
  studies.save_figure(fig, os.path.join(workdir, 'anomaly.png'))


def main(argv):
  del argv
  digits = tuple(range(10)) if FLAGS.digit < 0 else (FLAGS.digit,)
  out = run(FLAGS.workdir, FLAGS.tiny, FLAGS.steps, digits, FLAGS.models_dir)
  for d, m in out['digits'].items():
    print(f'held-out digit {d}: AUROC ' + ', '.join(f'{k} {v:.3f}' for k, v in m['auroc'].items()))
  print(f'mean AUROC {out["mean_auroc"]}. Wrote {os.path.join(FLAGS.workdir, "anomaly.json")} and anomaly.png.')


if __name__ == '__main__':
  FLAGS = flags.FLAGS
  studies.define_flags('runs/ae_anomaly')
  flags.DEFINE_integer('digit', 0, 'the held-out digit 0-9; -1: each in turn (ten models)')
  app.run(main)
