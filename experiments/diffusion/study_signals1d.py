"""Diffusion on 1-D signals: does a DDPM with an MLP denoiser learn sums of sines?

  ./launch.sh python experiments/diffusion/study_signals1d.py --workdir=runs/study_signals1d
  ./launch.sh python experiments/diffusion/study_signals1d.py \
      --config=experiments/diffusion/ddpm_signals1d.py:cond --workdir=runs/study_signals1d_cond

Trains the run first when its workdir has no finished checkpoint (resuming a partial one), draws
``--num`` signals (the config's sampler, EMA parameters) and compares them with as many held-out
test signals. The same numbers are reported for three references, so a reader sees what was
learned:
  * ``floor``: real train signals (the best any model can do at this sample size);
  * ``gaussian_diag``: Gaussian noise with the train set's per-sample mean and std (an untrained
    baseline matching the first two marginal moments);
  * ``gaussian_cov``: a Gaussian with the train set's full 64x64 covariance (it matches the mean
    power spectrum exactly, but not the line structure of the signals).
Numbers: ``kid_raw`` (KID on the raw 64-D signals, cubic kernel; x 1e3 in the table), ``mean_err`` /
``std_err`` (mean absolute error of the per-sample mean / std), ``spectrum_l1`` (L1 distance of
the mean power spectra ``|rfft(x)|^2``, relative to the real spectrum's total), the histogram of
the number of dominant spectral peaks (``signals1d.count_spectral_peaks``: bins with amplitude >
0.25; real signals have exactly K = 1, 2 or 3) and its total-variation distance ``peaks_tv`` from
the real one, plus ``peaks_in_1_3``, the fraction of signals with 1..3 peaks. A class-conditional
run (``:cfg``) also reports ``label_accuracy``: the fraction of signals sampled for class y that
have y + 1 peaks.
Writes ``<workdir>/signals1d.png`` (real vs generated signals, mean power spectra, peak histograms)
and ``<workdir>/signals1d.json``.
"""
import json
import os
import time
from typing import Any

import jax
import numpy as np

from gen_jax import studies
from gen_jax.core.state import eval_params
from gen_jax.data.builders.signals1d import count_spectral_peaks
from gen_jax.families.diffusion import sampling as sample_lib

MAX_PEAKS = 6  # histogram bins 0..5 and ">= 6"


def load_split(config: Any, split: str, num: int):
  """The first ``num`` signals of ``split``: x float32 [n, 64], labels int32 [n]."""
  d = studies.load_split(config, split, num)
  return d['x'], d['label']


def power_spectrum(x):
  """Mean power spectrum float64 [L/2 + 1]: the average over signals of ``|rfft(x)|^2 / L``."""
  x = np.asarray(x, np.float64)
  return (np.abs(np.fft.rfft(x, axis=-1)) ** 2).mean(0) / x.shape[-1]


def peak_histogram(x):
  """Fraction of signals with 0, 1, ..., MAX_PEAKS - 1 and >= MAX_PEAKS dominant spectral peaks."""
  counts = np.minimum(count_spectral_peaks(x), MAX_PEAKS)
  return np.bincount(counts, minlength=MAX_PEAKS + 1) / len(counts)


def compare(gen, real, labels=None) -> dict[str, Any]:
  """Every number of the study for signals ``gen`` [n, L] against ``real`` [m, L] (module docstring);
  ``labels`` [n]: the classes ``gen`` was sampled for (conditional models)."""
  x, y = np.asarray(gen, np.float64), np.asarray(real, np.float64)
  ps_x, ps_y = power_spectrum(x), power_spectrum(y)
  h_x, h_y = peak_histogram(x), peak_histogram(y)
  peaks = count_spectral_peaks(x)
  out = {**studies.point_quality(x, y, 'signals1d'),
         'spectrum_l1': float(np.abs(ps_x - ps_y).sum() / ps_y.sum()),
         'peaks_tv': float(0.5 * np.abs(h_x - h_y).sum()),
         'peaks_in_1_3': float(np.mean((peaks >= 1) & (peaks <= 3))),
         'peak_histogram': [round(float(v), 4) for v in h_x]}
  if labels is not None:
    out['label_accuracy'] = float(np.mean(peaks == np.asarray(labels) + 1))
  return out


