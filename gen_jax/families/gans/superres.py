"""SRGAN-style super-resolution (Ledig et al. 2017): a residual generator with sub-pixel upsampling,
trained with a content loss plus (optionally) an adversarial loss against a DCGAN discriminator.

Why it is not a ``config.model.name`` of the family: the family contract's ``sample(state, rng, num)``
draws images from noise, and the loop feeds the step real images only. A super-resolution model maps a
given low-resolution image to a high-resolution one, so its state, step and "sampler" have other
inputs. It keeps the family's shape (a ``TrainState`` with ``params={'g', 'd'}``, one optimizer state
per network, a pure step made by a factory, ConfigError before anything compiles) and reuses the
family's pieces: the adversarial losses (``losses.py``), the DCGAN discriminator (``models.py``) and
``gen_jax.nn.layers.depth_to_space``.

Images are in [0, 1] (what PSNR and SSIM are defined on, data range 1). ``downsample`` makes the
low-resolution input by averaging ``scale`` x ``scale`` blocks (box filter); ``bicubic`` is the
baseline, ``jax.image.resize(..., 'bicubic')``.

``sr_config()`` fields:
  scale          2 | 4: the upsampling factor (28x28 digits: 14 -> 28 or 7 -> 28) [2]
  hr_shape       (H, W, C) of the high-resolution images, divisible by ``scale`` [(28, 28, 1)]
  features       width of the generator's convolutions [32]
  num_blocks     residual blocks (conv-ReLU-conv + skip, no batch norm, as EDSR) [4]
  d_features     the DCGAN discriminator's widths (4x4 stride-2 convs, LeakyReLU) [(32, 64)]
  content        'l1' | 'l2': the pixel content loss [l1]
  adv_weight     weight of the generator's adversarial loss; 0: content loss only, D not trained [0.01]
  loss           the adversarial loss, one of ``losses.LOSSES`` ['nonsaturating']
  batch_size, num_steps, lr_g, lr_d, b1, b2, seed   Adam for both networks [32, 2000, 2e-4, 2e-4, 0.9, 0.999, 0]

The generator predicts a residual on top of the bicubic upsampling (``bicubic(lr) + G(lr)``), which makes
short CPU runs start from the baseline instead of from grey.
"""
import math
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from gen_jax.core import checks
from gen_jax.core.state import TrainState, global_norm
from gen_jax.eval.task_metrics import psnr, ssim
from gen_jax.families.gans import losses
from gen_jax.families.gans.models import DCGANDiscriminator
from gen_jax.nn.layers import depth_to_space

SCALES = (2, 4)
CONTENT_LOSSES = ('l1', 'l2')


def sr_config(scale: int = 2) -> ml_collections.ConfigDict:
  """The defaults (module docstring) for ``scale`` x super-resolution of 28x28 digits."""
  return ml_collections.ConfigDict(dict(
      scale=scale, hr_shape=(28, 28, 1), features=32, num_blocks=4, d_features=(32, 64), content='l1',
      adv_weight=0.01, loss='nonsaturating', batch_size=32, num_steps=2000, lr_g=2e-4, lr_d=2e-4, b1=0.9,
      b2=0.999, seed=0))


def validate_sr_config(c: Any) -> None:
  """ConfigError (one line, what is allowed) for every field a typo could break."""
  scale = checks.choice(c.get('scale', None), 'scale', SCALES, what='a supported upsampling factor')
  shape = tuple(c.get('hr_shape', ()) or ())
  checks.require(len(shape) == 3 and all(isinstance(s, int) and s >= 1 for s in shape),
                 f'config.hr_shape={shape!r} must be (H, W, C) positive integers.')
  checks.require(shape[0] % scale == 0 and shape[1] % scale == 0,
                 f'config.hr_shape={shape} must be divisible by config.scale={scale} (the low-resolution input '
                 f'is {shape[0]}/{scale} x {shape[1]}/{scale}).')
  checks.integer(c.get('features', None), 'features')
  checks.integer(c.get('num_blocks', None), 'num_blocks', 0)
  d = tuple(c.get('d_features', ()) or ())
  checks.require(bool(d) and all(isinstance(f, int) and f >= 1 for f in d),
                 f'config.d_features={d!r} must be a non-empty tuple of positive integers.')
  checks.choice(c.get('content', None), 'content', CONTENT_LOSSES)
  checks.number(c.get('adv_weight', None), 'adv_weight', 0.0, hint='0: content loss only')
  checks.choice(c.get('loss', None), 'loss', losses.LOSSES)
  checks.integer(c.get('batch_size', None), 'batch_size')
  checks.integer(c.get('num_steps', None), 'num_steps')
  for f in ('lr_g', 'lr_d'):
    checks.number(c.get(f, None), f, 0.0, low_open=True)
  for f in ('b1', 'b2'):
    checks.number(c.get(f, None), f, 0.0, 1.0, high_open=True)


