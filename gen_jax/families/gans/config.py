"""Config of the GAN family: the defaults its experiments share, ``tiny``, and ``validate_config``.

``config.model`` (defaults in brackets):
  name             'mlp' | 'dcgan' | 'stylegan' | 'progan'
  data_shape       one example of the dataset: (H, W, C) images or (D,) points
  latent_dim       z ~ N(0, I) of this size [64]
  num_classes      0, or the dataset's classes: a conditional GAN (label embedding of ``embed_dim``
                   [32] concatenated to z in G; projection discriminator) [0]
  dtype            compute dtype 'float32' | 'bfloat16' ['float32']
  mlp:      hidden (dense widths of G and D) [(256, 256)]; minibatch_std (in D) [False]
  dcgan:    g_features (channels from the smallest map up; len = number of 2x upsamplings) [(64, 32)],
            d_features (channels of the stride-2 convs) [(32, 64)], upsample 'transpose' | 'nearest',
            g_norm 'batch' | 'none' ['batch'], d_norm 'none' | 'layer' ['none'], minibatch_std [False]
  stylegan: resolution (canvas side, 2^k >= the data's) [32], channels (width at 4, 8, ..., resolution),
            w_dim [64], mapping_layers [8], mapping_lr_mul [0.01], noise_mode 'random' | 'const' | 'none',
            upsample (the generator's) 'linear' | 'nearest' ['linear'], mbstd_group [4], mbstd_features [1]
  progan:   resolution, channels (as stylegan), stable_steps and fade_steps (the growth schedule,
            ``progan.py``), mbstd_group
``config.gan`` (the two-player game; each choice works with every model):
  loss             'minimax' | 'nonsaturating' | 'lsgan' | 'hinge' | 'wgan' (``losses.py``) ['nonsaturating']
  n_critic         discriminator updates per generator update; each sees its own 1/n_critic of the
                   batch [1]
  gp_weight        WGAN-GP gradient penalty weight (0: off) [0]
  r1_gamma, r1_every   R1 penalty gamma (0: off), applied lazily every r1_every D updates with weight
                   gamma / 2 * r1_every (StyleGAN2's lazy regularisation) [0, 1]
  drift_weight     ProGAN's epsilon-drift d(x)^2 [0]
  spectral_norm    spectral normalisation of every D layer [False]
  augment          DiffAugment policy, e.g. 'color,translation,cutout' ('' : off); augment_p: the
                   probability each transform is applied per example [1.0]; ada_target > 0 tunes that
                   probability adaptively (ADA) with speed ada_images [0, 20000] (``augment.py``)
  pac              PacGAN: D judges packs of ``pac`` samples (concatenated) [1]
  pl_weight, pl_every, pl_decay   StyleGAN2 path-length regularisation (lazy) [0, 4, 0.01]
  style_mixing     StyleGAN's mixing probability [0.9];  w_avg_decay  tracked mean w [0.995]
``config.optim`` is the generator's optimizer, ``config.optim_d`` the discriminator's (same fields,
``gen_jax.core.optim``; two-timescale training is a different ``lr``). ``optim.ema_decay``: EMA of G.
``config.sample``: num, truncation_psi (StyleGAN, in [0, 1]) [1.0], label (-1: cycle classes),
num_visualize [64].
"""
import math
from typing import Any

import ml_collections

from gen_jax.core import checks
from gen_jax.core.config import base_config
from gen_jax.core.optim import validate_optim_config
from gen_jax.families.gans import progan
from gen_jax.families.gans.augment import TRANSFORMS, parse_policy
from gen_jax.families.gans.losses import LOSSES
from gen_jax.families.gans.models import D_NORMS, G_NORMS, MODELS, UPSAMPLING
from gen_jax.families.gans.stylegan import NOISE_MODES, UPSAMPLE_MODES, num_resolutions

IMAGE_MODELS = ('dcgan', 'stylegan', 'progan')
GROWING = ('stylegan', 'progan')


