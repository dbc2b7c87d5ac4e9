"""StyleGAN2-style generator at 32x32 on mnist5k (digits padded from 28x28; samples are cropped back).

  ./launch.sh --config=experiments/gans/stylegan.py --workdir=runs/stylegan
  ./launch.sh --config=experiments/gans/stylegan.py:pl --workdir=runs/stylegan_pl      # + path-length regularisation
  ./launch.sh --config=experiments/gans/stylegan.py --workdir=runs/stylegan --mode=sample --config.sample.truncation_psi=0.7
  ./launch.sh --config=experiments/gans/stylegan.py:celeb_a --workdir=runs/stylegan_celeba   # tfds celeb_a at 64x64

Mapping network z -> w (2 layers as in StyleGAN2-ADA's CIFAR-10 setting, 8 in the paper:
``--config.model.mapping_layers=8``; learning-rate multiplier 0.01), modulated / demodulated 3x3
convolutions, per-layer noise with learned strength, a learned 4x4 constant, skip-connection RGB
outputs, bilinear upsampling in G (``--config.model.upsample=nearest``: the old pixel copies), style mixing (probability 0.9), truncation with the tracked mean w; a residual
discriminator with minibatch std; equalized learning rate everywhere; non-saturating loss with R1
(gamma 10, StyleGAN2's default) on every discriminator update (lazy R1, ``--config.gan.r1_every=16``,
saves compute on GPUs, but XLA:CPU runs convolution gradients inside the conditional it needs very
slowly), Adam(1e-3, betas 0, 0.99), EMA of G. CPU-sized: widths 32, 32, 16, 16 at 4, 8, 16, 32
pixels, w of 32. Short runs on mnist5k still collapse to a few stroke-like glyphs (docs/gans.md).

Variants (comma-separated):
  mnist5k | celeb_a      the data (default mnist5k)
  pl            path-length regularisation (weight 2, on every generator update)
  cgan          conditional: the label embedding enters the mapping network; projection discriminator
  minimax | nonsaturating | lsgan | hinge | wgan_gp   the loss (default nonsaturating)
  sn | r1 | pac | diffaug | ada   regularisers (gen_jax/families/gans/config.py:apply_variants)
  tiny          seconds on a CPU: a smoke test
"""
from gen_jax.core.config import Variants
from gen_jax.families.gans.config import (
  LOSS_VARIANTS,
  REGULARISER_VARIANTS,
  apply_variants,
  mnist5k_config,
  shrink_to_tiny,
)

DATASETS = ('mnist5k', 'celeb_a')
VARIANTS = Variants(*DATASETS, 'pl', 'cgan', *LOSS_VARIANTS, *[r for r in REGULARISER_VARIANTS if r != 'mbstd'],
                    'tiny', exclusive=[DATASETS, LOSS_VARIANTS])


def get_config(arg: str | None = None):
  v = VARIANTS.parse(arg)
  data = v.pick(*DATASETS, default='mnist5k')
  c = mnist5k_config('stylegan')
  c.model.resolution = 32
  c.model.channels = (32, 32, 16, 16)
  c.model.latent_dim = 32
  c.model.w_dim = 32
  c.model.mapping_layers = 2
  c.model.mapping_lr_mul = 0.01
  c.model.noise_mode = 'random'
  c.model.upsample = 'linear'       # bilinear 2x in G (StyleGAN2's low-pass filter); 'nearest' paints 8x8 blocks
  c.model.mbstd_group = 4
  c.model.mbstd_features = 1
  c.gan.r1_gamma = 10.0
  c.gan.r1_every = 1
  c.gan.style_mixing = 0.9
  for o in (c.optim, c.optim_d):
    o.lr, o.b1, o.b2 = 1e-3, 0.0, 0.99
  if data == 'celeb_a':
    c.dataset.name = 'celeb_a'
    c.dataset.center_crop = 140     # the face region of the 218x178 aligned images
    c.dataset.resize = 64
    c.model.data_shape = (64, 64, 3)
    c.model.resolution = 64
    c.model.channels = (256, 256, 256, 128, 64)
    c.model.latent_dim = c.model.w_dim = 256
    c.num_train_steps = 100_000
    c.eval.metrics = ('nll',)          # no project classifier for celeb_a: give an Inception weights file
  if 'pl' in v:
    c.gan.pl_weight, c.gan.pl_every = 2.0, 1
  if 'cgan' in v:
    c.model.num_classes = 10
  apply_variants(c, v)
  if 'tiny' in v:
    shrink_to_tiny(c)
  return c
