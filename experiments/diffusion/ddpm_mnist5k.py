"""DDPM on the embedded mnist5k digits (28x28, 10 classes): a small UNet, T = 1000.

Variants (comma-separated, e.g. ``:tiny,cosine``):
  linear | cosine | sigmoid   noise schedule (default linear, Ho et al.)
  x0 | v                      parameterization (default eps)
  minsnr                      min-SNR-5 loss weighting
  hybrid                      improved DDPM: learned variance, L_simple + 0.001 L_vlb, cosine schedule
  cfg                         class-conditional with 10% null labels; samples with guidance scale 2
  ddim                        sample with 50 deterministic DDIM steps
  tiny                        seconds on CPU: a smoke test
  ./launch.sh --config=experiments/diffusion/ddpm_mnist5k.py:tiny
  ./launch.sh --config=experiments/diffusion/ddpm_mnist5k.py:cosine --workdir=runs/ddpm_cos
"""
from gen_jax.core.config import Variants
from gen_jax.families.diffusion.config import tiny_unet, unet_mnist5k_config

SCHEDULES = ('linear', 'cosine', 'sigmoid')
VARIANTS = Variants('tiny', *SCHEDULES, 'x0', 'v', 'minsnr', 'hybrid', 'cfg', 'ddim',
                    exclusive=[SCHEDULES, ('x0', 'v')])


def get_config(arg: str | None = None):
  v = VARIANTS.parse(arg)
  c = unet_mnist5k_config()
  c.diffusion.num_timesteps = 1000
  c.diffusion.vlb_timesteps = 50       # eval: unbiased VLB estimate from 50 random t (0 = all 1000)
  c.optim.grad_clip = 1.0
  c.sample.num = 64
  c.diffusion.schedule = v.pick(*SCHEDULES, default=c.diffusion.schedule)
  c.diffusion.parameterization = v.pick('x0', 'v', default=c.diffusion.parameterization)
  if 'minsnr' in v:
    c.diffusion.loss_weighting = 'min_snr'
  if 'hybrid' in v:
    c.diffusion.variance = 'learned_range'
    if 'linear' not in v and 'sigmoid' not in v:
      c.diffusion.schedule = 'cosine'
  if 'cfg' in v:
    c.model.num_classes = 10
    c.diffusion.label_dropout = 0.1
    c.sample.guidance_scale = 2.0
    c.eval.conditional = True          # FID/KID of samples of random classes; accuracy of the requested class
  if 'ddim' in v:
    c.sample.sampler = 'ddim'
    c.sample.steps = 50
    c.sample.eta = 0.0
  if 'tiny' in v:
    tiny_unet(c)
    c.diffusion.num_timesteps = 20
    c.diffusion.vlb_timesteps = 4
    c.optim.warmup_steps = 0
    if 'ddim' in v:
      c.sample.steps = 5
  return c
