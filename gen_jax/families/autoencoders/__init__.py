"""Autoencoder family: AEs, denoising AEs, VAEs (Gaussian / Laplace / categorical latents, Gaussian,
Laplace or mixture-of-Gaussians priors) and conditional VAEs, convolutional or MLP.

Contract (DESIGN.md section 2): ``init``, ``make_train_step``, ``make_eval_step``, ``sample``;
plus ``validate_config`` and ``visualize``. Research helpers: ``encode``, ``posterior_means``,
``decode``, ``reconstruct``, ``interpolate``, ``iwae_log_likelihood``, ``active_units``.

``config.model`` fields (defaults in brackets):
  name             '<conv|mlp>_<ae|dae|vae|cvae>' (see ``MODELS``)
  image_shape      (H, W, C) of the dataset's images
  latent_dim       D, latent units (categorical latent: D variables of ``num_categories`` classes)
  likelihood       'bernoulli' (cross-entropy) | 'gaussian' (MSE) ['bernoulli']
  decoder_scale    std of a Gaussian decoder [0.1];  learn_scale: learn a per-pixel std (from decoder_scale) [False]
  features, hidden, extra_convs   conv architecture [(32, 64), 256, 0];  mlp_hidden [(512, 256)]
  noise, noise_level              DAE corruption ('gaussian' | 'salt_pepper' | 'masking') and level
  posterior        'gaussian' | 'laplace' | 'categorical' ['gaussian']           (VAEs)
  prior            'gaussian' | 'laplace' | 'mog' | 'uniform' ['gaussian']         (VAEs)
  kl               'auto' (closed form where one exists) | 'mc' (one-sample Monte Carlo) ['auto']
  beta, kl_warmup_steps           KL weight beta * min(1, step / warmup) [1.0, 0]
  mog_components   M of a 'mog' prior [10];  num_categories  K of a categorical latent [10]
  gumbel_tau, gumbel_tau_min, gumbel_anneal_rate, gumbel_hard   Gumbel-softmax [1.0, 0.5, 0.0, False]
  num_classes      labels of a CVAE [10]
  exclude_labels   labels whose rows get zero training-loss weight (anomaly detection) [()]
``config.eval``: iwae_k (0: no IWAE) and iwae_chunk (importance samples per chunk, 0: auto).
"""
from typing import Any

from gen_jax.core.errors import ConfigError
from gen_jax.families.autoencoders.latents import COMPATIBLE_PRIORS, POSTERIORS, PRIORS
from gen_jax.families.autoencoders.losses import LIKELIHOODS
from gen_jax.families.autoencoders.metrics import active_units, iwae_log_likelihood
from gen_jax.families.autoencoders.models import MODELS, is_variational, model_kind
from gen_jax.families.autoencoders.noise import NOISES
from gen_jax.families.autoencoders.objectives import negative_elbo
from gen_jax.families.autoencoders.sample import (decode, encode, interpolate, posterior_means, reconstruct, sample,
                                                  visualize)
from gen_jax.families.autoencoders.step import init, make_eval_step, make_train_step

__all__ = ['init', 'make_train_step', 'make_eval_step', 'sample', 'validate_config', 'visualize', 'encode',
           'posterior_means', 'decode', 'reconstruct', 'interpolate', 'negative_elbo', 'iwae_log_likelihood',
           'active_units', 'MODELS']


def _positive_int(value: Any, field: str, minimum: int = 1) -> None:
  if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
    raise ConfigError(f'config.{field}={value!r} must be an integer >= {minimum}.')


def _validate_latents(m: Any) -> None:
  post, prior = m.get('posterior', 'gaussian'), m.get('prior', 'gaussian')
  if post not in POSTERIORS:
    raise ConfigError(f'config.model.posterior={post!r} is unknown; allowed: {", ".join(POSTERIORS)}.')
  if prior not in PRIORS:
    raise ConfigError(f'config.model.prior={prior!r} is unknown; allowed: {", ".join(PRIORS)}.')
  if prior not in COMPATIBLE_PRIORS[post]:
    raise ConfigError(f'config.model.prior={prior!r} cannot be paired with posterior={post!r}; allowed priors '
                      f'for it: {", ".join(COMPATIBLE_PRIORS[post])}.')
  if m.get('kl', 'auto') not in ('auto', 'mc'):
    raise ConfigError(f'config.model.kl={m.kl!r}; allowed: auto (closed form where one exists), mc.')
  if post == 'categorical':
    if m.get('kl', 'auto') != 'auto':
      raise ConfigError('config.model.kl="mc" is not supported for a categorical latent (its KL to the '
                        'uniform prior is computed exactly); use kl="auto".')
    _positive_int(m.get('num_categories', 10), 'model.num_categories', 2)
    tau, tau_min = m.get('gumbel_tau', 1.0), m.get('gumbel_tau_min', 0.5)
    if not tau > 0 or not tau_min > 0 or m.get('gumbel_anneal_rate', 0.0) < 0:
      raise ConfigError(f'Gumbel-softmax needs config.model.gumbel_tau={tau} > 0, gumbel_tau_min={tau_min} > 0 '
                        f'and gumbel_anneal_rate={m.get("gumbel_anneal_rate", 0.0)} >= 0.')
  if prior == 'mog':
    _positive_int(m.get('mog_components', 10), 'model.mog_components')
  beta = m.get('beta', 1.0)
  if not isinstance(beta, (int, float)) or beta < 0:
    raise ConfigError(f'config.model.beta={beta!r} must be a number >= 0.')
  _positive_int(m.get('kl_warmup_steps', 0), 'model.kl_warmup_steps', 0)


