"""Glow's architecture at an equal step budget on mnist5k: depth, width and number of levels against test
bits/dim (the curves), and the choices around the coupling: the scale function (which trains without NaN),
plain vs LU 1x1 convolutions, additive vs affine couplings, the logit pre-transform vs Glow's shift by -1/2.

  ./launch.sh python experiments/flows/study_glow.py --workdir=runs/flows_glow --models_dir=runs/flow_models \
      --steps=300 [--choices=scale_fn] [--stress_lr=0.005,0.02] [--tiny]

Every run is ``flows_mnist5k.py:glow`` (K = 4 steps per level, L = 2 levels, width 48, tanh scales, LU
convolutions, logit pre-transform) with one field changed, trained for ``--steps`` steps (the cosine
schedule compressed to them), then evaluated on the 1,000 test digits (bits/dim, mean +- standard error).
``--choices`` picks which coupling choices to compare (default all: scale_fn, permutation, coupling,
preprocess). The scale functions are also trained at each learning rate of ``--stress_lr`` without gradient
clipping or warm-up: a run whose loss becomes NaN/inf is reported with the step and the layer the loop's
message names. Writes ``glow.json`` and ``glow.png``.
"""
import os

import jax
import numpy as np
from absl import app, flags

from gen_jax import studies
from gen_jax.core.errors import NonFiniteLossError

CONFIG = 'experiments/flows/flows_mnist5k.py'
SWEEPS = {'depth': [2, 4, 8], 'hidden': [16, 48, 96], 'num_levels': [1, 2]}
CHOICES = {'scale_fn': ['tanh', 'sigmoid', 'exp'], 'permutation': ['lu', 'conv'], 'coupling': ['affine', 'additive'],
           'preprocess': ['logit', 'shift']}
BASE = {'depth': 4, 'hidden': 48, 'num_levels': 2, 'scale_fn': 'tanh', 'permutation': 'lu', 'coupling': 'affine',
        'preprocess': 'logit'}


def _train(models_dir, tiny, steps, overrides, optim=None):
  """One glow run (``overrides`` of config.model, ``optim`` of config.optim): its row, or the error."""
  row = {'model': overrides, 'optim': optim or {}}
  try:
    if optim:  # a stress run: the optim fields are part of the run's name (its config hash)
      config = studies.load_spec(f'{CONFIG}:glow{",tiny" if tiny else ""}')
      config.model.update(overrides)
      config.optim.update(optim)
      config = studies.study_config(config, tiny, steps)
      workdir = studies.model_dir(models_dir, 'glow', config)
      state, info = studies.train_model(config, workdir)
      info = {**info, 'workdir': workdir, 'steps': config.num_train_steps}
    else:
      config, state, info = studies.study_model(CONFIG, 'glow', models_dir, tiny, steps, **overrides)
  except NonFiniteLossError as e:
    msg = str(e)
    return {**row, 'nonfinite': msg, 'nonfinite_step': int(msg.split('at step ')[1].split(';')[0])}
  ev = studies.evaluate_model(config, info['workdir'], state)
  return {**row, 'steps': info['steps'], 'train_wall_s': info['train_wall_s'],
          'params': int(sum(np.prod(p.shape) for p in jax.tree.leaves(state.params))), 'test': studies.flat(ev, 4)}


def run(workdir: str, tiny: bool = False, steps: int = 0, stress_lr: float | tuple[float, ...] = 5e-3,
        models_dir: str = '', choices: tuple[str, ...] = tuple(CHOICES)) -> dict:
  unknown = sorted(set(choices) - set(CHOICES))
  if unknown:
    raise ValueError(f'--choices: unknown {unknown}; allowed: {", ".join(CHOICES)}')
  models_dir = models_dir or os.path.join(workdir, 'models')
  # tiny: the same code on as few distinct models as it can (the base is the tiny default, shared with
  # study_mnist5k through --models_dir)
  sweeps = {'depth': [2]} if tiny else SWEEPS
  choices = {} if tiny else {k: v for k, v in CHOICES.items() if k in choices}
  base = {} if tiny else BASE
  stress_lrs = [float(lr) for lr in (stress_lr if isinstance(stress_lr, (tuple, list)) else [stress_lr])]
  results = {'device': studies.device_kind(), 'steps': steps, 'stress_lr': stress_lrs, 'base': base, 'sweeps': {},
             'choices': {}, 'stress': {}}
  for field, values in sweeps.items():
    results['sweeps'][field] = {str(v): _train(models_dir, tiny, steps, {**base, field: v}) for v in values}
  for field, values in choices.items():
    results['choices'][field] = {str(v): _train(models_dir, tiny, steps, {**base, field: v}) for v in values}
  for lr in stress_lrs:  # results['stress']['lr=0.005'] = {scale_fn: row}
    stress = {'lr': lr, 'grad_clip': 0.0, 'warmup_steps': 0}
    results['stress'][f'lr={lr:g}'] = {v: _train(models_dir, tiny, steps, {**base, 'scale_fn': v}, stress)
                                       for v in (['exp'] if tiny else CHOICES['scale_fn'])}
  studies.save_json(os.path.join(workdir, 'glow.json'), results)
  _plot(results, os.path.join(workdir, 'glow.png'))
  return results


