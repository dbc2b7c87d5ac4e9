"""The family's ``sample`` and ``visualize``: config-driven dispatch to the samplers.

``config.sample`` fields:
  sampler: discrete 'ddpm' | 'ddim'; SDE 'pc' | 'ode'
  steps: number of sampling steps (0: all T for 'ddpm'/'ddim', diffusion.num_scales for 'pc';
         adaptive for 'ode')
  eta (DDIM), timestep_spacing ('linspace' | 'trailing' | 'leading'), clip_denoised (None: on for images)
  guidance_scale (classifier-free, 1 = plain conditional), label (-1: labels cycle 0..K-1)
  predictor, corrector, snr, corrector_steps, t_eps (PC / ODE), ode_solver, ode_rtol, ode_atol
"""
from typing import Any

import jax
import jax.numpy as jnp

from gen_jax.families.diffusion import samplers
from gen_jax.families.diffusion import sde as sde_lib
from gen_jax.families.diffusion import sde_samplers
from gen_jax.families.diffusion.models import ModelFn, data_shape, get_model, make_model_fn, num_classes, variance_type
from gen_jax.families.diffusion.schedules import schedule_from_config
from gen_jax.core.state import eval_params
from gen_jax.families.diffusion.step import formulation

DISCRETE_SAMPLERS = ('ddpm', 'ddim')
SDE_SAMPLERS = ('pc', 'ode')


def is_image(config: Any) -> bool:
  return len(data_shape(config)) == 3


def clip_denoised(config: Any) -> bool:
  """Clip predicted x_0 to [-1, 1] while sampling: the config's choice, else on for images."""
  c = config.sample.get('clip_denoised', None)
  return is_image(config) if c is None else bool(c)


def sample_labels(config: Any, num: int) -> jax.Array | None:
  """Class labels [num] for a conditional model: ``sample.label`` for all, or 0..K-1 cycling; None if
  the model is unconditional."""
  k = num_classes(config)
  if not k:
    return None
  label = int(config.sample.get('label', -1))
  if label >= 0:
    return jnp.full((num,), label, jnp.int32)
  return jnp.arange(num, dtype=jnp.int32) % k


def guided_model_fn(config: Any, params: Any, label: jax.Array | None) -> ModelFn:
  """``fn(x, cond) -> raw output`` with classifier-free guidance at ``sample.guidance_scale``."""
  return make_model_fn(get_model(config), params, label, float(config.sample.get('guidance_scale', 1.0)),
                       num_classes(config), variance_type(config))


def finalize(x: jax.Array, config: Any) -> jax.Array:
  """Images are clipped to the data range [-1, 1]; points are returned as they are."""
  return jnp.clip(x, -1.0, 1.0) if is_image(config) else x


def sample_with_params(params: Any, rng: jax.Array, num: int, config: Any, label: jax.Array | None = None,
                       x_T: jax.Array | None = None) -> jax.Array:
  """``num`` samples [num, *data_shape] from explicit parameters (labels default to ``sample_labels``)."""
  s_cfg, d = config.sample, config.diffusion
  shape = (num,) + data_shape(config)
  label = sample_labels(config, num) if label is None else label
  fn = guided_model_fn(config, params, label)
  name = s_cfg.get('sampler', 'ddpm' if formulation(config) == 'discrete' else 'pc')
  steps = int(s_cfg.get('steps', 0) or 0)
  if formulation(config) == 'sde':
    sde = sde_lib.sde_from_config(d)
    score_fn = sde_lib.make_score_fn(sde, fn)
    t_eps = float(s_cfg.get('t_eps', 1e-3))
    if name == 'pc':
      x = sde_samplers.pc_sample(
          sde, score_fn, shape, rng, s_cfg.get('predictor', 'reverse_diffusion'), s_cfg.get('corrector', 'langevin'),
          float(s_cfg.get('snr', 0.16)), int(s_cfg.get('corrector_steps', 1)),
          steps or int(d.get('num_scales', 1000)), t_eps, x_T=x_T)
    elif name == 'ode':
      x = sde_samplers.ode_sample(sde, score_fn, shape, rng, t_eps, float(s_cfg.get('ode_rtol', 1e-5)),
                                  float(s_cfg.get('ode_atol', 1e-5)), s_cfg.get('ode_solver', 'tsit5'), steps,
                                  x_T=x_T)
    else:
      raise ValueError(f'unknown SDE sampler {name!r}; allowed: {", ".join(SDE_SAMPLERS)}.')
    return finalize(x, config)
  s = schedule_from_config(d)
  param, variance = d.get('parameterization', 'eps'), variance_type(config)
  spacing = s_cfg.get('timestep_spacing', 'linspace')
  if name == 'ddpm':
    x = samplers.ddpm_sample(fn, s, shape, rng, param, variance, steps, spacing, clip_denoised(config), x_T)
  elif name == 'ddim':
    x = samplers.ddim_sample(fn, s, shape, rng, param, steps or s.num_timesteps, float(s_cfg.get('eta', 0.0)),
                             spacing, clip_denoised(config), x_T, variance)
  else:
    raise ValueError(f'unknown discrete sampler {name!r}; allowed: {", ".join(DISCRETE_SAMPLERS)}.')
  return finalize(x, config)


