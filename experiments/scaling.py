"""How a train step's cost grows with the batch and the model width, and what 8 devices cost.

  ./launch.sh python experiments/scaling.py --config=experiments/diffusion/ddpm_mnist5k.py \
      --batch_sizes=8,16,32,64,128 --width_field=model.ch --widths=8,16,32,64 --workdir=runs/scaling_unet
  ./launch.sh python experiments/scaling.py --config=experiments/diffusion/ddpm_mnist5k.py --devices --workdir=...

For every batch size (at the config's width) and every width (at the config's batch), compiles the
train step as training does and times it (``experiments/benchmark.py``: steady-state step time,
examples/s, model FLOPs and MFU against this process's measured matmul peak). With ``--devices``
it also runs the same few steps on 1 device and on 8 fake CPU devices as ``data`` 8 and as
``data`` 2 x ``fsdp`` 4 (each in its own process: the device count is fixed at start-up), checks
that the losses agree, and reports the step-time overhead of the split. Writes ``scaling.json``
and ``scaling.png`` (step time against batch and against width, log-log) into ``--workdir``.
"""
import json
import os
import subprocess
import sys

from absl import app, flags

from gen_jax import benchmarking as bench
from gen_jax import studies

_CONFIG = flags.DEFINE_string('config', 'experiments/diffusion/ddpm_mnist5k.py', 'Experiment config[:variants].')
_BATCHES = flags.DEFINE_list('batch_sizes', ['8', '16', '32', '64'], 'Global batch sizes (at the config\'s width).')
_WIDTH_FIELD = flags.DEFINE_string('width_field', '', 'Config entry that sets the width (e.g. model.ch, '
                                   'model.width); empty: no width sweep.')
_WIDTHS = flags.DEFINE_list('widths', [], 'Values of --width_field (at the config\'s batch size).')
_STEPS = flags.DEFINE_integer('steps', 10, 'Timed steps per point (after 3 warm-up steps).')
_DEVICES = flags.DEFINE_bool('devices', False, 'Also compare 1 device with 8 fake CPU devices (data, fsdp).')
_WORKDIR = flags.DEFINE_string('workdir', 'runs/scaling', 'Where scaling.json and scaling.png go.')
_DEVICE_WORKER = flags.DEFINE_string('device_worker', '', 'internal: run one device-count measurement')


def _set(config, dotted: str, value):
  node = config
  *parents, last = dotted.split('.')
  for p in parents:
    node = node[p]
  node[last] = type(node[last])(value) if node[last] is not None else value


def measure(spec: str, steps: int, **overrides) -> dict:
  config = bench.load_config(spec)
  for k, v in overrides.items():
    _set(config, k, v)
  r = bench.benchmark_train_step(config, steps)
  return {'batch': config.batch_size, **{k: v for k, v in overrides.items()},
          'step_s': 1.0 / r['steps_per_s'], 'examples_per_s': r['examples_per_s'],
          'gflop_per_step': r['flops_per_step'] / 1e9, 'compile_s': r['compile_s']}


def device_run(spec: str, mesh: str, steps: int) -> dict:
  """Runs in a subprocess with the device count of ``mesh`` ('1', 'data8', 'data2_fsdp4')."""
  import time
  import jax
  import numpy as np
  from gen_jax import train
  config = bench.load_config(spec)
  config.mesh.data, config.mesh.fsdp = {'1': (1, 1), 'data8': (8, 1), 'data2_fsdp4': (2, 4)}[mesh]
  if config.get('eval_batch_size') and config.eval_batch_size % 8:  # only train steps run: any multiple of 8
    config.eval_batch_size = config.batch_size
  family, info, mesh_obj = train.validate(config)
  batch = bench.synthetic_batch(info, config, mesh_obj)
  state, shardings = train.init_state(family, config, mesh_obj, jax.random.key(0), batch)
  step = train.jit_train_step(family, config, mesh_obj, shardings, batch).lower(state, batch,
                                                                               jax.random.key(1)).compile()
  losses = []
  for _ in range(3):
    state, m = step(state, batch, jax.random.key(1))
    losses.append(float(m['loss']))
  t = time.perf_counter()
  for _ in range(steps):
    state, m = step(state, batch, jax.random.key(1))
  jax.block_until_ready(m)
  return {'mesh': mesh, 'devices': int(np.prod(list(mesh_obj.shape.values()))), 'losses': losses,
          'step_s': (time.perf_counter() - t) / steps}


