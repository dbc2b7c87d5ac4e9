"""Measuring train steps and samplers: throughput, compile time, model FLOPs, memory (used by
``experiments/benchmark.py``, ``experiments/scaling.py`` and the tests).

Model FLOPs come from XLA's cost analysis of the function compiled for the CPU backend (see
``model_flops``); MFU divides achieved FLOP/s by ``measure_peak_flops`` of the same process.
"""
import time

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
  if 'nfe' in metrics:  # a continuous model's network evaluations per solve (FFJORD): its cost is NFE x the body
    result['nfe'] = float(metrics['nfe'])
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
