"""Config of the autoencoder family: the defaults its experiments share, ``tiny``, and ``validate_config``.

``config.model`` fields (defaults in brackets):
  name             '<conv|mlp>_<ae|dae|vae|cvae>' (see ``models.MODELS``)
  data_shape       (H, W, C) of the dataset's images
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
  dtype            compute dtype 'float32' | 'bfloat16' ['float32']
``config.eval``: iwae_k (0: no IWAE) and iwae_chunk (importance samples per chunk, 0: auto).

Variants of the experiment files are parsed by ``gen_jax.core.config.Variants``.
"""
from typing import Any

import ml_collections

from gen_jax.core import checks
from gen_jax.core.config import base_config
from gen_jax.families.autoencoders.latents import COMPATIBLE_PRIORS, POSTERIORS, PRIORS
from gen_jax.families.autoencoders.losses import LIKELIHOODS
from gen_jax.families.autoencoders.models import MODELS, is_variational, model_kind
from gen_jax.families.autoencoders.noise import NOISES


def autoencoder_base(model_name: str, latent_dim: int = 32) -> ml_collections.ConfigDict:
  """The common part of the mnist5k autoencoder experiments (28x28 grey-level digits in [0, 1])."""
  c = base_config()
  c.family = 'autoencoders'
  c.batch_size = 128
  c.num_train_steps = 2000
  c.log_every = 100
  c.eval_every = 500
  c.checkpoint_every = 500
  c.sample_every = 500
  c.dataset.name = 'mnist5k'
  c.model.name = model_name
  c.model.data_shape = (28, 28, 1)
  c.model.features = (16, 32)
  c.model.extra_convs = 0
  c.model.hidden = 256
  c.model.mlp_hidden = (512, 256)
  c.model.latent_dim = latent_dim
  c.model.likelihood = 'bernoulli'
  c.model.decoder_scale = 0.1
  c.model.exclude_labels = ()
  c.optim.lr = 1e-3
  c.optim.schedule = 'cosine'
  c.optim.warmup_steps = 100
  c.optim.end_lr_factor = 0.05
  c.optim.ema_decay = 0.999
  add_eval_section(c)
  return c


def add_eval_section(c: Any) -> None:
  """``config.eval``: iwae_k (importance samples for the IWAE bound; 0 = off, the fast default for
  evals during training) and iwae_chunk (samples per chunk; 0 = auto)."""
  c.eval.update(dict(iwae_k=0, iwae_chunk=0))


def shrink_to_tiny(c: Any) -> None:
  """A seconds-long smoke test of the same model: 12 steps of batch 16, small networks."""
  c.batch_size = 16
  c.num_train_steps = 12
  c.log_every = 4
  c.eval_every = 12
  c.checkpoint_every = 6
  c.sample_every = 12
  c.eval_batch_size = 200
  c.model.features = (8, 16)
  c.model.hidden = 32
  c.model.mlp_hidden = (64, 32)
  c.model.latent_dim = min(int(c.model.latent_dim), 4)
  c.model.mog_components = 3
  c.optim.warmup_steps = 2


def _validate_latents(m: Any) -> None:
  post = checks.choice(m.get('posterior', 'gaussian'), 'model.posterior', POSTERIORS)
  prior = checks.choice(m.get('prior', 'gaussian'), 'model.prior', PRIORS)
  checks.choice(prior, 'model.prior', COMPATIBLE_PRIORS[post], what=f'a prior for posterior={post!r}')
  kl = checks.choice(m.get('kl', 'auto'), 'model.kl', ('auto', 'mc'))
  if post == 'categorical':
    checks.require(kl == 'auto', 'config.model.kl="mc" is not supported for a categorical latent (its KL to the '
                   'uniform prior is computed exactly); use kl="auto".')
    checks.integer(m.get('num_categories', 10), 'model.num_categories', 2)
    checks.number(m.get('gumbel_tau', 1.0), 'model.gumbel_tau', 0.0, low_open=True)
    checks.number(m.get('gumbel_tau_min', 0.5), 'model.gumbel_tau_min', 0.0, low_open=True)
    checks.number(m.get('gumbel_anneal_rate', 0.0), 'model.gumbel_anneal_rate', 0.0)
  if prior == 'mog':
    checks.integer(m.get('mog_components', 10), 'model.mog_components')
  checks.number(m.get('beta', 1.0), 'model.beta', 0.0)
  checks.integer(m.get('kl_warmup_steps', 0), 'model.kl_warmup_steps', 0)


def validate_config(config: Any, info: Any) -> None:
  """Checks the model against the dataset before anything compiles (ConfigError otherwise)."""
  m = config.model
  checks.choice(m.name, 'model.name', MODELS, what='an autoencoder')
  shape = checks.image_data(info, 'autoencoders')
  checks.data_shape(m.get('data_shape', ()), info)
  lik = checks.choice(m.get('likelihood', 'bernoulli'), 'model.likelihood', LIKELIHOODS)
  checks.require(lik != 'bernoulli' or config.dataset.get('scale', '01') == '01',
                 'a Bernoulli decoder needs data in [0, 1]: set config.dataset.scale="01".')
  if lik == 'gaussian':
    checks.number(m.get('decoder_scale', 0.1), 'model.decoder_scale', 0.0, low_open=True, hint='a standard deviation')
  checks.integer(m.get('latent_dim', None), 'model.latent_dim')
  if m.name.startswith('conv_'):
    checks.divisible(shape, len(m.get('features', (32, 64))), 'model.features', info, m.name)
  checks.dtype(m.get('dtype', 'float32'))
  if model_kind(m.name) == 'dae':
    noise = checks.choice(m.get('noise', None), 'model.noise', NOISES)
    checks.number(m.get('noise_level', None), 'model.noise_level', 0.0, None if noise == 'gaussian' else 1.0,
                  hint='a standard deviation for gaussian noise, a probability for salt_pepper and masking')
  if is_variational(m.name):
    _validate_latents(m)
  if model_kind(m.name) == 'cvae':
    checks.class_labels(m.get('num_classes', 10), info, needed_by='a conditional VAE')
  exclude = checks.label_values(m.get('exclude_labels', ()), info, 'model.exclude_labels')
  checks.require(not exclude or len(set(exclude)) < info.num_classes,
                 'config.model.exclude_labels excludes every class: nothing would be trained on.')
  k = checks.integer(config.get('eval', {}).get('iwae_k', 0), 'eval.iwae_k', 0)
  checks.integer(config.get('eval', {}).get('iwae_chunk', 0), 'eval.iwae_chunk', 0)
  checks.require(not k or is_variational(m.name),
                 f'config.eval.iwae_k={k} needs a VAE ({m.name} has no posterior); set it to 0.')
