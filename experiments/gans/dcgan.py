"""DCGAN (Radford et al. 2016) and its conditional version (cGAN with a projection discriminator).

  ./launch.sh --config=experiments/gans/dcgan.py --workdir=runs/dcgan                    # mnist5k, 28x28 digits
  ./launch.sh --config=experiments/gans/dcgan.py:cgan --workdir=runs/cgan                # class-conditional
  ./launch.sh --config=experiments/gans/dcgan.py:hinge,sn --workdir=runs/dcgan_sn        # SNGAN-style
  ./launch.sh --config=experiments/gans/dcgan.py:cifar10,cgan --workdir=runs/cgan_cifar  # tfds cifar10 (download)
  ./launch.sh --config=experiments/gans/dcgan.py:celeb_a --workdir=runs/dcgan_celeba     # tfds celeb_a at 64x64
  ./launch.sh --config=experiments/gans/dcgan.py --workdir=runs/dcgan --mode=eval        # FID/KID/P/R of 1,000 samples

Generator: dense to a 7x7 map (4x4 for 32 and 64 pixel images), then transposed convolutions (or
nearest-neighbour upsampling + 3x3 convolutions: ``nearest``) with batch norm and ReLU, tanh output;
discriminator: 4x4 stride-2 convolutions with LeakyReLU 0.2. Adam(2e-4, 0.5, 0.999) for both.

Variants (comma-separated):
  mnist5k | cifar10 | celeb_a   the data (default mnist5k; the tfds ones are prepared on first use)
  cgan          conditional (cifar10 and mnist5k have labels)
  nearest       upsample + conv instead of transposed convolutions in G
  minimax | nonsaturating | lsgan | hinge | wgan_gp   the loss (default nonsaturating)
  sn | r1 | mbstd | pac | diffaug | ada   regularisers (gen_jax/families/gans/config.py:apply_variants)
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

DATASETS = ('mnist5k', 'cifar10', 'celeb_a')
VARIANTS = Variants(*DATASETS, 'cgan', 'nearest', *LOSS_VARIANTS, *REGULARISER_VARIANTS, 'tiny',
                    exclusive=[DATASETS, LOSS_VARIANTS])


def get_config(arg: str | None = None):
  v = VARIANTS.parse(arg)
  data = v.pick(*DATASETS, default='mnist5k')
  c = mnist5k_config('dcgan')
  c.model.g_features = (64, 32)
  c.model.d_features = (32, 64)
  c.model.upsample = 'nearest' if 'nearest' in v else 'transpose'
  c.model.g_norm = 'batch'
  c.model.d_norm = 'none'
  c.model.minibatch_std = False
  if data == 'cifar10':
    c.dataset.name = 'cifar10'
    c.model.data_shape = (32, 32, 3)
    c.model.latent_dim = 128
    c.model.g_features = (256, 128, 64)
    c.model.d_features = (64, 128, 256)
    c.num_train_steps = 50_000
    c.eval.metrics = ('nll',)          # no project classifier for cifar10: give an Inception weights file
  elif data == 'celeb_a':
    c.dataset.name = 'celeb_a'
    c.dataset.center_crop = 140     # the face region of the 218x178 aligned images
    c.dataset.resize = 64
    c.model.data_shape = (64, 64, 3)
    c.model.latent_dim = 128
    c.model.g_features = (512, 256, 128, 64)
    c.model.d_features = (64, 128, 256, 512)
    c.num_train_steps = 50_000
    c.eval.metrics = ('nll',)
  if 'cgan' in v:
    c.model.num_classes = 10
  apply_variants(c, v)
  if 'tiny' in v:
    shrink_to_tiny(c)
  return c
