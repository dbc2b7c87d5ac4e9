"""Progressive GAN: generator and discriminator grow 4 -> 8 -> 16 -> 32 on mnist5k (digits padded to 32x32).

  ./launch.sh --config=experiments/gans/progan.py --workdir=runs/progan
  ./launch.sh --config=experiments/gans/progan.py:celeb_a --workdir=runs/progan_celeba   # tfds celeb_a, up to 64x64

Pixel norm, minibatch std, equalized learning rate, linear outputs, WGAN-GP with the epsilon-drift
term (Karras et al. 2018; n_critic 1 as in the paper), Adam(1e-3, betas 0, 0.99), EMA of G. CPU-sized:
widths 32, 32, 16, 16 at 4, 8, 16, 32 pixels, 300 stable + 300 fade-in steps per resolution (the
32x32 stage fades in at step 1500 and is complete at 1800 of 3000). The growth schedule (``config.model.stable_steps``, ``fade_steps``) runs inside one compiled step: stage
and fade-in alpha are functions of the step, so a run resumed in the middle of a fade-in continues
exactly (gen_jax/families/gans/progan.py).

Variants (comma-separated):
  mnist5k | celeb_a      the data (default mnist5k)
  cgan          conditional (label embedding concatenated to z; projection discriminator)
  minimax | nonsaturating | lsgan | hinge | wgan_gp   the loss (default: WGAN-GP with n_critic 1 and drift)
  sn | r1 | pac | diffaug | ada   regularisers (gen_jax/families/gans/config.py:apply_variants)
  tiny          seconds on a CPU: a smoke test
"""
from gen_jax.core.config import Variants
from gen_jax.families.gans import progan
from gen_jax.families.gans.config import (
  LOSS_VARIANTS,
  REGULARISER_VARIANTS,
  apply_variants,
  mnist5k_config,
  shrink_to_tiny,
)

DATASETS = ('mnist5k', 'celeb_a')
VARIANTS = Variants(*DATASETS, 'cgan', *LOSS_VARIANTS, *[r for r in REGULARISER_VARIANTS if r != 'mbstd'],
                    'tiny', exclusive=[DATASETS, LOSS_VARIANTS])


def get_config(arg: str | None = None):
  v = VARIANTS.parse(arg)
  data = v.pick(*DATASETS, default='mnist5k')
  c = mnist5k_config('progan')
  c.model.resolution = 32
  c.model.channels = (32, 32, 16, 16)
  c.model.latent_dim = 32
  c.model.mbstd_group = 4
  c.model.stable_steps = 300
  c.model.fade_steps = 300       # growth ends at 3 * (300 + 300) = 1800 of the 3000 steps
  c.gan.loss = 'wgan'
  c.gan.gp_weight = 10.0
  c.gan.drift_weight = 0.001
  c.optim.ema_decay = 0.999
  for o in (c.optim, c.optim_d):
    o.lr, o.b1, o.b2 = 1e-3, 0.0, 0.99
  if data == 'celeb_a':
    c.dataset.name = 'celeb_a'
    c.dataset.center_crop = 140     # the face region of the 218x178 aligned images
    c.dataset.resize = 64
    c.model.data_shape = (64, 64, 3)
    c.model.resolution = 64
    c.model.channels = (256, 256, 256, 128, 64)
    c.model.latent_dim = 256
    c.model.stable_steps = c.model.fade_steps = 10_000
    c.num_train_steps = progan.growth_end(5, 10_000, 10_000) + 20_000
    c.eval.metrics = ('nll',)
  if 'cgan' in v:
    c.model.num_classes = 10
  if v.pick(*LOSS_VARIANTS) is not None:     # another loss: no WGAN-GP terms
    c.gan.gp_weight = c.gan.drift_weight = 0.0
  apply_variants(c, v, default_loss=None)
  if 'tiny' in v:
    shrink_to_tiny(c)
  return c
