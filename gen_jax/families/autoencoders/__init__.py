"""Autoencoder family: AEs, denoising AEs, VAEs (Gaussian / Laplace / categorical latents, Gaussian,
Laplace or mixture-of-Gaussians priors) and conditional VAEs, convolutional or MLP.

The family contract (``gen_jax.families``): ``init``, ``make_train_step``, ``make_eval_step``
(``step.py``), ``sample``, ``visualize`` (``sampling.py``), ``validate_config`` (``config.py``, which
also documents every ``config.model`` field). Its own pieces: ``latents.py`` (posteriors, priors,
KLs), ``noise.py`` (DAE corruptions), ``metrics.py`` (IWAE, active units). Research helpers:
``encode``, ``posterior_means``, ``decode``, ``reconstruct``, ``interpolate``, ``iwae_log_likelihood``,
``active_units``.
"""
from gen_jax.families.autoencoders.config import validate_config
from gen_jax.families.autoencoders.losses import negative_elbo
from gen_jax.families.autoencoders.metrics import active_units, iwae_log_likelihood
from gen_jax.families.autoencoders.models import MODELS, get_model
from gen_jax.families.autoencoders.sampling import (decode, encode, interpolate, posterior_means, reconstruct, sample,
                                                    visualize)
from gen_jax.families.autoencoders.step import init, make_eval_step, make_train_step

DEFAULT_EXPERIMENT = 'experiments/autoencoders/vae_mnist5k.py'  # its headline experiment (what the benchmark measures by default)

__all__ = ['init', 'make_train_step', 'make_eval_step', 'sample', 'validate_config', 'visualize', 'encode',
           'posterior_means', 'decode', 'reconstruct', 'interpolate', 'negative_elbo', 'iwae_log_likelihood',
           'active_units', 'get_model', 'MODELS']
