"""DDPM with an MLP denoiser on a 2-D toy density (default toy2d/moons).

Variants (comma-separated): moons | 8gaussians | 25gaussians | checkerboard | spirals | rings (the
density), cosine (schedule), v (parameterization), hybrid (learned variance), cfg (conditioned on the
mode label), ddim (25 DDIM steps), tiny (seconds).
  ./launch.sh --config=experiments/diffusion/ddpm_toy2d.py:8gaussians --workdir=runs/ddpm_8g
Samples are written as .npy by --mode=sample.
"""
from gen_jax.core.config import Variants, base_config
from gen_jax.families.diffusion.config import diffusion_config, tiny_mlp

DENSITIES = ('moons', '8gaussians', '25gaussians', 'checkerboard', 'spirals', 'rings')
VARIANTS = Variants(*DENSITIES, 'tiny', 'cosine', 'v', 'hybrid', 'cfg', 'ddim', exclusive=[DENSITIES])
NUM_CLASSES = {'moons': 2, '8gaussians': 8, '25gaussians': 25, 'checkerboard': 8, 'spirals': 2, 'rings': 4}


def get_config(arg: str | None = None):
  v = VARIANTS.parse(arg)
  density = v.pick(*DENSITIES, default='moons')
  c = diffusion_config(base_config())
  c.batch_size = 512
  c.num_train_steps = 10000
  c.log_every = 200
  c.eval_every = 2500
  c.checkpoint_every = 2500
  c.sample_every = 0           # points: no image grids (use --mode=sample)
  c.eval_batch_size = 2000
  c.dataset.name = f'toy2d/{density}'
  c.dataset.scale = 'none'
  c.model.name = 'mlp'
  c.model.data_shape = (2,)
  c.model.hidden = 128
  c.model.num_layers = 3
  c.model.num_classes = 0
  c.diffusion.num_timesteps = 200
  c.diffusion.schedule = 'cosine' if 'cosine' in v else 'linear'
  c.diffusion.vlb_timesteps = 0
  c.optim.lr = 1e-3
  c.optim.schedule = 'cosine'
  c.optim.warmup_steps = 200
  c.optim.ema_decay = 0.999
  c.sample.num = 2000
  if 'v' in v:
    c.diffusion.parameterization = 'v'
  if 'hybrid' in v:
    c.diffusion.variance = 'learned_range'
  if 'cfg' in v:
    c.model.num_classes = NUM_CLASSES[density]
    c.sample.guidance_scale = 2.0
  if 'ddim' in v:
    c.sample.sampler = 'ddim'
    c.sample.steps = 25
  if 'tiny' in v:
    tiny_mlp(c)
    c.eval_batch_size = 5000
  return c
