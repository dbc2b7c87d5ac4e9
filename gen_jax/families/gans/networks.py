"""One calling convention for every model's generator and discriminator (what ``step.py`` and
``sampling.py`` use), and the canvas the image models work on.

The canvas: models that need a power-of-two side (StyleGAN, ProGAN) work on images padded to
``config.model.resolution`` with the data's background value (-1 for data in [-1, 1], else 0), so the
data pipeline, the FID of ``--mode=eval`` and the project classifier all see the dataset's own shape:
``to_canvas`` pads real batches, ``from_canvas`` crops generated ones. StyleGAN's discriminator sees
its fakes cropped and padded back (``fake_for_discriminator``), so the generator's border pixels are
never used and cannot give the fakes away (real canvases have exactly the background there). ProGAN's
real images reach the discriminator pooled to the stage's resolution (``real_for_discriminator``), so
its generator frames each stage's output the same way (``frame_like_data``, in ``generate``): crop,
pad, pool; its fakes then go to the discriminator as generated. The MLP GAN and DCGAN work on the
data's shape directly.

``Networks`` holds the static description (modules, shapes, the growth schedule); the functions
below are pure functions of parameters and state:

* ``init_networks(nets, rng)`` -> ``(params_g, params_d, g_stats, d_sn)``;
* ``generate(nets, params_g, g_stats, z, labels, rng, step, train, ...)`` -> ``(canvas, g_stats, aux)``;
* ``discriminate(nets, params_d, d_sn, x, labels, step, update)`` -> ``(logits [B], d_sn)``.

``g_stats`` is the generator's batch-norm statistics (DCGAN; None otherwise), ``d_sn`` the power-
iteration vectors of a spectrally normalised discriminator (None otherwise); ``update`` advances
them. ``aux['w']`` is StyleGAN's mapped w [B, W] (for the tracked mean w).
"""
import dataclasses
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gen_jax.families.gans import models, progan, stylegan
from gen_jax.nn.layers import compute_dtype
from gen_jax.nn.resample import resize_average, resize_nearest


@dataclasses.dataclass(frozen=True)
class Networks:
  name: str                        # config.model.name
  g: nn.Module
  d: nn.Module
  data_shape: tuple[int, ...]      # one example of the dataset: (H, W, C) or (D,)
  canvas_shape: tuple[int, ...]    # what G makes and D reads
  latent_dim: int
  num_classes: int
  background: float                # padding value of the canvas
  g_batch_norm: bool
  spectral_norm: bool
  num_stages: int = 1              # ProGAN
  stable_steps: int = 0
  fade_steps: int = 0
  noise_mode: str = 'random'       # StyleGAN
  style_mixing: float = 0.0

  @property
  def is_image(self) -> bool:
    return len(self.data_shape) == 3


def data_shape(config: Any) -> tuple[int, ...]:
  return tuple(config.model.data_shape)


def background_value(config: Any) -> float:
  """The data's darkest value: -1 for images in [-1, 1], else 0 (pads the canvas)."""
  return -1.0 if config.dataset.get('scale', '01') == '-11' else 0.0


def output_activation(config: Any) -> str:
  """'tanh' for images in [-1, 1], 'sigmoid' for [0, 1], 'none' for points and pixel units."""
  if len(data_shape(config)) != 3:
    return 'none'
  return {'-11': 'tanh', '01': 'sigmoid'}.get(config.dataset.get('scale', '01'), 'none')


def canvas_shape(config: Any) -> tuple[int, ...]:
  """``(R, R, C)`` with R = ``config.model.resolution`` for StyleGAN / ProGAN, else the data's shape."""
  shape = data_shape(config)
  if config.model.name in ('stylegan', 'progan'):
    r = int(config.model.resolution)
    return (r, r, shape[-1])
  return shape


def _pads(size: int, target: int) -> tuple[int, int]:
  lo = (target - size) // 2
  return lo, target - size - lo


