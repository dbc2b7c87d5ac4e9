"""Deterministic autoencoder on the embedded mnist5k digits (28x28 grey levels in [0, 1]).

Convolutional encoder/decoder, 32-d code, cross-entropy (Bernoulli) reconstruction loss.
  ./launch.sh --config=experiments/autoencoders/ae_mnist5k.py --workdir=runs/ae
  ./launch.sh --config=experiments/autoencoders/ae_mnist5k.py:mlp,mse --config.model.latent_dim=8 --workdir=runs/ae8

Variants (comma-separated, any order):
  tiny   seconds on CPU: a smoke test
  mlp    MLP encoder/decoder (512-256) instead of the convolutional ones (~10x faster on CPU)
  mse    squared-error loss (a Gaussian decoder with fixed std 0.1) instead of cross-entropy
An autoencoder has no prior: its "samples" decode N(0, I) codes (illustrative only), and its
eval reports reconstruction errors (recon, mse, psnr, bce) but no ELBO.
"""
from gen_jax.core.config import Variants
from gen_jax.families.autoencoders.config import autoencoder_base, shrink_to_tiny

VARIANTS = Variants('tiny', 'mlp', 'mse')


def get_config(arg: str | None = None):
  v = VARIANTS.parse(arg)
  c = autoencoder_base('mlp_ae' if 'mlp' in v else 'conv_ae', latent_dim=32)
  if 'mse' in v:
    c.model.likelihood = 'gaussian'
  if 'tiny' in v:
    shrink_to_tiny(c)
  return c
