"""Autoencoder family: VAEs (convolutional and MLP) with Bernoulli or Gaussian decoders.

Contract (DESIGN.md section 2): ``init``, ``make_train_step``, ``make_eval_step``,
``sample``; plus ``validate_config`` and ``visualize``.
"""
from typing import Any

from gen_jax.core.errors import ConfigError
from gen_jax.families.autoencoders.models import MODELS
from gen_jax.families.autoencoders.sample import reconstruct, sample, visualize
from gen_jax.families.autoencoders.step import init, make_eval_step, make_train_step, negative_elbo

LIKELIHOODS = ('bernoulli', 'gaussian')

__all__ = ['init', 'make_train_step', 'make_eval_step', 'sample', 'reconstruct', 'visualize',
           'negative_elbo', 'validate_config', 'MODELS']


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
  if not isinstance(m.get('latent_dim', None), int) or m.latent_dim <= 0:
    raise ConfigError(f'config.model.latent_dim={m.get("latent_dim", None)!r} must be a positive integer.')
  if m.name == 'conv_vae':
    n = len(m.get('features', (32, 64)))
    if shape[0] % 2 ** n or shape[1] % 2 ** n:
      raise ConfigError(f'conv_vae halves the image {n} times (len(config.model.features)={n}), so H and W must '
                        f'be divisible by {2 ** n}; {info.name!r} images are {shape[:2]}. Use fewer features.')
  if m.get('dtype', 'float32') not in ('float32', 'bfloat16'):
    raise ConfigError(f'config.model.dtype={m.dtype!r}; allowed: float32, bfloat16.')
