"""Convolutional VAE on the embedded mnist5k digits (the default experiment).

Dynamically binarized 28x28 digits, Bernoulli decoder, 32-d Gaussian latent.
  ./launch.sh --config=experiments/autoencoders/vae_mnist5k.py          # ~4 min on 2 CPU cores
  ./launch.sh --config=experiments/autoencoders/vae_mnist5k.py:tiny     # seconds: a smoke test

Variants (comma-separated, any order, e.g. ``:mog,tiny`` or ``:mlp,laplace``):
  tiny      seconds on CPU: a smoke test
  mlp       MLP encoder/decoder (512-256) instead of the convolutional ones (~10x faster on CPU)
  gaussian  Gaussian decoder with fixed std 0.1 (MSE) on dequantized grey-level digits
  learned   Gaussian decoder with a learned per-pixel std, on dequantized grey-level digits
  grey      Bernoulli (cross-entropy) decoder on the same dequantized grey-level digits
  beta4     beta-VAE with beta = 4
  warmup    KL warm-up: the KL weight grows linearly from 0 to beta over the first 25% of training
  mog       learned mixture-of-Gaussians prior (10 components; KL by Monte Carlo)
  laplace   Laplace posterior and Laplace(0, 1) prior (closed-form KL)
  gumbel    30 categorical latents of 10 classes, Gumbel-softmax relaxation (tau 1 -> 0.5)
  cvae      conditional VAE: encoder and decoder see the one-hot label
  latent2   a 2-d latent (for plotting latents and the decoded manifold)
Evaluate with the IWAE bound (k = 5000 importance samples):
  ./launch.sh --config=experiments/autoencoders/vae_mnist5k.py --workdir=runs/vae --mode=eval \
      --config.eval.iwae_k=5000
"""
import math

from gen_jax.core.config import Variants
from gen_jax.families.autoencoders.config import autoencoder_base, shrink_to_tiny

DECODERS = ('gaussian', 'learned', 'grey')
LATENTS = ('mog', 'laplace', 'gumbel')
VARIANTS = Variants('tiny', 'mlp', *DECODERS, 'beta4', 'warmup', *LATENTS, 'cvae', 'latent2',
                    exclusive=[DECODERS, LATENTS])


def get_config(arg: str | None = None):
  v = VARIANTS.parse(arg)
  decoder = v.pick(*DECODERS)
  latent = v.pick(*LATENTS)
  c = autoencoder_base('conv_vae')
  c.dataset.binarize = 'sample'
  c.model.learn_scale = False
  c.model.posterior = 'gaussian'
  c.model.prior = 'gaussian'
  c.model.kl = 'auto'
  c.model.beta = 1.0
  c.model.kl_warmup_steps = 0
  if 'mlp' in v:
    c.model.name = 'mlp_vae'
  if 'cvae' in v:
    c.model.name = c.model.name.replace('_vae', '_cvae')
    c.model.num_classes = 10
  if decoder is not None:  # continuous grey levels in [0, 1]: y = (pixel + u) / 256
    c.dataset.binarize = 'none'
    c.dataset.dequantize = 'uniform'
    c.model.likelihood = 'bernoulli' if decoder == 'grey' else 'gaussian'
    c.model.learn_scale = decoder == 'learned'
  if 'beta4' in v:
    c.model.beta = 4.0
  if latent == 'mog':
    c.model.prior = 'mog'
    c.model.mog_components = 10
  elif latent == 'laplace':
    c.model.posterior = 'laplace'
    c.model.prior = 'laplace'
  elif latent == 'gumbel':
    c.model.posterior = 'categorical'
    c.model.prior = 'uniform'
    c.model.latent_dim = 30
    c.model.num_categories = 10
    c.model.gumbel_tau = 1.0
    c.model.gumbel_tau_min = 0.5
    c.model.gumbel_hard = False
  if 'latent2' in v:
    c.model.latent_dim = 2
  if 'tiny' in v:
    shrink_to_tiny(c)
  if 'warmup' in v:
    c.model.kl_warmup_steps = max(1, c.num_train_steps // 4)
  if latent == 'gumbel':  # tau reaches gumbel_tau_min at the end of training
    c.model.gumbel_anneal_rate = math.log(c.model.gumbel_tau / c.model.gumbel_tau_min) / c.num_train_steps
  return c
