"""JAX side of the duel: builds a gen_jax train step through the project's own API and times it on request.

Protocol (stdin/stdout, one JSON line each):  ready-line at start; then for each input line
  'run N'          -> N steps, each timed alone (dispatch + block_until_ready on state and metrics)
  'pipe N'         -> N steps dispatched back to back, one block at the end (as the training loop runs)
  'quit'
Usage: python jax_worker.py MODEL   (MODEL: vae | vae_bare | mlp | mlp_bare | unet | unet_projopt | gpt | dcgan | glow)
The XLA:CPU defaults that launch.sh sets (gen_jax.core.xla_flags) are applied here too, so the worker times
what a user's run computes; GEN_JAX_XLA_DEFAULTS=0 or an explicit flag in XLA_FLAGS overrides them.
PERFDUEL_GPT_VARIANTS (default 'peer'): the variants of experiments/transformers/gpt_pydocs.py for `gpt`.
Ablations: PERFDUEL_DROPOUT=jax_random (masks drawn by jax.random.bernoulli instead of gen_jax.nn.dropout's
fused copy of it), PERFDUEL_CONVT=flax (DCGAN's transposed convolutions by flax.linen.ConvTranspose instead of
gen_jax.nn.conv_transpose's sub-pixel form), PERFDUEL_GN=affine | custom_vjp (GroupNorm replaced).
"""
import json
import os
import statistics
import sys
import time

T_IMPORT = time.perf_counter()
ROOT = os.environ.get('PROJECT_ROOT', os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, ROOT)
from gen_jax.core import xla_flags  # noqa: E402  (imports no JAX)

XLA_NOTE = xla_flags.note()
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from gen_jax import families, train  # noqa: E402
from gen_jax.core import sharding as shard_lib  # noqa: E402
from gen_jax.core.config import load_experiment  # noqa: E402

if os.environ.get('PERFDUEL_DROPOUT') == 'jax_random':  # ablation: dropout masks from jax.random.bernoulli itself
  from gen_jax.nn import dropout as _dropout_lib  # (the same masks; JAX's rolled-loop Threefry on CPU)
  _dropout_lib.bernoulli = jax.random.bernoulli

if os.environ.get('PERFDUEL_CONVT') == 'flax':  # ablation: DCGAN's upsampling by flax's own ConvTranspose
  import flax.linen as _nn  # (the same numbers; gen_jax.nn.conv_transpose computes it as a sub-pixel conv)

  from gen_jax.families.gans import models as _gan_models
  _gan_models.ConvTranspose = _nn.ConvTranspose

if os.environ.get('PERFDUEL_GN') == 'custom_vjp':  # the custom-VJP GroupNorm of commit a9b90f3 (since removed)
  import flax.linen as _nn
  from gen_jax.nn.group_norm import GroupNorm as _CustomVjpGroupNorm  # restore the file from that commit first
  _nn.GroupNorm = _CustomVjpGroupNorm
elif os.environ.get('PERFDUEL_GN') == 'affine':  # ablation only: GroupNorm -> per-channel affine (same params)
  import flax.linen as _nn

  class _AffineNorm(_nn.Module):
    num_groups: int = 32
    dtype: object = None

    @_nn.compact
    def __call__(self, x):
      c = x.shape[-1]
      return x * self.param('scale', _nn.initializers.ones, (c,)) + self.param('bias', _nn.initializers.zeros, (c,))
  _nn.GroupNorm = _AffineNorm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import duel_data  # noqa: E402


def emit(obj):
  sys.stdout.write(json.dumps(obj) + '\n')
  sys.stdout.flush()


def bare_adam(c, lr):
  """Plain Adam as the torch peers use it: constant lr, no clipping, no EMA."""
  c.optim.name = 'adam'
  c.optim.lr = lr
  c.optim.schedule = 'constant'
  c.optim.warmup_steps = 0
  c.optim.grad_clip = 0.0
  c.optim.ema_decay = 0.0


