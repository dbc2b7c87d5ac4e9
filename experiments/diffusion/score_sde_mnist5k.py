"""Score SDE (Song et al. 2021) on the embedded mnist5k digits: a small UNet trained by
continuous-time denoising score matching; predictor-corrector or probability-flow ODE sampling;
bits/dim from the probability-flow ODE on uniformly dequantized data.

Variants (comma-separated): vp | subvp | ve (the SDE; default vp), ode (sample with the ODE),
em (Euler-Maruyama predictor, no corrector), bpd (ODE bits/dim at eval: one adaptive ODE solve
with a Hutchinson divergence per eval batch; slow on CPU), tiny (seconds).
  ./launch.sh --config=experiments/diffusion/score_sde_mnist5k.py:ve --workdir=runs/sde_ve
"""
from gen_jax.core.config import Variants
from gen_jax.families.diffusion.config import tiny_unet, unet_mnist5k_config

SDES = ('vp', 'subvp', 've')
VARIANTS = Variants('tiny', *SDES, 'ode', 'em', 'bpd', exclusive=[SDES, ('ode', 'em')])


def get_config(arg: str | None = None):
  v = VARIANTS.parse(arg)
  c = unet_mnist5k_config()
  c.dataset.dequantize = 'uniform'
  c.diffusion.formulation = 'sde'
  c.diffusion.sde = v.pick(*SDES, default='vp')
  c.diffusion.num_scales = 1000
  c.diffusion.ode_bpd = 'bpd' in v
  c.sample.sampler = 'ode' if 'ode' in v else 'pc'
  c.sample.snr = 0.16 if c.diffusion.sde == 've' else 0.01
  c.sample.steps = 0
  if 'em' in v:
    c.sample.predictor = 'euler_maruyama'
    c.sample.corrector = 'none'
  if 'tiny' in v:
    tiny_unet(c)
    c.diffusion.num_scales = 10
    c.diffusion.ode_rtol = 1e-2        # with 'bpd': a rough likelihood
    c.diffusion.ode_atol = 1e-2
    c.sample.ode_rtol = 1e-2
    c.sample.ode_atol = 1e-2
  return c