def _rounded(d: dict) -> dict:
  return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in d.items()}


def run(config: Any, workdir: str, num: int = 2000, seed: int = 0, train_if_needed: bool = True) -> dict:
  """Trains if needed, then writes ``signals1d.json`` and ``signals1d.png`` into ``workdir``; returns the JSON."""
  _, state = studies.trained_state(config, workdir, train_if_needed)
  real, real_labels = load_split(config, config.dataset.get('eval_split', 'test') or 'test', num)
  train_x, _ = load_split(config, config.dataset.get('train_split', 'train') or 'train', max(num, 5000))
  labels = sample_lib.sample_labels(config, num)
  t0 = time.perf_counter()
  sample = jax.jit(lambda p, r: sample_lib.sample_with_params(p, r, num, config))
  gen = np.asarray(jax.block_until_ready(sample(eval_params(state), jax.random.key(seed + 1))), np.float64)
  t_sample = time.perf_counter() - t0
  rng = np.random.default_rng(seed)
  mu, sd = train_x.mean(0), train_x.std(0)
  references = {
      'floor': train_x[:num],
      'gaussian_diag': mu + sd * rng.standard_normal((num, train_x.shape[1])),
      'gaussian_cov': rng.multivariate_normal(mu, np.cov(train_x.T), size=num),
  }
  result = {
      'config': f'{config.dataset.name}, {config.model.name} {config.model.hidden}x{config.model.num_layers}, '
                f'T={config.diffusion.num_timesteps} {config.diffusion.schedule}, {config.num_train_steps} steps, '
                f'batch {config.batch_size}, sampler {config.sample.sampler}'
                + (f', guidance {config.sample.guidance_scale:g}' if labels is not None else ''),
      'checkpoint_step': int(jax.device_get(state.step)),
      'num_samples': num,
      'sample_seconds': round(t_sample, 2),
      'real_peak_histogram': [round(float(v), 4) for v in peak_histogram(real)],
      'real_label_histogram': [round(float(v), 4) for v in np.bincount(real_labels, minlength=3) / len(real_labels)],
      'model': _rounded(compare(gen, real, None if labels is None else np.asarray(labels))),
      **{name: _rounded(compare(x, real)) for name, x in references.items()},
  }
  studies.save_json(os.path.join(workdir, 'signals1d.json'), result)
  plot(real, gen, references, result, os.path.join(workdir, 'signals1d.png'),
       None if labels is None else np.asarray(labels))
  return result


def markdown(result: dict) -> str:
  """The study's table: one row per signal source (model and references)."""
  rows = [('DDPM samples', result['model'])] + [(n, result[n]) for n in ('floor', 'gaussian_diag', 'gaussian_cov')]
  lines = ['| samples | KID raw (x1e3) | mean err | std err | spectrum L1 | peaks TV | 1-3 peaks |',
           '|---|---|---|---|---|---|---|']
  for name, r in rows:
    lines.append(f'| {name} | {1e3 * r["kid_raw"]:.2f} | {r["mean_err"]:.3f} | {r["std_err"]:.3f} | '
                 f'{r["spectrum_l1"]:.3f} | {r["peaks_tv"]:.3f} | {r["peaks_in_1_3"]:.3f} |')
  return '\n'.join(lines)