def make_config(model: str):
  if model in ('vae', 'vae_bare'):
    c = load_experiment(f'{ROOT}/experiments/autoencoders/vae_mnist5k.py')
    if model == 'vae_bare':
      bare_adam(c, 1e-3)
    return c
  if model in ('mlp', 'mlp_bare'):
    c = load_experiment(f'{ROOT}/experiments/autoencoders/vae_mnist5k.py', 'mlp')
    if model == 'mlp_bare':
      bare_adam(c, 1e-3)
    return c
  if model in ('unet', 'unet_projopt'):
    c = load_experiment(f'{ROOT}/experiments/diffusion/ddpm_mnist5k.py')  # linear betas 1e-4..0.02, eps, T=1000
    c.batch_size = duel_data.UNET_B
    c.model.data_shape = (32, 32, 1)
    c.model.ch = 32
    c.model.ch_mult = (1, 2, 2)
    c.model.num_res_blocks = 1
    c.model.attn_resolutions = ()      # attention only in the middle block (8x8), as the diffusers peer
    c.model.dropout = 0.0              # diffusers default
    c.model.num_groups = 32            # diffusers norm_num_groups
    c.model.num_heads = 8              # diffusers attention_head_dim=8 on 64 channels -> 8 heads
    if model == 'unet':
      bare_adam(c, 1e-4)
    return c
  if model == 'gpt':
    c = load_experiment(f'{ROOT}/experiments/transformers/gpt_pydocs.py',
                        os.environ.get('PERFDUEL_GPT_VARIANTS', 'peer'))
    c.batch_size = duel_data.GPT_B
    return c
  if model == 'dcgan':  # experiments/gans/dcgan.py: one D and one G update per step, batch 64, G EMA
    c = load_experiment(f'{ROOT}/experiments/gans/dcgan.py', os.environ.get('PERFDUEL_GAN_VARIANTS'))
    c.batch_size = duel_data.GAN_B
    return c
  if model == 'glow':  # experiments/flows/flows_mnist5k.py (default glow), batch 64
    c = load_experiment(f'{ROOT}/experiments/flows/flows_mnist5k.py')
    c.batch_size = duel_data.FLOW_B
    return c
  raise SystemExit(f'unknown model {model}')


def build(model: str):
  c = make_config(model)
  if model.startswith('unet'):
    # 32x32 images are not a dataset of the project (mnist5k is 28x28), so train.validate (which checks
    # data_shape against the dataset) is skipped; everything else is the loop's own path.
    family = families.get_family('diffusion')
    mesh = shard_lib.make_mesh(c.mesh)
    shard_lib.check_batch_size(c.batch_size, mesh)
    batches_np = [{'image': np.transpose(b['x0'], (0, 2, 3, 1)).copy()} for b in duel_data.unet_batches()]
  elif model == 'gpt':
    family, info, mesh = train.validate(c)
    batches_np = duel_data.gpt_batches()
  elif model == 'dcgan':
    family, info, mesh = train.validate(c)
    batches_np = [{'image': np.transpose(b['x'], (0, 2, 3, 1)).copy()} for b in duel_data.gan_batches()]
  elif model == 'glow':
    family, info, mesh = train.validate(c)
    batches_np = [{'image': np.transpose(b['x'], (0, 2, 3, 1)).copy()} for b in duel_data.flow_batches()]
  else:
    family, info, mesh = train.validate(c)
    batches_np = [{'image': np.transpose(b['x'], (0, 2, 3, 1)).copy(), 'label': b['label']}
                  for b in duel_data.vae_batches()]
  batches = [shard_lib.global_batch(b, mesh) for b in batches_np]
  state, shardings = train.init_state(family, c, mesh, jax.random.key(0), batches[0])
  step = train.jit_train_step(family, c, mesh, shardings, batches[0])
  key = jax.random.key(1)
  t = time.perf_counter()
  compiled = step.lower(state, batches[0], key).compile()
  compile_s = time.perf_counter() - t
  t = time.perf_counter()
  state, metrics = compiled(state, batches[0], key)
  jax.block_until_ready((state, metrics))
  first_step_s = time.perf_counter() - t
  return c, family, mesh, state, batches, key, compiled, compile_s, first_step_s


def n_params(params) -> int:
  return int(sum(np.prod(x.shape) for x in jax.tree.leaves(params)))


def cost_flops(compiled) -> float:
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0]
  return float(cost.get('flops', 0.0))