def _validate_labels(config: Any, info: Any) -> None:
  m = config.model
  exclude = tuple(m.get('exclude_labels', ()) or ())
  needs = exclude or model_kind(m.name) == 'cvae'
  if not needs:
    return
  what = 'a conditional VAE' if model_kind(m.name) == 'cvae' else 'config.model.exclude_labels'
  if 'label' not in info.element_spec or not info.num_classes:
    raise ConfigError(f'{what} needs a labelled dataset; {info.name!r} has no labels.')
  if model_kind(m.name) == 'cvae':
    n = m.get('num_classes', 10)
    if n != info.num_classes:
      raise ConfigError(f'config.model.num_classes={n!r} must equal the {info.num_classes} classes of '
                        f'{info.name!r}.')
  bad = [v for v in exclude if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < info.num_classes]
  if bad:
    raise ConfigError(f'config.model.exclude_labels has {bad}; labels of {info.name!r} lie in '
                      f'0..{info.num_classes - 1}.')
  if len(set(exclude)) >= info.num_classes:
    raise ConfigError('config.model.exclude_labels excludes every class: nothing would be trained on.')


def validate_config(config: Any, info: Any) -> None:
  """Checks the model against the dataset before anything compiles (ConfigError otherwise)."""
  m = config.model
  if m.name not in MODELS:
    raise ConfigError(f'config.model.name={m.name!r} is not an autoencoder; allowed: {", ".join(MODELS)}.')
  if info.kind != 'image' or 'image' not in info.element_spec:
    raise ConfigError(f'the autoencoders need an image dataset; config.dataset.name={info.name!r} is {info.kind!r}.')
  shape = tuple(info.element_spec['image'][0])
  if tuple(m.get('image_shape', ())) != shape:
    raise ConfigError(f'config.model.image_shape={tuple(m.get("image_shape", ()))} does not match the images of '
                      f'{info.name!r}, which are {shape} (H, W, C); set config.model.image_shape={shape}.')
  lik = m.get('likelihood', 'bernoulli')
  if lik not in LIKELIHOODS:
    raise ConfigError(f'config.model.likelihood={lik!r} is unknown; allowed: {", ".join(LIKELIHOODS)}.')
  if lik == 'bernoulli' and config.dataset.get('scale', '01') != '01':
    raise ConfigError('a Bernoulli decoder needs data in [0, 1]: set config.dataset.scale="01".')
  if lik == 'gaussian' and not m.get('decoder_scale', 0.1) > 0:
    raise ConfigError(f'config.model.decoder_scale={m.decoder_scale!r} must be > 0 (a standard deviation).')
  _positive_int(m.get('latent_dim', None), 'model.latent_dim')
  if m.name.startswith('conv_'):
    n = len(m.get('features', (32, 64)))
    if shape[0] % 2 ** n or shape[1] % 2 ** n:
      raise ConfigError(f'{m.name} halves the image {n} times (len(config.model.features)={n}), so H and W must '
                        f'be divisible by {2 ** n}; {info.name!r} images are {shape[:2]}. Use fewer features.')
  if m.get('dtype', 'float32') not in ('float32', 'bfloat16'):
    raise ConfigError(f'config.model.dtype={m.dtype!r}; allowed: float32, bfloat16.')
  if model_kind(m.name) == 'dae':
    noise, level = m.get('noise', None), m.get('noise_level', None)
    if noise not in NOISES:
      raise ConfigError(f'a denoising autoencoder needs config.model.noise in {", ".join(NOISES)}; got {noise!r}.')
    top = None if noise == 'gaussian' else 1.0
    if not isinstance(level, (int, float)) or level < 0 or (top is not None and level > top):
      raise ConfigError(f'config.model.noise_level={level!r} must be a number >= 0 (a standard deviation for '
                        'gaussian noise, a probability in [0, 1] for salt_pepper and masking).')
  if is_variational(m.name):
    _validate_latents(m)
  _validate_labels(config, info)
  k = config.get('eval', {}).get('iwae_k', 0)
  _positive_int(k, 'eval.iwae_k', 0)
  _positive_int(config.get('eval', {}).get('iwae_chunk', 0), 'eval.iwae_chunk', 0)
  if k and not is_variational(m.name):
    raise ConfigError(f'config.eval.iwae_k={k} needs a VAE ({m.name} has no posterior); set it to 0.')