def plot(result: dict, path: str) -> None:
  plt = studies.pyplot()
  n = 1 + bool(result['width'])
  fig, axes = plt.subplots(1, n, figsize=(5 * n, 3.8), squeeze=False)
  b = result['batch']
  axes[0, 0].loglog([r['batch'] for r in b], [r['step_s'] * 1e3 for r in b], 'o-', label='step time')
  axes[0, 0].loglog([r['batch'] for r in b], [b[0]['step_s'] * 1e3 * r['batch'] / b[0]['batch'] for r in b], ':',
                    color='grey', label='linear in batch')
  axes[0, 0].set(xlabel='global batch', ylabel='ms per step', title=f'{result["config"]}: batch')
  axes[0, 0].legend()
  if result['width']:
    w, field = result['width'], result['width_field']
    axes[0, 1].loglog([r[field] for r in w], [r['step_s'] * 1e3 for r in w], 's-', color='C1', label='step time')
    axes[0, 1].loglog([r[field] for r in w], [w[0]['step_s'] * 1e3 * (r[field] / w[0][field]) ** 2 for r in w],
                      ':', color='grey', label='quadratic in width')
    axes[0, 1].set(xlabel=field, ylabel='ms per step', title='width')
    axes[0, 1].legend()
  import matplotlib.ticker  # pylint: disable=g-import-not-at-top
  xs = [[r['batch'] for r in b]] + ([[r[result['width_field']] for r in result['width']]] if result['width'] else [])
  for ax, ticks in zip(axes[0], xs):
    ax.set_xticks(ticks)                       # the measured points, labelled (log axes hide most decades' ticks)
    for axis in (ax.xaxis, ax.yaxis):
      axis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
      axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
  studies.save_figure(fig, path)


def main(argv):
  del argv
  if _DEVICE_WORKER.value:
    print('RESULT ' + json.dumps(device_run(_CONFIG.value, _DEVICE_WORKER.value, _STEPS.value)))
    return
  result = {'config': _CONFIG.value, 'width_field': _WIDTH_FIELD.value, 'batch': [], 'width': [], 'devices': []}
  for b in _BATCHES.value:
    result['batch'].append(measure(_CONFIG.value, _STEPS.value, batch_size=int(b)))
    print(result['batch'][-1], flush=True)
  for w in _WIDTHS.value:
    result['width'].append(measure(_CONFIG.value, _STEPS.value, **{_WIDTH_FIELD.value: int(w)}))
    print(result['width'][-1], flush=True)
  if _DEVICES.value:
    for mesh, n in (('1', 1), ('data8', 8), ('data2_fsdp4', 8)):
      kept = ' '.join(f for f in os.environ.get('XLA_FLAGS', '').split()   # the launcher's defaults stay
                      if not f.startswith('--xla_force_host_platform_device_count'))
      env = dict(os.environ, XLA_FLAGS=f'{kept} --xla_force_host_platform_device_count={n}'.strip(),
                 JAX_PLATFORMS='cpu')
      out = subprocess.run([sys.executable, os.path.abspath(__file__), f'--config={_CONFIG.value}',
                            f'--device_worker={mesh}', f'--steps={_STEPS.value}'], env=env, capture_output=True,
                           text=True)
      if out.returncode:
        raise SystemExit(f'the {mesh} measurement failed:\n{out.stderr[-3000:]}')
      result['devices'].append(json.loads(out.stdout.split('RESULT ', 1)[1]))
      print(result['devices'][-1], flush=True)
    ref = result['devices'][0]
    for r in result['devices']:
      r['max_rel_loss_diff'] = max(abs(a - b) / abs(b) for a, b in zip(r['losses'], ref['losses']))
      r['overhead'] = r['step_s'] / ref['step_s']
  studies.save_json(os.path.join(_WORKDIR.value, 'scaling.json'), result)
  plot(result, os.path.join(_WORKDIR.value, 'scaling.png'))
  print(f'Wrote {_WORKDIR.value}/scaling.json and scaling.png.')


if __name__ == '__main__':
  app.run(main)