def _bpd(row):
  t = row.get('test')
  return (t['bits_per_dim'], t['bits_per_dim_stderr']) if t else (float('nan'), 0.0)


def _plot(results, path):
  plt = studies.pyplot()
  sweeps = results['sweeps']
  fig, axes = plt.subplots(1, len(sweeps) + 1, figsize=(4.2 * (len(sweeps) + 1), 3.5))
  for ax, (field, rows) in zip(axes, sweeps.items()):
    xs = [int(k) for k in rows]
    ys, es = zip(*[_bpd(r) for r in rows.values()])
    ax.errorbar(xs, ys, yerr=es, marker='o', capsize=3)
    for x, r in zip(xs, rows.values()):
      if 'params' in r:
        ax.annotate(f'{r["params"] / 1e3:.0f}k', (x, _bpd(r)[0]), fontsize=7, xytext=(3, 3), textcoords='offset points')
    ax.set(xlabel={'depth': 'steps per level K', 'hidden': 'coupling width', 'num_levels': 'levels L'}[field],
           ylabel='test bits/dim', title=f'Glow: {field} (others at the base)')
    if field != 'num_levels':
      ax.set_xscale('log', base=2)
    ax.set_xticks(xs, [str(x) for x in xs])
  ax = axes[-1]
  labels, ys, es, colors = [], [], [], []
  groups = [(f'{field}=', rows) for field, rows in results['choices'].items()]
  groups += [(f'no clip, {lr}: scale_fn=', rows) for lr, rows in results['stress'].items()]
  for prefix, rows in groups:
    for k, r in rows.items():
      labels.append(f'{prefix}{k}')
      y, e = _bpd(r)
      ys.append(y)
      es.append(e)
      colors.append('C3' if 'nonfinite' in r else 'C0')
  # bits/dim above 8 are worse than a uniform 8-bit model: such a mean (a few test digits whose NLL
  # exploded) is written on its bar, and the axis keeps the scale of the others
  shown = [y for y in ys if y == y and y <= 8.0]
  lo, hi = (min(shown) - 0.3, max(shown) + 0.3) if shown else (0.0, 8.0)
  ax.barh(range(len(labels)), [0 if y != y else min(y, hi) for y in ys],
          xerr=[e if y == y and y <= hi else 0 for y, e in zip(ys, es)], color=colors)
  for i, (y, e) in enumerate(zip(ys, es)):
    if y != y:
      ax.text(0.02, i, 'NaN/inf: stopped', va='center', fontsize=7, color='C3', transform=ax.get_yaxis_transform())
    elif y > hi:
      ax.text(0.02, i, f'mean {y:.3g} ± {e:.2g} (off the axis)', va='center', fontsize=7, color='w',
              transform=ax.get_yaxis_transform())
  ax.set_yticks(range(len(labels)), labels, fontsize=7)
  ax.set_xlim(lo, hi)
  ax.set(xlabel='test bits/dim', title='coupling choices')
  studies.save_figure(fig, path)


def main(argv):
  del argv
  out = run(FLAGS.workdir, FLAGS.tiny, FLAGS.steps, tuple(float(lr) for lr in FLAGS.stress_lr), FLAGS.models_dir,
            tuple(FLAGS.choices))
  for group in ('sweeps', 'choices'):
    for field, rows in out[group].items():
      for k, r in rows.items():
        y, e = _bpd(r)
        print(f'{field}={k:8s} bits/dim {y:.4f} ± {e:.4f}  params {r.get("params", 0):,}  '
              f'{r.get("train_wall_s", 0):.0f}s')
  for lr, rows in out['stress'].items():
    for k, r in rows.items():
      print(f'no clipping, {lr}: scale_fn={k:8s} ' + (r['nonfinite'] if 'nonfinite' in r else
                                                      f'bits/dim {_bpd(r)[0]:.4f}'))
  print(f'Wrote {os.path.join(FLAGS.workdir, "glow.json")} and glow.png.')


if __name__ == '__main__':
  FLAGS = flags.FLAGS
  studies.define_flags('runs/flows_glow')
  flags.DEFINE_list('choices', list(CHOICES), 'the coupling choices to compare: ' + ', '.join(CHOICES))
  flags.DEFINE_list('stress_lr', ['5e-3'], 'learning rates of the scale-function stress runs (no gradient clipping)')
  app.run(main)
