"""GAN with MLP generator and discriminator (Goodfellow et al. 2014) on 2-D toy densities or flattened digits.

  ./launch.sh --config=experiments/gans/mlp_gan.py:8gaussians --workdir=runs/gan_8g           # 2-D points
  ./launch.sh --config=experiments/gans/mlp_gan.py:25gaussians,minimax,pac --workdir=runs/gan_25g_pac
  ./launch.sh --config=experiments/gans/mlp_gan.py:mnist5k --workdir=runs/gan_mnist          # flattened 28x28 digits
Samples of points are written as .npy by --mode=sample; experiments/gans/study_mode_collapse.py
compares every loss and regulariser on the Gaussian mixtures.

Variants (comma-separated):
  8gaussians | 25gaussians | moons | checkerboard | spirals | rings | mnist5k   the data (default 8gaussians)
  cgan          conditional: G and D see the mixture component / digit class
  minimax | nonsaturating | lsgan | hinge | wgan_gp   the loss (default nonsaturating; wgan_gp: Wasserstein
                loss, gradient penalty 10, 5 critic updates per G update, each on its own batch)
  sn | r1 | mbstd | pac   spectral norm / R1 (gamma 1, every 4 D updates) / minibatch std / PacGAN (packs of 4)
  tiny          seconds on a CPU: a smoke test
"""
from gen_jax.core.config import Variants
from gen_jax.families.gans.config import (
  LOSS_VARIANTS,
  REGULARISER_VARIANTS,
  apply_variants,
  gan_config,
  mnist5k_config,
  shrink_to_tiny,
)

DENSITIES = ('8gaussians', '25gaussians', 'moons', 'checkerboard', 'spirals', 'rings')
DATASETS = DENSITIES + ('mnist5k',)
NUM_CLASSES = {'moons': 2, '8gaussians': 8, '25gaussians': 25, 'checkerboard': 8, 'spirals': 2, 'rings': 4,
               'mnist5k': 10}
VARIANTS = Variants(*DATASETS, *LOSS_VARIANTS, *[r for r in REGULARISER_VARIANTS if r not in ('diffaug', 'ada')],
                    'cgan', 'tiny', exclusive=[DATASETS, LOSS_VARIANTS])


def get_config(arg: str | None = None):
  v = VARIANTS.parse(arg)
  data = v.pick(*DATASETS, default='8gaussians')
  if data == 'mnist5k':
    c = mnist5k_config('mlp')
    c.model.hidden = (512, 512)
    c.model.latent_dim = 64
  else:
    c = gan_config('mlp')
    c.batch_size = 256
    c.num_train_steps = 5000
    c.log_every = 250
    c.eval_every = 2500
    c.checkpoint_every = 2500
    c.sample_every = 0           # points: no image grids (use --mode=sample)
    c.eval_batch_size = 2000
    c.dataset.name = f'toy2d/{data}'
    c.dataset.scale = 'none'
    c.model.data_shape = (2,)
    c.model.hidden = (128, 128, 128)
    c.model.latent_dim = 16
    c.optim.lr = c.optim_d.lr = 1e-3     # 1e-4 covers no mode of 8gaussians in 1,500 steps (2 seeds); 1e-3 does
    c.sample.num = 2000
  c.model.name = 'mlp'
  c.model.minibatch_std = False
  if 'cgan' in v:
    c.model.num_classes = NUM_CLASSES[data]
  apply_variants(c, v)
  if 'tiny' in v:
    shrink_to_tiny(c)
    if data != 'mnist5k':
      c.eval_batch_size = 5000
      c.sample_every = 0
      c.sample.num = 256
  return c