def to_canvas(x: jax.Array, nets: Networks) -> jax.Array:
  """Data-shaped images [B, H, W, C] -> canvas [B, R, R, C], padded with the background value."""
  if not nets.is_image or x.shape[1:] == nets.canvas_shape:
    return x
  (h, w), r = x.shape[1:3], nets.canvas_shape[0]
  return jnp.pad(x, ((0, 0), _pads(h, r), _pads(w, r), (0, 0)), constant_values=nets.background)


def from_canvas(x: jax.Array, nets: Networks) -> jax.Array:
  """Canvas [B, R, R, C] -> data-shaped images [B, H, W, C] (the central crop)."""
  if not nets.is_image or x.shape[1:] == nets.data_shape:
    return x
  h, w = nets.data_shape[:2]
  r = nets.canvas_shape[0]
  top, left = _pads(h, r)[0], _pads(w, r)[0]
  return x[:, top:top + h, left:left + w, :]


def get_networks(config: Any) -> Networks:
  """The generator and discriminator named by ``config.model`` (validated by ``validate_config``)."""
  m, g_cfg = config.model, config.gan
  shape, canvas = data_shape(config), canvas_shape(config)
  k = int(m.get('num_classes', 0) or 0)
  sn = bool(g_cfg.get('spectral_norm', False))
  dtype = compute_dtype(m.get('dtype', 'float32'))
  act = output_activation(config)
  embed = int(m.get('embed_dim', 32))
  mbstd = int(m.get('mbstd_group', 4))
  common = dict(name=m.name, data_shape=shape, canvas_shape=canvas, latent_dim=int(m.latent_dim), num_classes=k,
                background=background_value(config), spectral_norm=sn)
  if m.name == 'mlp':
    hidden = tuple(m.get('hidden', (256, 256)))
    g = models.MLPGenerator(shape, hidden, act, k, embed, dtype)
    d = models.MLPDiscriminator(hidden, k, sn, bool(m.get('minibatch_std', False)), mbstd, dtype)
    return Networks(g=g, d=d, g_batch_norm=False, **common)
  if m.name == 'dcgan':
    norm = m.get('g_norm', 'batch')
    g = models.DCGANGenerator(shape, tuple(m.g_features), m.get('upsample', 'transpose'), norm, act, k, embed, dtype)
    d = models.DCGANDiscriminator(tuple(m.d_features), m.get('d_norm', 'none'), k, sn,
                                  bool(m.get('minibatch_std', False)), mbstd, dtype)
    return Networks(g=g, d=d, g_batch_norm=norm == 'batch', **common)
  if m.name == 'stylegan':
    return Networks(g=stylegan.build_generator(m, shape[-1]), d=stylegan.build_discriminator(m, sn),
                    g_batch_norm=False, noise_mode=m.get('noise_mode', 'random'),
                    style_mixing=float(g_cfg.get('style_mixing', 0.9)), **common)
  if m.name == 'progan':
    return Networks(g=progan.build_generator(m, shape[-1]), d=progan.build_discriminator(m, sn), g_batch_norm=False,
                    num_stages=len(m.channels), stable_steps=int(m.stable_steps), fade_steps=int(m.fade_steps),
                    **common)
  raise ValueError(f'unknown GAN model {m.name!r}; allowed: {", ".join(models.MODELS)}.')


def sample_latents(rng: jax.Array, num: int, nets: Networks) -> jax.Array:
  """z ~ N(0, I) [num, latent_dim]."""
  return jax.random.normal(rng, (num, nets.latent_dim), jnp.float32)


def growth(nets: Networks, step: jax.Array) -> tuple[jax.Array, jax.Array]:
  """ProGAN's (stage, alpha) at ``step``; (0, 1) for the other models."""
  if nets.name != 'progan':
    return jnp.zeros((), jnp.int32), jnp.ones((), jnp.float32)
  return progan.stage_and_alpha(step, nets.num_stages, nets.stable_steps, nets.fade_steps)


