"""Throughput, compile time, memory and model-FLOPs utilisation of train steps and samplers on this machine.

  ./launch.sh bench                                   # every family's default experiment
  ./launch.sh bench --configs=experiments/autoencoders/vae_mnist5k.py,experiments/autoencoders/vae_mnist5k.py:tiny
  ./launch.sh bench --configs=experiments/diffusion/ddpm_mnist5k.py:ddim --steps=10 --sample_batch=16
  ./launch.sh bench --dtype=bfloat16 --batch_size=256 --out=runs/bench.jsonl

First measures the machine's peak: the best FLOP/s of a chain of large square matmuls in the dtype
the models compute in (``--dtype``; float32 uses TF32 tensor cores on recent GPUs, JAX's default).
Then, for each experiment, compiles its train step exactly as training does (sharded over all
devices, state donated), times ``--steps`` steps on a fixed device-resident batch of the
experiment's shapes (so the input pipeline is not measured), and reports: compile time, steps/s,
examples/s, model FLOPs per example, MFU = model FLOPs x steps/s / peak, the memory XLA plans for
one step (arguments + temporaries + outputs not aliased to donated inputs) and, where the backend
reports it, the device's peak memory in use. Model FLOPs are counted by XLA's cost analysis of the
same function compiled for the CPU backend (XLA:GPU's analysis does not count cuDNN convolutions;
see ``model_flops``). With ``--sample_batch=N`` it also times one compiled ``family.sample`` call of
N samples (a sampler row: steps/s is calls/s, examples/s is samples/s); a sampler that loops
counts one network call's FLOPs times its calls (the family's ``sampler_cost`` hook), because XLA's
cost analysis counts a loop body once. Every measurement is also one JSON line (printed, and
appended to ``--out``) with the date, JAX version and device.
"""
import datetime
import json
import os

from absl import app, flags

from gen_jax.benchmarking import (benchmark_train_step, default_specs, device_peak_bytes, load_config,
                                  measure_peak_flops)

_CONFIGS = flags.DEFINE_list('configs', [], 'Experiment config files[:variants], comma-separated '
                             '(file.py:tiny,ddim,other.py); default: every family\'s DEFAULT_EXPERIMENT.')
_STEPS = flags.DEFINE_integer('steps', 50, 'Timed steps per experiment (after 3 warm-up steps).')
_BATCH = flags.DEFINE_integer('batch_size', 0, 'Override the global batch size (0: the config\'s).')
_DTYPE = flags.DEFINE_enum('dtype', '', ['', 'float32', 'bfloat16'], 'Compute dtype (config.model.dtype; '
                           'parameters stay float32); MFU is against the matmul peak of this dtype. '
                           'Default: the config\'s.')
_SAMPLE_BATCH = flags.DEFINE_integer('sample_batch', 0, 'Also time family.sample for this many samples per call '
                                     '(the sampler the config names, e.g. :ddim); 0 skips it.')
_OUT = flags.DEFINE_string('out', '', 'Append one JSON line per measurement to this file.')


def config_specs(items: list[str]) -> list[str]:
  """``--configs`` split at commas, with variant lists rejoined: ``['a.py:tiny', 'ddim', 'b.py']`` ->
  ``['a.py:tiny,ddim', 'b.py']`` (a piece without '.py' continues the previous spec's variants)."""
  out: list[str] = []
  for item in items:
    if out and '.py' not in item:
      out[-1] += ',' + item
    else:
      out.append(item)
  return out


def _mib(b) -> str:
  return f'{b / 2 ** 20:9.1f}' if b else f'{"n/a":>9s}'


