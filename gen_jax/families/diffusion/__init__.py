"""Diffusion family: DDPM / improved DDPM / DDIM (discrete time) and score SDEs (continuous time).

Contract (DESIGN.md section 2): ``init``, ``make_train_step``, ``make_eval_step``, ``sample``,
``validate_config``, ``visualize`` (``step.py``, ``sampling.py``). Building blocks: ``schedules``,
``predictions``, ``losses``,
``samplers`` (DDPM, DDIM, DDIM inversion), ``sde`` and ``sde_samplers`` (VP / sub-VP / VE, PC and
probability-flow ODE), ``likelihood`` (VLB and ODE bits/dim), ``editing`` (inpainting, RePaint,
interpolation). Config: ``config.model`` (denoiser), ``config.diffusion`` (process and loss),
``config.sample`` (sampler); see ``experiments/diffusion/``.
"""
from typing import Any

from gen_jax.core.errors import ConfigError
from gen_jax.families.diffusion import editing, likelihood, losses, predictions, samplers, schedules, sde, sde_samplers
from gen_jax.families.diffusion.models import MODELS, get_model, make_model_fn
from gen_jax.families.diffusion.sampling import (DISCRETE_SAMPLERS, SDE_SAMPLERS, sample, sample_with_params,
                                               visualize)
from gen_jax.families.diffusion.step import init, make_eval_step, make_loss_fn, make_train_step

FORMULATIONS = ('discrete', 'sde')

__all__ = ['init', 'make_train_step', 'make_eval_step', 'make_loss_fn', 'sample', 'sample_with_params',
           'visualize', 'validate_config', 'get_model', 'make_model_fn', 'MODELS', 'FORMULATIONS',
           'editing', 'likelihood', 'losses', 'predictions', 'samplers', 'schedules', 'sde', 'sde_samplers']


def _choice(value: Any, field: str, allowed: tuple[str, ...]) -> None:
  if value not in allowed:
    raise ConfigError(f'{field}={value!r} is not allowed; allowed: {", ".join(allowed)}.')


def validate_config(config: Any, info: Any) -> None:
  """Checks model, process, loss and sampler against each other and the dataset (ConfigError otherwise)."""
  if 'diffusion' not in config:
    raise ConfigError('the diffusion family needs config.diffusion (formulation, schedule, ...); '
                      'see experiments/diffusion/ddpm_mnist5k.py.')
  m, d, s = config.model, config.diffusion, config.sample
  _choice(m.name, 'config.model.name', MODELS)
  _choice(m.get('dtype', 'float32'), 'config.model.dtype', ('float32', 'bfloat16'))
  key = 'image' if info.kind == 'image' else 'x'
  if key not in info.element_spec:
    raise ConfigError(f'dataset {info.name!r} ({info.kind}) has no {key!r} feature; it has '
                      f'{list(info.element_spec)}.')
  shape = tuple(info.element_spec[key][0])
  if tuple(m.get('data_shape', ())) != shape:
    raise ConfigError(f'config.model.data_shape={tuple(m.get("data_shape", ()))} does not match the {info.kind} '
                      f'of {info.name!r}, which are {shape}; set config.model.data_shape={shape}.')
  scale = config.dataset.get('scale', '01')
  if info.kind == 'image':
    if scale != '-11':
      raise ConfigError(f'diffusion models images in [-1, 1] (the prior is N(0, I)): set config.dataset.scale="-11" '
                        f'(it is {scale!r}).')
    if m.name == 'unet':
      n = len(m.get('ch_mult', (1, 2, 2))) - 1
      if shape[0] % 2 ** n or shape[1] % 2 ** n:
        raise ConfigError(f'the UNet halves the image {n} times (len(config.model.ch_mult)={n + 1}), so H and W '
                          f'must be divisible by {2 ** n}; {info.name!r} images are {shape[:2]}. '
                          'Use a shorter ch_mult.')
  elif m.name == 'unet':
    raise ConfigError(f'{info.name!r} holds {shape}-shaped points; the UNet needs images. Use config.model.name="mlp".')
  k = int(m.get('num_classes', 0) or 0)
  if k:
    if not info.num_classes or 'label' not in info.element_spec:
      raise ConfigError(f'config.model.num_classes={k} asks for a class-conditional model, but {info.name!r} has no '
                        'labels; set config.model.num_classes=0.')
    if k != info.num_classes:
      raise ConfigError(f'config.model.num_classes={k} but {info.name!r} has {info.num_classes} classes.')
  if not 0.0 <= float(d.get('label_dropout', 0.1)) < 1.0:
    raise ConfigError(f'config.diffusion.label_dropout={d.label_dropout} must lie in [0, 1).')
  if float(s.get('guidance_scale', 1.0)) != 1.0:
    if not k:
      raise ConfigError('config.sample.guidance_scale != 1 needs a class-conditional model (config.model.num_classes).')
    if float(d.get('label_dropout', 0.1)) <= 0:
      raise ConfigError('classifier-free guidance needs the null label trained: set config.diffusion.label_dropout > 0 '
                        '(e.g. 0.1) or config.sample.guidance_scale=1.')
  form = d.get('formulation', 'discrete')
  _choice(form, 'config.diffusion.formulation', FORMULATIONS)
  steps = int(s.get('steps', 0) or 0)
  if steps < 0:
    raise ConfigError(f'config.sample.steps={steps} must be >= 0 (0: the default for the sampler).')
  if form == 'sde':
    _validate_sde(config)
  else:
    _validate_discrete(config, info)


