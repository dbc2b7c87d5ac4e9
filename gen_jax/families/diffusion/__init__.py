"""Diffusion family: DDPM / improved DDPM / DDIM (discrete time) and score SDEs (continuous time).

The family contract (``gen_jax.families``): ``init``, ``make_train_step``, ``make_eval_step``
(``step.py``), ``sample``, ``visualize``, ``sampler_cost`` (``sampling.py``), ``validate_config``
(``config.py``, which also documents every ``config.diffusion`` and ``config.sample`` field). Its own
pieces: ``schedules``, ``predictions``, ``losses``, ``samplers`` (DDPM, DDIM, DDIM inversion), ``sde``
and ``sde_samplers`` (VP / sub-VP / VE, PC and probability-flow ODE), ``likelihood`` (VLB and ODE
bits/dim), ``editing`` (inpainting, RePaint, interpolation), ``sampler_study`` (sampler specs for the
studies). See ``experiments/diffusion/``.
"""
from gen_jax.families.diffusion import editing, likelihood, losses, predictions, samplers, schedules, sde, sde_samplers
from gen_jax.families.diffusion.config import FORMULATIONS, validate_config
from gen_jax.families.diffusion.models import MODELS, get_model, make_model_fn
from gen_jax.families.diffusion.sampling import (DISCRETE_SAMPLERS, SDE_SAMPLERS, sample, sample_with_params,
                                                 sampler_cost, visualize)
from gen_jax.families.diffusion.step import init, make_eval_step, make_loss_fn, make_train_step

DEFAULT_EXPERIMENT = 'experiments/diffusion/ddpm_mnist5k.py'  # its headline experiment (what the benchmark measures by default)

__all__ = ['init', 'make_train_step', 'make_eval_step', 'make_loss_fn', 'sample', 'sample_with_params',
           'sampler_cost', 'visualize', 'validate_config', 'get_model', 'make_model_fn', 'MODELS', 'FORMULATIONS',
           'DISCRETE_SAMPLERS', 'SDE_SAMPLERS', 'editing', 'likelihood', 'losses', 'predictions', 'samplers',
           'schedules', 'sde', 'sde_samplers']