def gan_defaults() -> ml_collections.ConfigDict:
  """``config.gan`` with every field at its default (module docstring)."""
  return ml_collections.ConfigDict(dict(
      loss='nonsaturating', n_critic=1, gp_weight=0.0, r1_gamma=0.0, r1_every=1, drift_weight=0.0,
      spectral_norm=False, augment='', augment_p=1.0, ada_target=0.0, ada_images=20000, pac=1,
      pl_weight=0.0, pl_every=4, pl_decay=0.01, style_mixing=0.9, w_avg_decay=0.995))


def gan_config(model_name: str) -> ml_collections.ConfigDict:
  """A ``base_config()`` with the GAN fields: Adam(2e-4, b1 0.5, b2 0.999) for both players (DCGAN's
  settings), no gradient clipping, EMA of G with decay 0.999."""
  c = base_config()
  c.family = 'gans'
  c.model = ml_collections.ConfigDict(dict(name=model_name, dtype='float32', data_shape=(), latent_dim=64,
                                           num_classes=0, embed_dim=32))
  c.gan = gan_defaults()
  c.optim.update(dict(name='adam', lr=2e-4, b1=0.5, b2=0.999, grad_clip=0.0, weight_decay=0.0, ema_decay=0.999))
  c.optim_d = ml_collections.ConfigDict(c.optim.to_dict())
  c.optim_d.ema_decay = 0.0
  c.sample.update(dict(num=64, truncation_psi=1.0, label=-1, num_visualize=64))
  return c


def mnist5k_config(model_name: str) -> ml_collections.ConfigDict:
  """The shared part of the mnist5k GAN experiments: 28x28 digits in [-1, 1] (tanh output), batch 64;
  ``--mode=eval`` reports the discriminator's view of the test split and FID / KID / precision /
  recall / classifier scores of 1,000 samples (as many as the test split)."""
  c = gan_config(model_name)
  c.batch_size = 64
  c.num_train_steps = 3000
  c.log_every = 100
  c.eval_every = 1000
  c.checkpoint_every = 1000
  c.sample_every = 500
  c.eval_batch_size = 500
  c.dataset.name = 'mnist5k'
  c.dataset.scale = '-11'
  c.model.data_shape = (28, 28, 1)
  c.eval.metrics = ('nll', 'fid', 'kid', 'precision_recall', 'classifier')
  c.eval.num_samples = 1000
  c.eval.sample_batch_size = 500
  return c


def shrink_to_tiny(c: Any) -> Any:
  """The ``tiny`` variant: 4 steps of batch 8 and the smallest widths, seconds on a CPU (a smoke test
  of the whole loop: train, checkpoint, eval, sample)."""
  c.batch_size = 8 * int(c.gan.get('n_critic', 1))
  c.num_train_steps = 4
  c.log_every = 2
  c.eval_every = 4
  c.checkpoint_every = 2
  c.sample_every = 4
  c.eval_batch_size = 200
  c.eval.metrics = ('nll',)
  c.model.latent_dim = 8
  c.model.embed_dim = 4
  m = c.model
  if m.name == 'mlp':
    m.hidden = (16, 16)
  elif m.name == 'dcgan':
    m.g_features = tuple(8 for _ in m.g_features)
    m.d_features = tuple(8 for _ in m.d_features)
  else:
    m.channels = tuple(8 for _ in m.channels)
    if m.name == 'stylegan':
      m.w_dim = 8
      m.mapping_layers = 2
    else:
      stages = len(m.channels)
      m.stable_steps, m.fade_steps = 1, 1
      c.num_train_steps = max(c.num_train_steps, progan.growth_end(stages, 1, 1))
  c.sample.num = 16
  c.sample.num_visualize = 16
  return c


def is_power_of_two(n: Any) -> bool:
  return isinstance(n, int) and not isinstance(n, bool) and n >= 4 and n & (n - 1) == 0


