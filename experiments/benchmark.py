"""Throughput, compile time and model-FLOPs utilisation of train steps on this machine.

  ./launch.sh bench                                   # the default experiment
  ./launch.sh bench --configs=experiments/autoencoders/vae_mnist5k.py,experiments/autoencoders/vae_mnist5k.py:tiny
  ./launch.sh bench --configs=experiments/diffusion/ddpm_mnist5k.py:ddim --steps=10 --sample_batch=16

First measures the machine's peak: the best FLOP/s of large square matmuls (float32, and
bfloat16 on accelerators) in this process. Then, for each experiment, compiles its train
step exactly as training does (sharded over all devices, state donated), times
``--steps`` steps on a fixed device-resident batch of the experiment's shapes (so the
input pipeline is not measured), and reports examples/s and MFU = (FLOPs of one step,
from XLA's cost analysis of the step compiled for the CPU backend: XLA:GPU's analysis does not
count cuDNN convolutions, see ``model_flops``) x steps/s / peak. With ``--sample_batch=N``
it also times one compiled ``family.sample`` call of N samples (for a sampler row, the
steps/s column is calls/s, examples/s is samples/s and GFLOP/step is per call). XLA's cost
analysis counts a loop body once, not once per iteration, so a diffusion sampler's FLOPs are
the cost of one denoiser call on the batch times the loop's denoiser calls (the ODE sampler,
whose step count is adaptive, reports none).
"""
import time

from absl import app, flags

_CONFIGS = flags.DEFINE_list('configs', ['experiments/autoencoders/vae_mnist5k.py'],
                             'Experiment config files[:variants], comma-separated (file.py:tiny,ddim,other.py).')
_STEPS = flags.DEFINE_integer('steps', 50, 'Timed steps per experiment (after 3 warm-up steps).')
_BATCH = flags.DEFINE_integer('batch_size', 0, 'Override the global batch size (0: the config\'s).')
_SAMPLE_BATCH = flags.DEFINE_integer('sample_batch', 0, 'Also time family.sample for this many samples per call '
                                     '(the sampler the config names, e.g. :ddim); 0 skips it.')


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


def load_config(spec: str):
  from gen_jax.core.config import load_experiment
  path, _, arg = spec.partition(':')
  return load_experiment(path, arg or None)


def benchmark_train_step(config, steps: int) -> dict:
  """Compile time, steps/s, examples/s and FLOPs/step of one experiment's train step."""
  import jax
  import jax.numpy as jnp
  import numpy as np
  from gen_jax import train
  from gen_jax.core import sharding as shard_lib

  family, info, mesh = train.validate(config)
  local = config.batch_size // jax.process_count()
  rng = np.random.default_rng(0)
  batch_np = {}
  for k, (shape, dtype) in info.element_spec.items():
    if np.issubdtype(dtype, np.floating):
      batch_np[k] = rng.uniform(size=(local,) + tuple(shape)).astype(dtype)
    else:
      batch_np[k] = rng.integers(0, max(info.num_classes or 2, 2), size=(local,) + tuple(shape)).astype(dtype)
  batch = shard_lib.global_batch(batch_np, mesh)
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
            'loss_finite': bool(jnp.isfinite(metrics['loss']))}
  if _SAMPLE_BATCH.value:
    result['sample'] = benchmark_sampler(family, config, state, _SAMPLE_BATCH.value)
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
  """Compile time, samples/s and model FLOPs (``sampler_flops``) of one
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
          'flops_per_call': sampler_flops(family, config, state, num)}


def main(argv):
  del argv
  import jax
  backend = jax.default_backend()
  devices = jax.devices()
  print(f'JAX {jax.__version__} on {backend}: {len(devices)} x {devices[0].device_kind}')
  peak = measure_peak_flops('float32')
  line = f'measured peak (float32 matmul, all of this process\'s threads): {peak / 1e9:,.1f} GFLOP/s'
  if backend != 'cpu':
    peak_bf16 = measure_peak_flops('bfloat16')
    line += f'; bfloat16: {peak_bf16 / 1e12:,.1f} TFLOP/s'
  print(line)
  header = f'{"experiment":52s} {"batch":>6s} {"compile s":>10s} {"steps/s":>9s} {"examples/s":>11s} ' \
           f'{"GFLOP/step":>11s} {"GFLOP/s":>9s} {"MFU":>7s}'
  print(header)
  print('-' * len(header))
  for spec in config_specs(_CONFIGS.value):
    config = load_config(spec)
    if _BATCH.value:
      config.batch_size = _BATCH.value
    r = benchmark_train_step(config, _STEPS.value)
    achieved = r['flops_per_step'] * r['steps_per_s']
    peak_used = peak
    if backend != 'cpu' and config.model.get('dtype', 'float32') == 'bfloat16':
      peak_used = peak_bf16
    print(f'{spec:52s} {config.batch_size:6d} {r["compile_s"]:10.2f} {r["steps_per_s"]:9.2f} '
          f'{r["examples_per_s"]:11.1f} {r["flops_per_step"] / 1e9:11.3f} {achieved / 1e9:9.2f} '
          f'{100 * achieved / peak_used:6.1f}%')
    if 'sample' in r:
      # XLA's cost analysis counts the body of a lax.scan/while loop once, not once per iteration,
      # so a sampler's FLOPs are one denoiser call's cost x its calls (sampler_flops).
      sr = r['sample']
      name = str(config.sample.get('sampler', '') or 'decode prior draws')
      steps = int(config.sample.get('steps', 0) or 0)
      label = f'  sample({_SAMPLE_BATCH.value}): {name}' + (f'-{steps}' if steps else '')
      flops_cols = f'{"n/a":>11s} {"n/a":>9s} {"n/a":>7s}'
      if sr['flops_per_call']:
        achieved = sr['flops_per_call'] / sr['seconds_per_call']
        flops_cols = (f'{sr["flops_per_call"] / 1e9:11.1f} {achieved / 1e9:9.2f} '
                      f'{100 * achieved / peak_used:6.1f}%')
      print(f'{label:52s} {_SAMPLE_BATCH.value:6d} {sr["compile_s"]:10.2f} {1 / sr["seconds_per_call"]:9.3f} '
            f'{sr["samples_per_s"]:11.1f} {flops_cols}')


if __name__ == '__main__':
  app.run(main)