def network_calls(config: Any) -> int | None:
  """Denoiser calls of one sampling loop of ``config.sample`` (a call under classifier-free guidance
  is one batch of 2B: conditional and null label); None for the ODE sampler, whose count depends on
  the solver and, when adaptive, on the data."""
  s_cfg, d = config.sample, config.diffusion
  steps = int(s_cfg.get('steps', 0) or 0)
  name = s_cfg.get('sampler', 'ddpm' if formulation(config) == 'discrete' else 'pc')
  if name in DISCRETE_SAMPLERS:
    return steps or int(d.get('num_timesteps', 1000))
  if name == 'pc':
    corrector = s_cfg.get('corrector', 'langevin') != 'none'
    return (steps or int(d.get('num_scales', 1000))) * (1 + corrector * int(s_cfg.get('corrector_steps', 1)))
  return None


def sampler_cost(state: Any, num: int, config: Any) -> tuple[ModelFn, tuple, int] | None:
  """What one ``sample(state, rng, num, config)`` call computes, for FLOP counting (family contract hook).

  XLA's cost analysis counts the body of a ``lax.scan`` / while loop once, not once per iteration,
  so the benchmark counts one denoiser call on the batch (both passes under classifier-free
  guidance) and multiplies by the loop's calls. Returns ``(fn, args, calls)`` with ``fn(*args)`` one
  call, or None for the ODE sampler (its number of steps is adaptive).
  """
  calls = network_calls(config)
  if calls is None:
    return None
  fn = guided_model_fn(config, eval_params(state), sample_labels(config, num))
  x = jnp.zeros((num,) + data_shape(config), jnp.float32)
  return fn, (x, jnp.zeros((num,), jnp.float32)), calls


def sample(state: Any, rng: jax.Array, num: int, config: Any, labels: jax.Array | None = None) -> jax.Array:
  """``num`` samples (EMA parameters): images [num, H, W, C] in [-1, 1], points [num, D]. Pure, jit-able.

  ``labels`` [num] int: the classes of a conditional model's samples (default ``sample_labels``:
  ``sample.label`` for all, or 0..K-1 cycling); an unconditional model refuses them.
  """
  if labels is not None:
    if not num_classes(config):
      raise ValueError('labels were given but the model is unconditional (config.model.num_classes=0).')
    labels = jnp.asarray(labels, jnp.int32)
    if labels.shape != (num,):
      raise ValueError(f'labels must have shape ({num},), one per sample; got {labels.shape}.')
  return sample_with_params(eval_params(state), rng, num, config, label=labels)


def to_unit_range(x: jax.Array) -> jax.Array:
  """[-1, 1] images -> [0, 1] for display."""
  return jnp.clip((x + 1.0) / 2.0, 0.0, 1.0)


def visualize(state: Any, batch: dict, rng: jax.Array, config: Any) -> dict[str, jax.Array]:
  """A grid of ``sample.num_visualize`` (default 36) samples."""
  del batch
  n = int(config.sample.get('num_visualize', 36))
  return {'samples': to_unit_range(sample(state, rng, n, config))}
