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
import time

from absl import app, flags

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


def measure_peak_flops(dtype_name: str = 'float32', n: int | None = None, reps: int = 10) -> float:
  """Best achieved FLOP/s of an ``n x n`` matmul chain (2 n^3 FLOPs per matmul)."""
  import jax
  import jax.numpy as jnp
  dtype = jnp.dtype(dtype_name)
  n = n or (2048 if jax.default_backend() == 'cpu' else 8192)
  a = jax.random.normal(jax.random.key(0), (n, n), dtype)
  b = jax.random.normal(jax.random.key(1), (n, n), dtype)

  @jax.jit
  def chain(a, b):
    def body(_, x):
      return (x @ b) * jnp.asarray(1e-3, dtype)
    return jax.lax.fori_loop(0, reps, body, a)

  chain(a, b).block_until_ready()
  best = float('inf')
  for _ in range(3):
    t = time.perf_counter()
    chain(a, b).block_until_ready()
    best = min(best, time.perf_counter() - t)
  return 2.0 * n ** 3 * reps / best


def step_flops(compiled) -> float:
  """FLOPs of one compiled step from XLA's cost analysis (0 if unavailable)."""
  try:
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):
      cost = cost[0]
    return float(cost.get('flops', 0.0))
  except Exception:  # noqa: BLE001
    return 0.0


def model_flops(fn, *args, compiled=None) -> float:
  """FLOPs of ``fn(*args)`` from XLA:CPU's cost analysis of the same function on the same shapes.

  XLA:GPU lowers convolutions to cuDNN custom calls that its cost analysis does not count: on an
  H100 the mnist5k UNet forward at batch 64 read 1.26 GFLOP where XLA:CPU, which keeps every
  convolution in HLO, counts 33.3 (about 0.5 GFLOP per 28x28 image, as the layer shapes give).
  So model FLOPs are counted for the CPU backend whatever the accelerator (a compile without a run);
  on a CPU an already ``compiled`` version of ``fn`` is used as it is.
  """
  import jax
  if jax.default_backend() == 'cpu':
    return step_flops(compiled if compiled is not None else jax.jit(fn).lower(*args).compile())
  cpu = jax.sharding.SingleDeviceSharding(jax.devices('cpu')[0])
  structs = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=cpu), args)
  return step_flops(jax.jit(fn).lower(*structs).compile())


def planned_bytes(compiled) -> int | None:
  """Memory XLA plans for one call per device: arguments + temporaries + outputs not aliased to inputs."""
  try:
    m = compiled.memory_analysis()
    if isinstance(m, (list, tuple)):
      m = m[0]
    return int(m.argument_size_in_bytes + m.temp_size_in_bytes
               + max(m.output_size_in_bytes - getattr(m, 'alias_size_in_bytes', 0), 0))
  except Exception:  # noqa: BLE001 - not every backend reports it
    return None


def device_peak_bytes() -> int | None:
  """Peak bytes in use on the first device since start-up, where the backend reports it (GPU, TPU)."""
  import jax
  try:
    stats = jax.devices()[0].memory_stats() or {}
  except Exception:  # noqa: BLE001
    return None
  return stats.get('peak_bytes_in_use')


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


def default_specs() -> list[str]:
  """Every registered family's ``DEFAULT_EXPERIMENT`` (its headline experiment)."""
  from gen_jax import families
  return [families.get_family(name).DEFAULT_EXPERIMENT for name in families.FAMILIES
          if hasattr(families.get_family(name), 'DEFAULT_EXPERIMENT')]


def load_config(spec: str):
  from gen_jax.core.config import load_experiment
  path, _, arg = spec.partition(':')
  return load_experiment(path, arg or None)


def synthetic_batch(info, config, mesh):
  """A global batch of the experiment's shapes and dtypes (values in the data's range)."""
  import jax
  import numpy as np
  from gen_jax.core import sharding as shard_lib
  local = config.batch_size // jax.process_count()
  rng = np.random.default_rng(0)
  batch = {}
  for k, (shape, dtype) in info.element_spec.items():
    if np.issubdtype(dtype, np.floating):
      batch[k] = rng.uniform(size=(local,) + tuple(shape)).astype(dtype)
    else:
      high = max(int(getattr(info, 'vocab_size', 0) or 0), info.num_classes or 0, 2)
      batch[k] = rng.integers(0, high, size=(local,) + tuple(shape)).astype(dtype)
  return shard_lib.global_batch(batch, mesh)


