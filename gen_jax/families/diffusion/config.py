"""Config of the diffusion family: its defaults, the shared mnist5k UNet, ``tiny``, and ``validate_config``.

``diffusion_config(c)`` adds ``c.diffusion`` and the sampler fields of ``c.sample`` to a
``base_config()``; every field is documented here once. ``config.model``: see ``models.py``.
Variants of the experiment files are parsed by ``gen_jax.core.config.Variants``.
"""
from typing import Any

from gen_jax.core import checks
from gen_jax.families.diffusion import likelihood, losses, predictions, schedules, sde, sde_samplers
from gen_jax.families.diffusion.models import MODELS
from gen_jax.families.diffusion.sampling import DISCRETE_SAMPLERS, SDE_SAMPLERS

FORMULATIONS = ('discrete', 'sde')


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


def validate_config(config: Any, info: Any) -> None:
  """Checks model, process, loss and sampler against each other and the dataset (ConfigError otherwise)."""
  checks.require('diffusion' in config, 'the diffusion family needs config.diffusion (formulation, schedule, ...); '
                 'see experiments/diffusion/ddpm_mnist5k.py.')
  m, d, s = config.model, config.diffusion, config.sample
  checks.choice(m.name, 'model.name', MODELS)
  checks.dtype(m.get('dtype', 'float32'))
  shape = checks.data_shape(m.get('data_shape', ()), info)
  scale = config.dataset.get('scale', '01')
  if info.kind == 'image':
    checks.require(scale == '-11', f'diffusion models images in [-1, 1] (the prior is N(0, I)): set '
                   f'config.dataset.scale="-11" (it is {scale!r}).')
    if m.name == 'unet':
      checks.divisible(shape, len(m.get('ch_mult', (1, 2, 2))) - 1, 'model.ch_mult', info, 'the UNet')
  else:
    checks.require(m.name != 'unet', f'{info.name!r} holds {shape}-shaped points; the UNet needs images. '
                   'Use config.model.name="mlp".')
  k = checks.class_labels(m.get('num_classes', 0), info)
  p_drop = checks.number(d.get('label_dropout', 0.1), 'diffusion.label_dropout', 0.0, 1.0, high_open=True)
  if float(s.get('guidance_scale', 1.0)) != 1.0:
    checks.require(k > 0, 'config.sample.guidance_scale != 1 needs a class-conditional model '
                   '(config.model.num_classes).')
    checks.require(p_drop > 0, 'classifier-free guidance needs the null label trained: set '
                   'config.diffusion.label_dropout > 0 (e.g. 0.1) or config.sample.guidance_scale=1.')
  form = checks.choice(d.get('formulation', 'discrete'), 'diffusion.formulation', FORMULATIONS)
  checks.integer(int(s.get('steps', 0) or 0), 'sample.steps', 0, hint='0: the default for the sampler')
  if form == 'sde':
    _validate_sde(config)
  else:
    _validate_discrete(config, info)


def _validate_discrete(config: Any, info: Any) -> None:
  d, s = config.diffusion, config.sample
  schedule = checks.choice(d.get('schedule', 'linear'), 'diffusion.schedule', schedules.SCHEDULES)
  T = checks.integer(d.get('num_timesteps', 1000), 'diffusion.num_timesteps', 2)
  if schedule == 'custom':
    betas = d.get('betas', None)
    checks.require(betas is not None and len(betas) == T and all(0.0 < float(b) < 1.0 for b in betas),
                   f'schedule="custom" needs config.diffusion.betas: {T} values in (0, 1) (num_timesteps).')
  checks.choice(d.get('parameterization', 'eps'), 'diffusion.parameterization', predictions.PARAMETERIZATIONS)
  checks.choice(d.get('variance', 'fixed_small'), 'diffusion.variance', predictions.VARIANCES)
  checks.choice(d.get('loss_weighting', 'none'), 'diffusion.loss_weighting', losses.WEIGHTINGS)
  decoder = d.get('decoder', None)
  if decoder is not None:
    checks.choice(decoder, 'diffusion.decoder', losses.DECODERS)
    checks.require(decoder != 'discretized' or info.kind == 'image',
                   'config.diffusion.decoder="discretized" needs 8-bit images; use "gaussian" for points.')
  checks.integer(int(d.get('vlb_timesteps', 0)), 'diffusion.vlb_timesteps', 0, hint='0: all T terms')
  checks.choice(s.get('sampler', 'ddpm'), 'sample.sampler', DISCRETE_SAMPLERS)
  checks.choice(s.get('timestep_spacing', 'linspace'), 'sample.timestep_spacing', ('linspace', 'trailing', 'leading'))
  checks.require(int(s.get('steps', 0) or 0) <= T,
                 f'config.sample.steps={s.get("steps", 0)} exceeds config.diffusion.num_timesteps={T}.')
  checks.number(float(s.get('eta', 0.0)), 'sample.eta', 0.0, hint='0: deterministic DDIM, 1: DDPM-like')


def _validate_sde(config: Any) -> None:
  d, s = config.diffusion, config.sample
  kind = checks.choice(d.get('sde', 'vp'), 'diffusion.sde', sde.SDES)
  checks.require(d.get('parameterization', 'eps') == 'eps',
                 'score SDEs here predict the noise: set config.diffusion.parameterization="eps".')
  checks.require(d.get('variance', 'fixed_small') != 'learned_range', 'a learned variance belongs to the discrete '
                 'formulation; use variance="fixed_small" for SDEs.')
  checks.number(float(d.get('t_eps', 1e-5)), 'diffusion.t_eps', 0.0, 0.1, low_open=True, high_open=True)
  checks.choice(d.get('hutchinson', 'rademacher'), 'diffusion.hutchinson', likelihood.ESTIMATORS)
  checks.choice(d.get('ode_solver', 'tsit5'), 'diffusion.ode_solver', likelihood.ODE_SOLVERS)
  checks.integer(int(d.get('ode_steps', 0)), 'diffusion.ode_steps', 0, hint='0: adaptive steps')
  checks.choice(s.get('sampler', 'pc'), 'sample.sampler', SDE_SAMPLERS)
  checks.choice(s.get('predictor', 'reverse_diffusion'), 'sample.predictor', sde_samplers.PREDICTORS)
  checks.choice(s.get('corrector', 'langevin'), 'sample.corrector', sde_samplers.CORRECTORS)
  checks.choice(s.get('ode_solver', 'tsit5'), 'sample.ode_solver', likelihood.ODE_SOLVERS)
  checks.require(kind != 've' or float(d.get('sigma_min', 0.01)) < float(d.get('sigma_max', 50.0)),
                 'config.diffusion.sigma_min must be smaller than sigma_max.')