# ------------------------------------------------------------------------------------------- images


def downsample(hr: jax.Array, scale: int) -> jax.Array:
  """[B, H, W, C] -> [B, H / scale, W / scale, C]: the mean of each ``scale`` x ``scale`` block."""
  b, h, w, c = hr.shape
  return hr.reshape(b, h // scale, scale, w // scale, scale, c).mean(axis=(2, 4))


def bicubic(lr: jax.Array, scale: int) -> jax.Array:
  """[B, h, w, C] -> [B, h scale, w scale, C], bicubic interpolation (``jax.image.resize``), not clipped."""
  b, h, w, c = lr.shape
  return jax.image.resize(lr, (b, h * scale, w * scale, c), 'bicubic')


# ------------------------------------------------------------------------------------------- networks


class SRGenerator(nn.Module):
  """SRResNet without batch norm: 3x3 conv, ``num_blocks`` residual blocks (conv-ReLU-conv + skip), a
  3x3 conv plus the long skip, then per factor 2 a 3x3 conv to 4 ``features`` channels, ``depth_to_space``
  (sub-pixel convolution, Shi et al. 2016) and PReLU, and a 3x3 conv to C channels, added to the bicubic
  upsampling of the input. ``lr`` [B, h, w, C] in [0, 1] -> [B, h scale, w scale, C]."""
  scale: int = 2
  features: int = 32
  num_blocks: int = 4

  @nn.compact
  def __call__(self, lr: jax.Array) -> jax.Array:
    x = lr.astype(jnp.float32) * 2.0 - 1.0
    h = nn.PReLU(negative_slope_init=0.25)(nn.Conv(self.features, (3, 3), name='head')(x))
    skip = h
    for i in range(self.num_blocks):
      r = nn.relu(nn.Conv(self.features, (3, 3), name=f'block{i}_a')(h))
      h = h + nn.Conv(self.features, (3, 3), name=f'block{i}_b')(r)
    h = nn.Conv(self.features, (3, 3), name='body_out')(h) + skip
    for i in range(int(round(math.log2(self.scale)))):
      h = depth_to_space(nn.Conv(4 * self.features, (3, 3), name=f'up{i}')(h), 2)
      h = nn.PReLU(negative_slope_init=0.25)(h)
    out = nn.Conv(lr.shape[-1], (3, 3), name='out', kernel_init=nn.initializers.zeros)(h)
    return bicubic(lr.astype(jnp.float32), self.scale) + 0.5 * out


def networks(config: Any) -> tuple[SRGenerator, DCGANDiscriminator]:
  return (SRGenerator(int(config.scale), int(config.features), int(config.num_blocks)),
          DCGANDiscriminator(features=tuple(config.d_features)))


def adversarial(config: Any) -> bool:
  """Whether D is trained (``adv_weight`` > 0); with 0 the step is the content-loss-only generator."""
  return float(config.adv_weight) > 0


def _optimizer(config: Any, lr: float) -> optax.GradientTransformation:
  return optax.adam(lr, b1=float(config.b1), b2=float(config.b2))


def init(rng: jax.Array, config: Any) -> TrainState:
  """``TrainState(params={'g', 'd'}, opt_state={'g', 'd'})`` (``'d'`` only with ``adv_weight`` > 0)."""
  g, d = networks(config)
  hr = jnp.zeros((1,) + tuple(config.hr_shape), jnp.float32)
  k_g, k_d = jax.random.split(rng)
  params = {'g': g.init(k_g, downsample(hr, int(config.scale)))['params']}
  opt = {'g': _optimizer(config, config.lr_g).init(params['g'])}
  if adversarial(config):
    params['d'] = d.init(k_d, hr)['params']
    opt['d'] = _optimizer(config, config.lr_d).init(params['d'])
  return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=opt)


def content_loss(kind: str, sr: jax.Array, hr: jax.Array) -> jax.Array:
  """Per-example mean absolute ('l1') or squared ('l2') pixel error [B]."""
  err = jnp.abs(sr - hr) if kind == 'l1' else jnp.square(sr - hr)
  return jnp.mean(err.reshape(err.shape[0], -1), axis=-1)