def init_networks(nets: Networks, rng: jax.Array, pac: int = 1) -> tuple[Any, Any, Any, Any]:
  """``(params_g, params_d, g_stats | None, d_sn | None)`` initialised from ``rng``; the discriminator
  reads packs of ``pac`` examples (PacGAN: ``pac`` times the channels)."""
  k_g, k_d = jax.random.split(rng)
  z = jnp.zeros((4, nets.latent_dim), jnp.float32)
  y = jnp.zeros((4,), jnp.int32) if nets.num_classes else None
  x = jnp.zeros((4,) + nets.canvas_shape[:-1] + (nets.canvas_shape[-1] * pac,), jnp.float32)
  one = jnp.ones((), jnp.float32)
  if nets.name == 'progan':
    last = nets.num_stages - 1
    g_vars = nets.g.init(k_g, z, y, last, one)
    d_vars = nets.d.init({'params': k_d}, x, y, last, one)
  elif nets.name == 'stylegan':
    g_vars = nets.g.init(k_g, z, y, None, 'none')
    d_vars = nets.d.init({'params': k_d}, x, y)
  elif nets.name == 'dcgan':
    g_vars = nets.g.init(k_g, z, y, train=False)
    d_vars = nets.d.init({'params': k_d}, x, y)
  else:
    g_vars = nets.g.init(k_g, z, y)
    d_vars = nets.d.init({'params': k_d}, x, y)
  return (g_vars['params'], d_vars['params'], g_vars.get('batch_stats') if nets.g_batch_norm else None,
          d_vars.get('spectral') if nets.spectral_norm else None)


def _stylegan_ws(nets: Networks, params_g: Any, z: jax.Array, labels: jax.Array | None, rng: jax.Array,
                 train: bool, psi: float, w_avg: jax.Array | None) -> tuple[jax.Array, jax.Array]:
  """``(ws [B, num_ws, W], w [B, W])``: mapped z; in training, style mixing with a second z; in
  sampling, truncation towards ``w_avg`` by ``psi``."""
  g, n_ws = nets.g, stylegan.num_ws(nets.g.channels)
  w = g.apply({'params': params_g}, z, labels, method=g.map)
  ws = jnp.repeat(w[:, None], n_ws, axis=1)
  if train and nets.style_mixing > 0:
    k_z, k_mix = jax.random.split(jax.random.fold_in(rng, 1))
    w2 = g.apply({'params': params_g}, sample_latents(k_z, z.shape[0], nets), labels, method=g.map)
    ws = stylegan.mix_styles(w, w2, k_mix, nets.style_mixing, n_ws)
  if not train and w_avg is not None and (not isinstance(psi, (int, float)) or psi != 1.0):  # psi may be traced
    ws = stylegan.truncate(ws, w_avg, psi)
  return ws, w


def synthesize(nets: Networks, params_g: Any, ws: jax.Array, rng: jax.Array | None, noise_mode: str | None = None) -> jax.Array:
  """StyleGAN's synthesis network on explicit ws [B, num_ws, W] -> canvas [B, R, R, C]."""
  g = nets.g
  return g.apply({'params': params_g}, ws, rng, noise_mode or nets.noise_mode, method=g.synthesize)