def forward_flops(model: str, c, state, batch) -> float:
  """XLA:CPU cost analysis of the model's forward on the timed batch (whole batch)."""
  if model == 'dcgan':  # the generator's forward, as the torch side counts it
    from gen_jax.families.gans import networks as net_lib
    nets = net_lib.get_networks(c)
    z = jnp.zeros((batch['image'].shape[0], int(c.model.latent_dim)), jnp.float32)
    fn = lambda p, z: net_lib.generate(nets, p['g'], state.extra.get('g_stats'), z, None, jax.random.key(0),  # noqa: E731
                                       jnp.zeros((), jnp.int32), train=False)[0]
    return cost_flops(jax.jit(fn).lower(state.params, z).compile())
  if model == 'glow':  # the flow's forward: data -> latent with its log-det
    from gen_jax.families.flows.models import get_model as get_flow
    flow = get_flow(c)
    fn = lambda p, x: flow.apply({'params': p}, x)[:2]  # noqa: E731
    return cost_flops(jax.jit(fn).lower(state.params, batch['image']).compile())
  if model == 'gpt':
    from gen_jax.families.transformers.models import get_model
    net = get_model(c)
    x = batch['tokens'][:, :-1]
    fn = lambda p, x: net.apply({'params': p}, x)[0]  # noqa: E731
  elif model.startswith('unet'):
    from gen_jax.families.diffusion.models import apply_model, get_model
    net = get_model(c)
    x = batch['image']
    fn = lambda p, x: apply_model(net, p, x, jnp.zeros((x.shape[0],), jnp.float32), None, True)  # noqa: E731
  else:
    from gen_jax.families.autoencoders.models import get_model
    net = get_model(c)
    x = batch['image']
    fn = lambda p, x: net.apply({'params': p}, x)  # noqa: E731
  return cost_flops(jax.jit(fn).lower(state.params, x).compile())


def measure_peak(n=2048, reps=20):
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
  b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
  mm = jax.jit(lambda a, b: a @ b)
  mm(a, b).block_until_ready()
  ts = []
  for _ in range(reps):
    t = time.perf_counter()
    mm(a, b).block_until_ready()
    ts.append(time.perf_counter() - t)
  return 2.0 * n ** 3 / statistics.median(ts), 2.0 * n ** 3 / min(ts)


def main():
  model = sys.argv[1]
  c, family, mesh, state, batches, key, compiled, compile_s, first_step_s = build(model)
  peak_med, peak_best = measure_peak()
  step_flops = cost_flops(compiled)
  fwd = forward_flops(model, c, state, batches[0])
  B = int(jax.tree.leaves(batches[0])[0].shape[0])
  emit(dict(side='jax', model=model, ready=True, jax=jax.__version__, devices=len(jax.devices()),
            xla_flags=os.environ.get('XLA_FLAGS', ''), xla_note=XLA_NOTE, batch=B, params=n_params(state.params),
            compile_s=round(compile_s, 3), first_step_s=round(first_step_s, 3),
            xla_step_flops=step_flops, xla_fwd_flops_per_image=fwd / B,
            peak_matmul_flops_median=peak_med, peak_matmul_flops_best=peak_best,
            optim=dict(c.optim), startup_s=round(time.perf_counter() - T_IMPORT, 2)))
  # two more untimed warm-up steps (the first one ran in build)
  for i in range(2):
    state, metrics = compiled(state, batches[i % 4], key)
  jax.block_until_ready((state, metrics))
  for line in sys.stdin:
    cmd = line.split()
    if not cmd or cmd[0] == 'quit':
      break
    n = int(cmd[1])
    if cmd[0] == 'run':
      ts = []
      for i in range(n):
        b = batches[i % 4]
        t = time.perf_counter()
        state, metrics = compiled(state, b, key)
        jax.block_until_ready((state, metrics))
        ts.append(time.perf_counter() - t)
    else:  # pipe
      t = time.perf_counter()
      for i in range(n):
        state, metrics = compiled(state, batches[i % 4], key)
      jax.block_until_ready((state, metrics))
      ts = [(time.perf_counter() - t) / n]
    emit(dict(side='jax', model=model, mode=cmd[0], times=ts, loss=float(metrics['loss'])))


if __name__ == '__main__':
  main()