def _ints(value: Any, field: str) -> tuple[int, ...]:
  values = tuple(value or ())
  checks.require(bool(values) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values),
                 f'config.{field}={value!r} must be a non-empty tuple of positive integers.')
  return values


def d_batch(config: Any) -> int:
  """Examples per discriminator update: ``batch_size / n_critic``."""
  return config.batch_size // int(config.gan.get('n_critic', 1))


def _validate_model(config: Any, info: Any, shape: tuple[int, ...]) -> None:
  m = config.model
  name = m.name
  if name in IMAGE_MODELS:
    checks.require(info.kind == 'image', f'config.model.name={name!r} generates images; {info.name!r} holds '
                   f'{info.kind}. Use config.model.name="mlp".')
  if name == 'mlp':
    _ints(m.get('hidden', (256, 256)), 'model.hidden')
  elif name == 'dcgan':
    g = _ints(m.get('g_features', ()), 'model.g_features')
    d = _ints(m.get('d_features', ()), 'model.d_features')
    checks.divisible(shape, len(g), 'model.g_features', info, 'the DCGAN generator')
    checks.divisible(shape, len(d), 'model.d_features', info, 'the DCGAN discriminator')
    checks.choice(m.get('upsample', 'transpose'), 'model.upsample', UPSAMPLING)
    checks.choice(m.get('g_norm', 'batch'), 'model.g_norm', G_NORMS)
    checks.choice(m.get('d_norm', 'none'), 'model.d_norm', D_NORMS)
  else:
    r = m.get('resolution', None)
    checks.require(is_power_of_two(r), f'config.model.resolution={r!r} must be a power of two >= 4 for '
                   f'{name} (it grows 4, 8, 16, ...); e.g. 32 for 28x28 digits, which are padded to it.')
    checks.require(r >= max(shape[:2]), f'config.model.resolution={r} is smaller than the {tuple(shape[:2])} images '
                   f'of {info.name!r}; set it to {2 ** math.ceil(math.log2(max(shape[:2])))}.')
    ch = _ints(m.get('channels', ()), 'model.channels')
    checks.require(len(ch) == num_resolutions(r), f'config.model.channels={ch} must give one width per resolution '
                   f'4 ... {r}: {num_resolutions(r)} values.')
    if name == 'stylegan':
      checks.integer(m.get('w_dim', 64), 'model.w_dim')
      checks.integer(m.get('mapping_layers', 8), 'model.mapping_layers')
      checks.number(m.get('mapping_lr_mul', 0.01), 'model.mapping_lr_mul', 0.0, 1.0, low_open=True)
      checks.choice(m.get('noise_mode', 'random'), 'model.noise_mode', NOISE_MODES)
      checks.choice(m.get('upsample', 'linear'), 'model.upsample', UPSAMPLE_MODES)
      checks.integer(m.get('mbstd_features', 1), 'model.mbstd_features')
    else:
      stable = checks.integer(m.get('stable_steps', None), 'model.stable_steps', 1)
      fade = checks.integer(m.get('fade_steps', None), 'model.fade_steps', 0, hint='0: no fade-in')
      end = progan.growth_end(len(ch), stable, fade)
      checks.require(end <= config.num_train_steps, f'the ProGAN growth schedule (config.model.stable_steps={stable}, '
                     f'fade_steps={fade}, {len(ch)} resolutions) reaches {r}x{r} at step {end}, after the run ends '
                     f'(config.num_train_steps={config.num_train_steps}); shorten the schedule or train longer.')
  checks.integer(m.get('latent_dim', None), 'model.latent_dim')
  checks.integer(m.get('embed_dim', 32), 'model.embed_dim')


