"""Denoising autoencoder on the embedded mnist5k digits (28x28 grey levels in [0, 1]).

Trained on corrupted inputs against the clean digits (cross-entropy loss, 32-d code). The
eval reports the PSNR of the corrupted input (psnr_noisy) and of the denoised output (psnr).
  ./launch.sh --config=experiments/autoencoders/dae_mnist5k.py:salt_pepper --workdir=runs/dae_sp
  ./launch.sh --config=experiments/autoencoders/dae_mnist5k.py:masking --config.model.noise_level=0.7 ...

Variants (comma-separated, any order; one noise type):
  gaussian      additive Gaussian noise, std 0.4, clipped to [0, 1] (the default)
  salt_pepper   40% of the pixels set to 0 or 1 (equally likely)
  masking       50% of the pixels set to 0
  mlp           MLP encoder/decoder (512-256) instead of the convolutional ones
  tiny          seconds on CPU: a smoke test
The noise level is ``config.model.noise_level``.
"""
from gen_jax.core.config import Variants
from gen_jax.families.autoencoders.config import autoencoder_base, shrink_to_tiny

NOISE_LEVELS = {'gaussian': 0.4, 'salt_pepper': 0.4, 'masking': 0.5}
VARIANTS = Variants('tiny', 'mlp', *NOISE_LEVELS, exclusive=[tuple(NOISE_LEVELS)])


def get_config(arg: str | None = None):
  v = VARIANTS.parse(arg)
  noise = v.pick(*NOISE_LEVELS, default='gaussian')
  c = autoencoder_base('mlp_dae' if 'mlp' in v else 'conv_dae', latent_dim=32)
  c.model.noise = noise
  c.model.noise_level = NOISE_LEVELS[noise]
  if 'tiny' in v:
    shrink_to_tiny(c)
  return c