def generate(nets: Networks, params_g: Any, g_stats: Any, z: jax.Array, labels: jax.Array | None, rng: jax.Array,
             step: jax.Array, train: bool, update_stats: bool = False, psi: float = 1.0,
             w_avg: jax.Array | None = None) -> tuple[jax.Array, Any, dict]:
  """Generated canvas [B, *canvas_shape] from ``z`` (module docstring). ``train``: batch-norm batch
  statistics (running ones otherwise; ``update_stats`` returns the updated running statistics) and
  StyleGAN's style mixing; ``psi``/``w_avg``: StyleGAN's truncation when not training."""
  aux: dict = {}
  if nets.name == 'stylegan':
    ws, w = _stylegan_ws(nets, params_g, z, labels, rng, train, psi, w_avg)
    aux['w'] = w
    return synthesize(nets, params_g, ws, jax.random.fold_in(rng, 2)), g_stats, aux
  if nets.name == 'progan':
    stage, alpha = growth(nets, step)
    padded = nets.data_shape != nets.canvas_shape
    frame = (lambda x, res: frame_like_data(nets, x, res)) if padded else None
    fn = progan.growing_generator(nets.g, nets.canvas_shape[0], frame)
    return fn({'params': params_g}, z, labels, stage, alpha), g_stats, aux
  if nets.name == 'dcgan':
    variables = {'params': params_g}
    if nets.g_batch_norm:
      variables['batch_stats'] = g_stats
      if train and update_stats:
        x, upd = nets.g.apply(variables, z, labels, train=True, mutable=['batch_stats'])
        return x, upd['batch_stats'], aux
      if train:
        x, _ = nets.g.apply(variables, z, labels, train=True, mutable=['batch_stats'])
        return x, g_stats, aux
    return nets.g.apply(variables, z, labels, train=False), g_stats, aux
  return nets.g.apply({'params': params_g}, z, labels), g_stats, aux


def discriminate(nets: Networks, params_d: Any, d_sn: Any, x: jax.Array, labels: jax.Array | None,
                 step: jax.Array, update: bool = False) -> tuple[jax.Array, Any]:
  """Logits [B'] of canvas images (or points) ``x`` [B', ...]; ``update`` advances the spectral-norm
  power iteration (returned; ``d_sn`` unchanged otherwise)."""
  variables = {'params': params_d}
  mutable = ['spectral'] if (nets.spectral_norm and update) else False
  if nets.spectral_norm:
    variables['spectral'] = d_sn
  if nets.name == 'progan':
    stage, alpha = growth(nets, step)
    fn = progan.growing_discriminator(nets.d, mutable)
    logits, upd = fn(variables, x, labels, stage, alpha, update)
    return logits, (upd['spectral'] if mutable else d_sn)
  if mutable:
    logits, upd = nets.d.apply(variables, x, labels, update=True, mutable=mutable)
    return logits, upd['spectral']
  return nets.d.apply(variables, x, labels, update=False), d_sn


def real_for_discriminator(nets: Networks, x_canvas: jax.Array, step: jax.Array) -> jax.Array:
  """Real canvas images as the discriminator sees them: ProGAN blends them to the current stage's
  resolution (``progan.real_at_stage``); the other models see them unchanged."""
  if nets.name != 'progan':
    return x_canvas
  stage, alpha = growth(nets, step)
  return progan.real_at_dynamic_stage(x_canvas, stage, alpha, nets.num_stages)


def frame_like_data(nets: Networks, x_canvas: jax.Array, res: int) -> jax.Array:
  """Canvas images [B, R, R, C] as a real image looks at resolution ``res``: cropped to the data's
  shape, padded with the background, average-pooled to ``res`` and upsampled back to R (the operator
  ``progan.real_at_stage`` applies to the real canvases, without the fade-in). ProGAN's generator
  frames each stage's to-RGB canvas with it (``generate``)."""
  r = nets.canvas_shape[0]
  return resize_nearest(resize_average(to_canvas(from_canvas(x_canvas, nets), nets), res), r)


def fake_for_discriminator(nets: Networks, x_canvas: jax.Array) -> jax.Array:
  """Generated canvas images as the discriminator sees them: StyleGAN's are cropped to the data's shape
  and padded with the background, like the real ones (module docstring); the other models' unchanged
  (ProGAN's generator frames its own output like the real images, ``frame_like_data``)."""
  if nets.name != 'stylegan':
    return x_canvas
  return to_canvas(from_canvas(x_canvas, nets), nets)


def num_parameters(tree: Any) -> int:
  return sum(math.prod(x.shape) for x in jax.tree.leaves(tree))