def benchmark_train_step(config, steps: int, sample_batch: int = 0) -> dict:
  """Compile time, steps/s, examples/s, FLOPs and memory of one experiment's train step (and sampler)."""
  import jax
  import jax.numpy as jnp
  from gen_jax import train

  family, info, mesh = train.validate(config)
  batch = synthetic_batch(info, config, mesh)
  state, shardings = train.init_state(family, config, mesh, jax.random.key(0), batch)
  step = train.jit_train_step(family, config, mesh, shardings, batch)
  key = jax.random.key(1)
  t = time.perf_counter()
  compiled = step.lower(state, batch, key).compile()
  compile_s = time.perf_counter() - t
  for _ in range(3):
    state, metrics = compiled(state, batch, key)
  jax.block_until_ready(metrics)
  t = time.perf_counter()
  for _ in range(steps):
    state, metrics = compiled(state, batch, key)
  jax.block_until_ready((state, metrics))
  elapsed = time.perf_counter() - t
  flops = model_flops(family.make_train_step(config), state, batch, key, compiled=compiled)
  result = {'compile_s': compile_s, 'steps_per_s': steps / elapsed,
            'examples_per_s': steps * config.batch_size / elapsed, 'flops_per_step': flops,
            'flops_per_example': flops / config.batch_size, 'step_memory_bytes': planned_bytes(compiled),
            'device_peak_bytes': device_peak_bytes(), 'loss_finite': bool(jnp.isfinite(metrics['loss']))}
  if sample_batch:
    result['sample'] = benchmark_sampler(family, config, state, sample_batch)
  return result


def sampler_flops(family, config, state, num: int) -> float | None:
  """Model FLOPs of one ``family.sample(state, rng, num, config)`` call.

  XLA's cost analysis counts the body of a ``lax.scan`` / while loop once, not once per iteration: a
  family whose sampler loops exports the contract hook ``sampler_cost(state, num, config) -> (fn,
  args, calls)`` (one call of the loop body, and how many there are; None when the count is not
  known in advance, as for an adaptive ODE solver), and the FLOPs are ``cost(fn(*args)) x calls``.
  Without the hook, the whole call is counted as it is (a loop-free sampler, e.g. a decoder pass).
  """
  import jax
  if hasattr(family, 'sampler_cost'):
    cost = family.sampler_cost(state, num, config)
    if cost is None:
      return None
    fn, args, calls = cost
    return model_flops(fn, *args) * calls
  return model_flops(lambda s, r: family.sample(s, r, num, config), state, jax.random.key(0))


def benchmark_sampler(family, config, state, num: int, reps: int = 3) -> dict:
  """Compile time, samples/s, model FLOPs (``sampler_flops``) and planned memory of one
  ``family.sample(state, rng, num, config)`` call."""
  import jax
  sample = jax.jit(lambda s, r: family.sample(s, r, num, config))
  key = jax.random.key(2)
  t = time.perf_counter()
  compiled = sample.lower(state, key).compile()
  compile_s = time.perf_counter() - t
  jax.block_until_ready(compiled(state, key))
  t = time.perf_counter()
  for i in range(reps):
    out = compiled(state, jax.random.fold_in(key, i))
  jax.block_until_ready(out)
  elapsed = (time.perf_counter() - t) / reps
  return {'compile_s': compile_s, 'seconds_per_call': elapsed, 'samples_per_s': num / elapsed,
          'flops_per_call': sampler_flops(family, config, state, num), 'step_memory_bytes': planned_bytes(compiled)}


def _mib(b) -> str:
  return f'{b / 2 ** 20:9.1f}' if b else f'{"n/a":>9s}'


def main(argv):
  del argv
  import jax
  from absl import logging
  logging.set_verbosity(logging.WARNING)  # library INFO lines (tfds, orbax) would break up the table
  backend = jax.default_backend()
  devices = jax.devices()
  specs = config_specs(_CONFIGS.value) or default_specs()
  env = {'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
         'jax': jax.__version__, 'backend': backend, 'device': devices[0].device_kind, 'num_devices': len(devices)}
  print(f'JAX {jax.__version__} on {backend}: {len(devices)} x {devices[0].device_kind}')
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
          f'{100 * achieved / p:5.1f}% {_mib(r["step_memory_bytes"])} {_mib(r["device_peak_bytes"])}')
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
