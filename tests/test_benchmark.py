"""gen_jax.benchmarking (behind experiments/benchmark.py and scaling.py) measures what it says: no timing is
asserted, only that the figures exist and that FLOP counting follows the family hooks."""
import math

from gen_jax import benchmarking as bench
from tests import helpers


def test_train_step_and_sampler_figures():
  config = helpers.load_config('experiments/autoencoders/vae_mnist5k.py', 'tiny,mlp')
  r = bench.benchmark_train_step(config, steps=2, sample_batch=4)
  assert r['loss_finite'] and r['steps_per_s'] > 0 and r['compile_s'] > 0
  assert r['flops_per_step'] > 0 and math.isclose(r['flops_per_example'] * config.batch_size, r['flops_per_step'])
  assert r['step_memory_bytes'] > 0  # XLA:CPU reports its plan
  assert r['sample']['flops_per_call'] > 0 and r['sample']['samples_per_s'] > 0  # loop-free: the whole call
  assert 'nfe' not in r                                     # only continuous models report network evaluations


def test_continuous_flow_reports_its_nfe():
  config = helpers.load_config('experiments/flows/flows_toy2d.py', 'ffjord,tiny')
  r = bench.benchmark_train_step(config, steps=1)
  assert r['nfe'] >= 2 and r['nfe'] == int(r['nfe'])        # at least one solver step, whole evaluations


def test_looping_sampler_flops_are_one_call_times_the_calls():
  import jax
  from gen_jax.families import diffusion
  config = helpers.load_config('experiments/diffusion/ddpm_toy2d.py', 'tiny')
  state = diffusion.init(jax.random.key(0), config, None)
  fn, args, calls = diffusion.sampler_cost(state, 8, config)
  assert calls == config.diffusion.num_timesteps
  assert bench.sampler_flops(diffusion, config, state, 8) == bench.model_flops(fn, *args) * calls > 0
  assert bench.default_specs()[:2] == ['experiments/autoencoders/vae_mnist5k.py', 'experiments/diffusion/ddpm_mnist5k.py']