def main(argv):
  del argv
  from gen_jax.core import xla_flags
  flags_note = xla_flags.note()  # before JAX starts its backend
  import jax
  from absl import logging
  logging.set_verbosity(logging.WARNING)  # library INFO lines (tfds, orbax) would break up the table
  backend = jax.default_backend()
  devices = jax.devices()
  specs = config_specs(_CONFIGS.value) or default_specs()
  env = {'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
         'jax': jax.__version__, 'backend': backend, 'device': devices[0].device_kind, 'num_devices': len(devices)}
  env['xla_flags'] = os.environ.get('XLA_FLAGS', '')
  print(f'JAX {jax.__version__} on {backend}: {len(devices)} x {devices[0].device_kind}')
  if flags_note:
    print(flags_note)
  peaks = {}

  def peak(dtype):
    if dtype not in peaks:
      peaks[dtype] = measure_peak_flops(dtype)
      print(f'measured peak ({dtype} matmul, all of this process\'s threads): {peaks[dtype] / 1e9:,.1f} GFLOP/s')
    return peaks[dtype]

  header = (f'{"experiment":46s} {"dtype":>8s} {"batch":>6s} {"compile s":>9s} {"steps/s":>8s} {"ex/s":>9s} '
            f'{"GFLOP/ex":>9s} {"GFLOP/s":>8s} {"MFU":>6s} {"plan MiB":>9s} {"peak MiB":>9s}')
  rows = []
  for spec in specs:
    config = load_config(spec)
    if _BATCH.value:
      config.batch_size = _BATCH.value
    if _DTYPE.value:
      config.model.dtype = _DTYPE.value
    dtype = config.model.get('dtype', 'float32')
    p = peak(dtype)
    if not rows:
      print(header)
      print('-' * len(header))
    r = benchmark_train_step(config, _STEPS.value, _SAMPLE_BATCH.value)
    achieved = r['flops_per_step'] * r['steps_per_s']
    print(f'{spec:46s} {dtype:>8s} {config.batch_size:6d} {r["compile_s"]:9.2f} {r["steps_per_s"]:8.2f} '
          f'{r["examples_per_s"]:9.1f} {r["flops_per_example"] / 1e9:9.4f} {achieved / 1e9:8.2f} '
          f'{100 * achieved / p:5.1f}% {_mib(r["step_memory_bytes"])} {_mib(r["device_peak_bytes"])}'
          + (f'   NFE {r["nfe"]:.0f} (FLOPs count one evaluation of the loop body)' if 'nfe' in r else ''))
    rows.append({**env, 'kind': 'train_step', 'experiment': spec, 'family': config.family, 'dtype': dtype,
                 'batch': config.batch_size, 'peak_flops': p, 'mfu': achieved / p,
                 **{k: v for k, v in r.items() if k != 'sample'}})
    if 'sample' in r:
      sr = r['sample']
      name = str(config.sample.get('sampler', '') or 'sample')
      steps = int(config.sample.get('steps', 0) or 0)
      label = f'  sample({_SAMPLE_BATCH.value}): {name}' + (f'-{steps}' if steps else '')
      if sr['flops_per_call']:
        achieved = sr['flops_per_call'] / sr['seconds_per_call']
        cols = (f'{sr["flops_per_call"] / _SAMPLE_BATCH.value / 1e9:9.4f} {achieved / 1e9:8.2f} '
                f'{100 * achieved / p:5.1f}%')
      else:
        achieved = None
        cols = f'{"n/a":>9s} {"n/a":>8s} {"n/a":>6s}'
      print(f'{label:46s} {dtype:>8s} {_SAMPLE_BATCH.value:6d} {sr["compile_s"]:9.2f} '
            f'{1 / sr["seconds_per_call"]:8.3f} {sr["samples_per_s"]:9.1f} {cols} {_mib(sr["step_memory_bytes"])} '
            f'{_mib(device_peak_bytes())}')
      rows.append({**env, 'kind': 'sample', 'experiment': spec, 'family': config.family, 'dtype': dtype,
                   'sampler': label.strip(), 'batch': _SAMPLE_BATCH.value, 'peak_flops': p,
                   'mfu': None if achieved is None else achieved / p, **sr})
  for row in rows:
    print('json ' + json.dumps(row))
  if _OUT.value:
    with open(_OUT.value, 'a', encoding='utf-8') as f:
      for row in rows:
        f.write(json.dumps(row) + '\n')


if __name__ == '__main__':
  app.run(main)