def make_train_step(config: Any) -> Callable:
  """Pure ``(state, batch, rng) -> (state, metrics)``; ``batch['image']`` [B, H, W, C] high-resolution
  images in [0, 1], from which the step makes the low-resolution input.

  With ``adv_weight`` > 0: one discriminator update (real: the high-resolution image, fake: the
  generator's output; D sees both mapped to [-1, 1]) and then one generator update on
  ``content + adv_weight * adversarial``. Metrics: ``loss``, ``grad_norm``, ``content``, ``psnr`` (of
  the batch, dB), and with D ``g_adv``, ``d_loss``, ``d_real``, ``d_fake``, ``d_grad_norm``.
  """
  g_net, d_net = networks(config)
  scale, kind, loss = int(config.scale), config.content, config.loss
  adv_w = float(config.adv_weight)
  tx_g, tx_d = _optimizer(config, config.lr_g), _optimizer(config, config.lr_d)

  def d_logits(pd, x):
    return d_net.apply({'params': pd}, x * 2.0 - 1.0)

  def train_step(state: TrainState, batch: dict, rng: jax.Array):
    del rng  # the step is deterministic given the batch (no noise input); kept for the contract's signature
    hr = batch['image'].astype(jnp.float32)
    lr = downsample(hr, scale)
    params, opt = dict(state.params), dict(state.opt_state)
    metrics = {}
    if adv_w > 0:
      fake = jax.lax.stop_gradient(g_net.apply({'params': params['g']}, lr))

      def d_loss_fn(pd):
        real_l, fake_l = d_logits(pd, hr), d_logits(pd, fake)
        return jnp.mean(losses.discriminator_loss(loss, real_l, fake_l)), (real_l, fake_l)

      (d_loss, (real_l, fake_l)), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(params['d'])
      updates, opt['d'] = tx_d.update(d_grads, opt['d'], params['d'])
      params['d'] = optax.apply_updates(params['d'], updates)
      metrics.update(d_loss=d_loss, d_real=jnp.mean(real_l), d_fake=jnp.mean(fake_l), d_grad_norm=global_norm(d_grads))

    def g_loss_fn(pg):
      sr = g_net.apply({'params': pg}, lr)
      content = jnp.mean(content_loss(kind, sr, hr))
      terms = {'content': content, 'psnr': jnp.mean(psnr(jnp.clip(sr, 0.0, 1.0), hr, 1.0))}
      total = content
      if adv_w > 0:
        g_adv = jnp.mean(losses.generator_loss(loss, d_logits(params['d'], sr)))
        total, terms['g_adv'] = total + adv_w * g_adv, g_adv
      return total, terms

    (g_total, terms), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(params['g'])
    updates, opt['g'] = tx_g.update(g_grads, opt['g'], params['g'])
    params['g'] = optax.apply_updates(params['g'], updates)
    g_norm = global_norm(g_grads)
    d_norm = metrics.get('d_grad_norm', jnp.zeros(()))
    metrics.update(terms, loss=g_total + metrics.get('d_loss', 0.0), grad_norm=jnp.sqrt(g_norm ** 2 + d_norm ** 2),
                   g_grad_norm=g_norm)
    return state.replace(step=state.step + 1, params=params, opt_state=opt), metrics

  return train_step


def make_super_resolve(config: Any) -> Callable:
  """Pure ``(params_g, lr) -> sr`` [B, H, W, C], clipped to [0, 1] (what is displayed and scored)."""
  g_net, _ = networks(config)
  return lambda params_g, lr: jnp.clip(g_net.apply({'params': params_g}, lr), 0.0, 1.0)


def image_scores(sr: jax.Array, hr: jax.Array) -> dict[str, jax.Array]:
  """Per-example ``psnr`` (dB) and ``ssim`` [B] of [0, 1] images against the high-resolution truth
  (``gen_jax.eval.task_metrics``: data range 1; SSIM with an 11x11 Gaussian window, sigma 1.5)."""
  return {'psnr': psnr(sr, hr, 1.0), 'ssim': ssim(sr, hr, 1.0)}


def train(config: Any, images: Any, log_every: int = 0) -> tuple[TrainState, list[dict]]:
  """Trains ``config.num_steps`` steps on ``images`` [N, H, W, C] in [0, 1] (batches drawn uniformly with
  replacement, key ``config.seed``); returns the final state and the logged metrics (every ``log_every``
  steps and the last)."""
  validate_sr_config(config)
  images = jnp.asarray(images, jnp.float32)
  checks.require(tuple(images.shape[1:]) == tuple(config.hr_shape),
                 f'config.hr_shape={tuple(config.hr_shape)} does not match the images {tuple(images.shape[1:])}.')
  rng = jax.random.key(int(config.seed))
  k_init, k_data = jax.random.split(rng)
  state = init(k_init, config)
  step = jax.jit(make_train_step(config), donate_argnums=0)
  pick = jax.jit(lambda x, k: x[jax.random.randint(k, (int(config.batch_size),), 0, x.shape[0])])
  log = []
  for i in range(int(config.num_steps)):
    state, m = step(state, {'image': pick(images, jax.random.fold_in(k_data, i))}, k_data)
    if (log_every and (i + 1) % log_every == 0) or i + 1 == int(config.num_steps):
      m = {k: round(float(v), 5) for k, v in m.items()}
      if not math.isfinite(m['loss']):
        raise FloatingPointError(f'non-finite loss at step {i + 1}: {m}')
      log.append({'step': i + 1, **m})
      if log_every:
        print(f'  step {i + 1}/{config.num_steps} ' + ' '.join(f'{k} {v:.4g}' for k, v in m.items()), flush=True)
  return state, log
