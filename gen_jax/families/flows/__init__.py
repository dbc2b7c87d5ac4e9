"""Normalizing-flow family: NICE, RealNVP, Glow, the neural spline flow, and FFJORD.

The family contract (``gen_jax.families``): ``init``, ``make_train_step``, ``make_eval_step``,
``describe_nonfinite`` (``step.py``), ``sample``, ``visualize``, ``sampler_cost`` (``sampling.py``),
``validate_config`` (``config.py``, which also documents every ``config.model`` field). Its own pieces:
``bijectors`` (ActNorm, invertible 1x1 convolutions, couplings, squeeze, split priors, the logit
pre-transform), ``splines`` (rational-quadratic splines), ``models`` (the architectures, layer
labels), ``losses`` (per-example NLL), ``ffjord`` (the continuous flow, solved with diffrax).
Research helpers: ``encode``, ``decode``, ``reconstruct``, ``interpolate``, ``sample_with_params``.
See ``experiments/flows/`` and ``docs/flows.md``.
"""
from gen_jax.families.flows import bijectors, ffjord, losses, models, splines
from gen_jax.families.flows.config import validate_config
from gen_jax.families.flows.models import MODELS, get_model, layer_labels
from gen_jax.families.flows.sampling import (decode, encode, interpolate, reconstruct, sample, sample_with_params,
                                             sampler_cost, visualize)
from gen_jax.families.flows.step import describe_nonfinite, init, make_eval_step, make_train_step

# its headline experiment (what the benchmark measures by default)
DEFAULT_EXPERIMENT = 'experiments/flows/flows_mnist5k.py'

__all__ = ['DEFAULT_EXPERIMENT', 'init', 'make_train_step', 'make_eval_step', 'sample', 'validate_config', 'visualize',
           'sampler_cost', 'describe_nonfinite', 'encode', 'decode', 'reconstruct', 'interpolate', 'sample_with_params',
           'get_model', 'layer_labels', 'MODELS', 'bijectors', 'ffjord', 'losses', 'models', 'splines']
