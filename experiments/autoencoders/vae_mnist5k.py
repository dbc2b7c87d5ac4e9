"""Convolutional VAE on the embedded mnist5k digits (the default experiment).

Dynamically binarized 28x28 digits, Bernoulli decoder, 32-d Gaussian latent.
  ./launch.sh --config=experiments/autoencoders/vae_mnist5k.py          # ~4 min on 2 CPU cores
  ./launch.sh --config=experiments/autoencoders/vae_mnist5k.py:tiny     # seconds: a smoke test
"""
from gen_jax.core.config import base_config, parse_variant


def get_config(arg: str | None = None):
  variant = parse_variant(arg, ('tiny',))
  c = base_config()
  c.family = 'autoencoders'
  c.batch_size = 128
  c.num_train_steps = 2000
  c.log_every = 100
  c.eval_every = 500
  c.checkpoint_every = 500
  c.sample_every = 500
  c.dataset.name = 'mnist5k'
  c.dataset.binarize = 'sample'
  c.model.name = 'conv_vae'
  c.model.image_shape = (28, 28, 1)
  c.model.features = (16, 32)
  c.model.extra_convs = 0
  c.model.hidden = 256
  c.model.latent_dim = 32
  c.model.likelihood = 'bernoulli'
  c.model.beta = 1.0
  c.optim.lr = 1e-3
  c.optim.schedule = 'cosine'
  c.optim.warmup_steps = 100
  c.optim.end_lr_factor = 0.05
  c.optim.ema_decay = 0.999
  if variant == 'tiny':
    c.batch_size = 16
    c.num_train_steps = 12
    c.log_every = 4
    c.eval_every = 12
    c.checkpoint_every = 6
    c.sample_every = 12
    c.eval_batch_size = 200
    c.model.features = (8, 16)
    c.model.hidden = 32
    c.model.latent_dim = 4
    c.optim.warmup_steps = 2
  return c