def _validate_discrete(config: Any, info: Any) -> None:
  d, s = config.diffusion, config.sample
  _choice(d.get('schedule', 'linear'), 'config.diffusion.schedule', schedules.SCHEDULES)
  T = d.get('num_timesteps', 1000)
  if not isinstance(T, int) or T < 2:
    raise ConfigError(f'config.diffusion.num_timesteps={T!r} must be an integer >= 2.')
  if d.get('schedule', 'linear') == 'custom':
    betas = d.get('betas', None)
    if betas is None or len(betas) != T or not all(0.0 < float(b) < 1.0 for b in betas):
      raise ConfigError(f'schedule="custom" needs config.diffusion.betas: {T} values in (0, 1) (num_timesteps).')
  _choice(d.get('parameterization', 'eps'), 'config.diffusion.parameterization', predictions.PARAMETERIZATIONS)
  _choice(d.get('variance', 'fixed_small'), 'config.diffusion.variance', predictions.VARIANCES)
  _choice(d.get('loss_weighting', 'none'), 'config.diffusion.loss_weighting', losses.WEIGHTINGS)
  decoder = d.get('decoder', None)
  if decoder is not None:
    _choice(decoder, 'config.diffusion.decoder', losses.DECODERS)
    if decoder == 'discretized' and info.kind != 'image':
      raise ConfigError('config.diffusion.decoder="discretized" needs 8-bit images; use "gaussian" for points.')
  if int(d.get('vlb_timesteps', 0)) < 0:
    raise ConfigError('config.diffusion.vlb_timesteps must be >= 0 (0: all T terms).')
  _choice(s.get('sampler', 'ddpm'), 'config.sample.sampler', DISCRETE_SAMPLERS)
  _choice(s.get('timestep_spacing', 'linspace'), 'config.sample.timestep_spacing', ('linspace', 'trailing', 'leading'))
  if int(s.get('steps', 0) or 0) > T:
    raise ConfigError(f'config.sample.steps={s.steps} exceeds config.diffusion.num_timesteps={T}.')
  if float(s.get('eta', 0.0)) < 0:
    raise ConfigError(f'config.sample.eta={s.eta} must be >= 0 (0: deterministic DDIM, 1: DDPM-like).')


def _validate_sde(config: Any) -> None:
  d, s = config.diffusion, config.sample
  _choice(d.get('sde', 'vp'), 'config.diffusion.sde', sde.SDES)
  if d.get('parameterization', 'eps') != 'eps':
    raise ConfigError('score SDEs here predict the noise: set config.diffusion.parameterization="eps".')
  if d.get('variance', 'fixed_small') == 'learned_range':
    raise ConfigError('a learned variance belongs to the discrete formulation; use variance="fixed_small" for SDEs.')
  if not 0.0 < float(d.get('t_eps', 1e-5)) < 0.1:
    raise ConfigError(f'config.diffusion.t_eps={d.t_eps} must lie in (0, 0.1).')
  _choice(d.get('hutchinson', 'rademacher'), 'config.diffusion.hutchinson', likelihood.ESTIMATORS)
  _choice(d.get('ode_solver', 'tsit5'), 'config.diffusion.ode_solver', likelihood.ODE_SOLVERS)
  if int(d.get('ode_steps', 0)) < 0:
    raise ConfigError('config.diffusion.ode_steps must be >= 0 (0: adaptive steps).')
  _choice(s.get('sampler', 'pc'), 'config.sample.sampler', SDE_SAMPLERS)
  _choice(s.get('predictor', 'reverse_diffusion'), 'config.sample.predictor', sde_samplers.PREDICTORS)
  _choice(s.get('corrector', 'langevin'), 'config.sample.corrector', sde_samplers.CORRECTORS)
  _choice(s.get('ode_solver', 'tsit5'), 'config.sample.ode_solver', likelihood.ODE_SOLVERS)
  if d.get('sde', 'vp') == 've' and float(d.get('sigma_min', 0.01)) >= float(d.get('sigma_max', 50.0)):
    raise ConfigError('config.diffusion.sigma_min must be smaller than sigma_max.')