def plot(real, gen, references: dict, result: dict, path: str, labels=None) -> None:
  """Top: 8 real and 8 generated signals (with the K each was sampled for when ``labels`` [n] are
  given). Bottom: mean power spectra and peak-count histograms."""
  plt = studies.pyplot()
  fig, axes = plt.subplots(2, 2, figsize=(13, 9))
  t = np.arange(real.shape[1])
  for ax, x, title, color in ((axes[0, 0], real, 'real test signals', 'C0'),
                              (axes[0, 1], gen, 'DDPM samples', 'C3')):
    peaks = count_spectral_peaks(x[:8])
    for i in range(8):
      ax.plot(t, x[i] - 3.0 * i, color=color, lw=1.0)
      asked = f' (K={labels[i] + 1})' if labels is not None and x is gen else ''
      ax.text(t[-1] + 1, -3.0 * i, f'{peaks[i]} pk{asked}', fontsize=8, va='center')
    ax.set_title(f'{title} (offset by 3; "pk" = spectral peaks)', fontsize=10)
    ax.set_yticks([])
    ax.set_xlabel('sample index')
    ax.set_xlim(0, t[-1] + (12 if labels is not None else 7))
  ax = axes[1, 0]
  freqs = np.arange(real.shape[1] // 2 + 1)
  ax.semilogy(freqs, power_spectrum(real), 'o-', color='C0', ms=3, label='real')
  ax.semilogy(freqs, power_spectrum(gen), 's--', color='C3', ms=3,
              label=f'DDPM (L1 {result["model"]["spectrum_l1"]:.3f})')
  ax.semilogy(freqs, power_spectrum(references['gaussian_diag']), ':', color='grey',
              label=f'Gaussian, matched mean/std (L1 {result["gaussian_diag"]["spectrum_l1"]:.3f})')
  ax.set_xlabel('frequency (cycles per 64 samples)')
  ax.set_ylabel('mean |FFT|^2 / L')
  ax.set_title('mean power spectrum', fontsize=10)
  ax.legend(fontsize=8)
  ax = axes[1, 1]
  bins = np.arange(MAX_PEAKS + 1)
  w = 0.2
  for j, (name, h, color) in enumerate((
      ('real', result['real_peak_histogram'], 'C0'),
      (f'DDPM (TV {result["model"]["peaks_tv"]:.3f})', result['model']['peak_histogram'], 'C3'),
      (f'Gaussian, full covariance (TV {result["gaussian_cov"]["peaks_tv"]:.3f})',
       result['gaussian_cov']['peak_histogram'], 'C2'),
      (f'Gaussian, matched mean/std (TV {result["gaussian_diag"]["peaks_tv"]:.3f})',
       result['gaussian_diag']['peak_histogram'], 'grey'))):
    ax.bar(bins + (j - 1.5) * w, h, width=w, color=color, label=name)
  ax.set_xticks(bins, [str(b) for b in bins[:-1]] + [f'>={MAX_PEAKS}'])
  ax.set_xlabel('number of dominant spectral peaks (amplitude > 0.25)')
  ax.set_ylabel('fraction of signals')
  ax.set_title('spectral peaks per signal (real: K = 1, 2, 3 sines)', fontsize=10)
  ax.legend(fontsize=8)
  m, g, c = result['model'], result['gaussian_diag'], result['gaussian_cov']
  acc = f', {100 * m["label_accuracy"]:.0f}% of samples have the requested K peaks' if 'label_accuracy' in m else ''
  fig.suptitle(f'{result["config"]}{acc}\nKID on raw signals: DDPM {m["kid_raw"]:.1e}, real train signals '
               f'{result["floor"]["kid_raw"]:.1e}, Gaussian matched mean/std {g["kid_raw"]:.1e}, Gaussian full '
               f'covariance {c["kid_raw"]:.1e} (KID misses the line structure; the peak histogram does not)',
               fontsize=9)
  studies.save_figure(fig, path)


def main(argv):
  del argv
  result = run(FLAGS.config, FLAGS.workdir, FLAGS.num, FLAGS.seed, FLAGS.train)
  print(json.dumps(result, indent=2))
  print(markdown(result))
  print(f'Wrote {os.path.join(FLAGS.workdir, "signals1d.json")} and {os.path.join(FLAGS.workdir, "signals1d.png")}.')


if __name__ == '__main__':
  from absl import app, flags
  from ml_collections import config_flags
  config_flags.DEFINE_config_file('config', os.path.join(os.path.dirname(__file__), 'ddpm_signals1d.py'),
                                  'Experiment config[:variant] (a ddpm_signals1d variant).', lock_config=False)
  flags.DEFINE_string('workdir', 'runs/study_signals1d', 'A run of that config (trained here when it has no checkpoint).')
  flags.DEFINE_integer('num', 2000, 'Signals drawn (and held-out signals compared against).')
  flags.DEFINE_integer('seed', 0, 'Seed of the samples and the Gaussian baselines.')
  flags.DEFINE_bool('train', True, 'Train the run first when the workdir has no finished checkpoint.')
  FLAGS = flags.FLAGS
  app.run(main)