def _validate_batches(config: Any, info: Any) -> None:
  g, m = config.gan, config.model
  n_critic = checks.integer(g.get('n_critic', 1), 'gan.n_critic', 1, hint='discriminator updates per generator update')
  checks.require(config.batch_size % n_critic == 0, f'config.batch_size={config.batch_size} must be divisible by '
                 f'config.gan.n_critic={n_critic}: each discriminator update takes its own 1/n_critic of the batch.')
  pac = checks.integer(g.get('pac', 1), 'gan.pac', 1, hint='samples per discriminator input (PacGAN)')
  per_d = d_batch(config)
  eval_batch = config.get('eval_batch_size', 0) or config.batch_size
  checks.require(per_d % pac == 0 and eval_batch % pac == 0, f'config.gan.pac={pac} must divide the discriminator '
                 f'batch (batch_size / n_critic = {per_d}) and config.eval_batch_size={eval_batch}.')
  checks.require(pac == 1 or not int(m.get('num_classes', 0) or 0), 'config.gan.pac > 1 packs samples of different '
                 'classes; it is not defined for a conditional GAN (set config.gan.pac=1 or config.model.num_classes=0).')
  if m.name in GROWING or m.get('minibatch_std', False):
    group = checks.integer(m.get('mbstd_group', 4), 'model.mbstd_group')
    for what, n in (('the discriminator batch (batch_size / n_critic / pac)', per_d // pac),
                    ('config.eval_batch_size / pac', eval_batch // pac)):
      gs = min(group, n)
      checks.require(n % gs == 0, f'the minibatch-std layer groups {gs} examples, which must divide {what} = {n}; '
                     'change config.model.mbstd_group or the batch size.')


def validate_config(config: Any, info: Any) -> None:
  """Checks model, losses, regularisers and sampling against each other and the dataset (ConfigError)."""
  checks.require('gan' in config, 'the GAN family needs config.gan (loss, n_critic, ...); see '
                 'experiments/gans/dcgan.py.')
  m, g = config.model, config.gan
  name = checks.choice(m.name, 'model.name', MODELS, what='a GAN')
  checks.dtype(m.get('dtype', 'float32'))
  shape = checks.data_shape(m.get('data_shape', ()), info)
  _validate_model(config, info, shape)
  k = checks.class_labels(m.get('num_classes', 0), info)
  loss = checks.choice(g.get('loss', 'nonsaturating'), 'gan.loss', LOSSES)
  gp = checks.number(g.get('gp_weight', 0.0), 'gan.gp_weight', 0.0)
  r1 = checks.number(g.get('r1_gamma', 0.0), 'gan.r1_gamma', 0.0)
  checks.integer(g.get('r1_every', 1), 'gan.r1_every', 1, hint='lazy R1: every k discriminator updates')
  checks.number(g.get('drift_weight', 0.0), 'gan.drift_weight', 0.0)
  sn = g.get('spectral_norm', False)
  checks.require(isinstance(sn, bool), f'config.gan.spectral_norm={sn!r} must be True or False.')
  checks.require(loss != 'wgan' or gp > 0 or r1 > 0 or sn, 'config.gan.loss="wgan" needs a Lipschitz constraint on '
                 'the critic: set config.gan.gp_weight (10 in WGAN-GP), config.gan.spectral_norm=True or '
                 'config.gan.r1_gamma.')
  policy = parse_policy(g.get('augment', ''))
  for t in policy:
    checks.choice(t, 'gan.augment', TRANSFORMS, what='an augmentation')
  checks.require(not policy or info.kind == 'image', f'config.gan.augment={g.augment!r} augments images; '
                 f'{info.name!r} holds {info.kind}. Set it to "".')
  checks.number(g.get('augment_p', 1.0), 'gan.augment_p', 0.0, 1.0)
  ada = checks.number(g.get('ada_target', 0.0), 'gan.ada_target', 0.0, 1.0, high_open=True, hint='0: fixed augment_p')
  checks.require(not ada or policy, 'config.gan.ada_target > 0 tunes the augmentation probability; set '
                 'config.gan.augment (e.g. "color,translation,cutout").')
  checks.integer(g.get('ada_images', 20000), 'gan.ada_images')
  pl = checks.number(g.get('pl_weight', 0.0), 'gan.pl_weight', 0.0)
  checks.require(not pl or name == 'stylegan', f'config.gan.pl_weight={pl} (path-length regularisation) needs a '
                 f'mapping network: config.model.name="stylegan" (it is {name!r}).')
  checks.integer(g.get('pl_every', 4), 'gan.pl_every', 1)
  checks.number(g.get('pl_decay', 0.01), 'gan.pl_decay', 0.0, 1.0, low_open=True)
  checks.number(g.get('style_mixing', 0.9), 'gan.style_mixing', 0.0, 1.0)
  checks.number(g.get('w_avg_decay', 0.995), 'gan.w_avg_decay', 0.0, 1.0, high_open=True)
  _validate_batches(config, info)
  checks.require('optim_d' in config, "the GAN family needs config.optim_d, the discriminator's optimizer (same "
                 'fields as config.optim); see gen_jax/families/gans/config.py:gan_config.')
  validate_optim_config(config.optim_d, config.num_train_steps * int(g.get('n_critic', 1)))
  s = config.get('sample', {})
  psi = checks.number(s.get('truncation_psi', 1.0), 'sample.truncation_psi', 0.0, 1.0)
  checks.require(psi == 1.0 or name == 'stylegan', f'config.sample.truncation_psi={psi} truncates towards the mean w '
                 f'of a mapping network: only config.model.name="stylegan" has one (it is {name!r}); set it to 1.')
  label = s.get('label', -1)
  if label != -1:
    checks.require(k > 0, f'config.sample.label={label} needs a conditional model (config.model.num_classes > 0).')
    checks.integer(label, 'sample.label', 0, k - 1)


# ------------------------------------------------------------------------------------ experiment variants
LOSS_VARIANTS = ('minimax', 'nonsaturating', 'lsgan', 'hinge', 'wgan_gp')
REGULARISER_VARIANTS = ('sn', 'r1', 'mbstd', 'pac', 'diffaug', 'ada')
def apply_variants(c: Any, v: Any, default_loss: str = 'nonsaturating') -> Any:
  """Applies the loss and regulariser variants every GAN experiment file shares:

  minimax | nonsaturating | lsgan | hinge | wgan_gp   the loss (wgan_gp: the Wasserstein loss with gradient
      penalty 10 and 5 critic updates per generator update, each on its own batch of the original size,
      Adam betas (0.5, 0.9); Gulrajani et al. 2017)
  sn       spectral normalisation of every discriminator layer
  r1       R1 penalty on real data, gamma 1, lazily every 4 discriminator updates
  mbstd    a minibatch standard-deviation feature in the discriminator (MLP GAN, DCGAN; built into
           StyleGAN's and ProGAN's)
  pac      PacGAN: the discriminator judges packs of 4 samples
  diffaug  DiffAugment (color, translation, cutout) on every discriminator input
  ada      the same augmentations with an adaptive probability (ADA, target r_t = 0.6)
  """
  loss = v.pick(*LOSS_VARIANTS, default=default_loss)
  if loss == 'wgan_gp':
    c.gan.loss, c.gan.gp_weight, c.gan.n_critic = 'wgan', 10.0, 5
    c.batch_size *= 5            # each critic update sees its own batch of the original size
    c.optim.b2 = c.optim_d.b2 = 0.9
  elif loss is not None:
    c.gan.loss = loss
  if 'sn' in v:
    c.gan.spectral_norm = True
  if 'r1' in v:
    c.gan.r1_gamma, c.gan.r1_every = 1.0, 4
  if 'mbstd' in v:
    c.model.minibatch_std = True
  if 'pac' in v:
    c.gan.pac = 4
  if 'diffaug' in v or 'ada' in v:
    c.gan.augment = 'color,translation,cutout'
  if 'ada' in v:
    c.gan.ada_target = 0.6
  return c
