"""Config defaults of the diffusion family and the variant parsing of its experiment files.

``diffusion_config(c)`` adds ``c.diffusion`` and the sampler fields of ``c.sample`` to a
``base_config()``; every field is documented here once.
"""
from typing import Any

from gen_jax.core.config import parse_variant


def parse_variants(arg: str | None, allowed: tuple[str, ...]) -> set[str]:
  """Comma-separated variants (``--config=file.py:tiny,cosine``), each checked by ``parse_variant``."""
  parts = [p.strip() for p in (arg or '').split(',') if p.strip()]
  return {parse_variant(p, allowed) for p in parts}


def diffusion_config(c: Any) -> Any:
  """Adds the diffusion fields (defaults: DDPM, linear schedule, eps, fixed-small variance) to ``c``."""
  import ml_collections
  c.family = 'diffusion'
  c.diffusion = ml_collections.ConfigDict(dict(
      formulation='discrete',     # 'discrete' (DDPM, T steps) | 'sde' (score SDE, t in [0, 1])
      # -- discrete time
      schedule='linear',          # 'linear' | 'cosine' | 'sigmoid' | 'custom'
      num_timesteps=1000,
      beta_start=1e-4, beta_end=0.02,   # linear (scaled by 1000 / num_timesteps)
      cosine_s=0.008,
      sigmoid_start=-3.0, sigmoid_end=3.0, sigmoid_tau=1.0,
      betas=None,                 # 'custom': a list of num_timesteps values in (0, 1)
      parameterization='eps',     # 'eps' | 'x0' | 'v'
      variance='fixed_small',     # 'fixed_small' | 'fixed_large' | 'learned_range' (hybrid loss)
      loss_weighting='none',      # 'none' | 'min_snr'
      min_snr_gamma=5.0,
      hybrid_lambda=0.001,        # L_simple + lambda * L_vlb with a learned variance
      decoder=None,               # None: 'discretized' for images, 'gaussian' for points
      vlb_timesteps=0,            # eval: 0 = all T VLB terms; K > 0 = unbiased estimate from K random t
      label_dropout=0.1,          # class-conditional models: null-label rate for classifier-free guidance
      # -- continuous time (score SDE)
      sde='vp',                   # 'vp' | 'subvp' | 've'
      beta_min=0.1, beta_max=20.0,
      sigma_min=0.01, sigma_max=50.0,
      num_scales=1000,            # default number of PC sampling steps
      t_eps=1e-5,                 # smallest training / likelihood time
      likelihood_weighting=False,
      ode_bpd=False,              # eval: bits/dim from the probability-flow ODE (one solve per batch)
      ode_rtol=1e-5, ode_atol=1e-5,
      ode_solver='tsit5',         # 'tsit5' | 'dopri5' | 'heun' | 'euler'
      ode_steps=0,                # 0: adaptive (rtol, atol); N > 0: N fixed steps
      hutchinson='rademacher',    # 'rademacher' | 'gaussian' | 'exact' (small D)
  ))
  c.sample.update(dict(
      sampler='ddpm',             # discrete: 'ddpm' | 'ddim'; SDE: 'pc' | 'ode'
      steps=0,                    # 0: all T (ddpm, ddim), num_scales (pc), adaptive (ode)
      eta=0.0,                    # DDIM
      timestep_spacing='linspace',
      clip_denoised=None,         # None: on for images
      guidance_scale=1.0,
      label=-1,                   # -1: labels cycle 0..K-1
      num_visualize=36,
      predictor='reverse_diffusion', corrector='langevin', snr=0.16, corrector_steps=1,
      t_eps=1e-3,
      ode_solver='tsit5', ode_rtol=1e-5, ode_atol=1e-5,
      repaint_jump_length=10, repaint_jump_n_sample=10,   # editing.inpaint_with_state (1, 1: replacement)
  ))
  return c


def unet_mnist5k_config() -> Any:
  """The shared part of the mnist5k UNet experiments (DDPM and score SDE): data in [-1, 1],
  a 32-channel UNet with attention at 7x7, batch 64, 20,000 steps, EMA 0.9995; ``--mode=eval``
  reports bits/dim and FID/KID/precision/recall/classifier scores of 1,000 samples."""
  from gen_jax.core.config import base_config
  c = diffusion_config(base_config())
  c.batch_size = 64
  c.num_train_steps = 20000
  c.log_every = 100
  c.eval_every = 5000
  c.checkpoint_every = 2000
  c.sample_every = 2000
  c.eval_batch_size = 250
  c.dataset.name = 'mnist5k'
  c.dataset.scale = '-11'
  c.model.name = 'unet'
  c.model.data_shape = (28, 28, 1)
  c.model.ch = 32
  c.model.ch_mult = (1, 2, 2)
  c.model.num_res_blocks = 2
  c.model.attn_resolutions = (7,)
  c.model.dropout = 0.1
  c.model.num_groups = 8
  c.model.num_classes = 0
  c.optim.lr = 2e-4
  c.optim.warmup_steps = 500
  c.optim.ema_decay = 0.9995
  # --mode=eval: bits/dim plus sample quality in the project classifier's feature space, from
  # 1,000 samples of the configured sampler, as many as the test split (FID/KID are biased in
  # 1/N: compare at equal N).
  c.eval.metrics = ('nll', 'fid', 'kid', 'precision_recall', 'classifier')
  c.eval.num_samples = 1000
  c.eval.sample_batch_size = 500
  return c


def tiny_unet(c: Any) -> Any:
  """The ``tiny`` variant of the mnist5k UNet experiments: a few steps of an 8-channel UNet, seconds on
  a CPU (a smoke test of the whole loop: train, checkpoint, eval, sample)."""
  c.batch_size = 8
  c.num_train_steps = 4
  c.log_every = 2
  c.eval_every = 4
  c.checkpoint_every = 2
  c.sample_every = 4
  c.eval_batch_size = 500
  c.eval.metrics = ('nll',)
  c.model.ch = 8
  c.model.ch_mult = (1, 2)
  c.model.num_res_blocks = 1
  c.model.attn_resolutions = ()
  c.model.num_groups = 4
  c.sample.num = 16
  c.sample.num_visualize = 16
  return c


def tiny_mlp(c: Any) -> Any:
  """The ``tiny`` variant of the MLP-denoiser experiments (toy2d, signals1d): 6 steps, T = 20."""
  c.batch_size = 64
  c.num_train_steps = 6
  c.log_every = 2
  c.eval_every = 6
  c.checkpoint_every = 3
  c.model.hidden = 32
  c.model.num_layers = 2
  c.diffusion.num_timesteps = 20
  c.optim.warmup_steps = 1
  c.sample.num = 256
  if c.sample.sampler == 'ddim':
    c.sample.steps = 5
  return c
