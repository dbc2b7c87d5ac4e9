"""Sampling, visualisation and latent-space tools of the GAN family.

Everything uses the generator that sampling should use: the EMA parameters when the run keeps them
(``config.optim.ema_decay`` > 0), with their own batch-norm statistics (DCGAN), StyleGAN's tracked
mean w, and ProGAN's stage at ``state.step``. All functions are pure and jit-able (``config`` and sizes
static). Images come back in the data's shape and scale (the canvas is cropped).
"""
from typing import Any

import jax
import jax.numpy as jnp

from gen_jax.core.state import eval_params
from gen_jax.families.gans import networks as net_lib
from gen_jax.families.gans import stylegan


def _g(state: Any) -> tuple[Any, Any]:
  """(generator parameters, their batch-norm statistics) for sampling."""
  extra = state.extra or {}
  stats = extra.get('ema_g_stats', extra.get('g_stats')) if state.ema_params is not None else extra.get('g_stats')
  return eval_params(state)['g'], stats


def sample_labels(num: int, config: Any) -> jax.Array | None:
  """Labels [num] of a conditional model: ``config.sample.label`` for all, else 0..K-1 cycling; None
  for an unconditional one."""
  k = int(config.model.get('num_classes', 0) or 0)
  if not k:
    return None
  label = int(config.get('sample', {}).get('label', -1))
  if label >= 0:
    return jnp.full((num,), label, jnp.int32)
  return jnp.arange(num, dtype=jnp.int32) % k


def check_labels(labels: Any, num: int, config: Any) -> jax.Array | None:
  """The labels to draw: ``labels`` checked ([num] for a conditional model; refused by an
  unconditional one), or the default ``sample_labels``."""
  if labels is None:
    return sample_labels(num, config)
  if not int(config.model.get('num_classes', 0) or 0):
    raise ValueError(f'labels were given but this {config.model.name} GAN is unconditional '
                     '(config.model.num_classes=0).')
  labels = jnp.asarray(labels, jnp.int32)
  if labels.shape != (num,):
    raise ValueError(f'labels must have shape ({num},), one per sample; got {labels.shape}.')
  return labels


def generate_from_latents(state: Any, z: jax.Array, rng: jax.Array, config: Any, labels: jax.Array | None = None,
                          psi: float | None = None) -> jax.Array:
  """Images [N, *data_shape] for latents ``z`` [N, latent_dim] (``rng``: StyleGAN's noise inputs;
  ``psi``: truncation, default ``config.sample.truncation_psi``)."""
  nets = net_lib.get_networks(config)
  params, stats = _g(state)
  psi = float(config.get('sample', {}).get('truncation_psi', 1.0)) if psi is None else psi
  w_avg = (state.extra or {}).get('w_avg')
  x, _, _ = net_lib.generate(nets, params, stats, z, labels, rng, state.step, train=False, psi=psi, w_avg=w_avg)
  return net_lib.from_canvas(x, nets)


def sample(state: Any, rng: jax.Array, num: int, config: Any, labels: jax.Array | None = None) -> jax.Array:
  """``num`` samples [num, *data_shape]: G(z), z ~ N(0, I) (module docstring). A conditional model draws
  ``labels`` [num] (default: classes cycling 0..K-1 or ``config.sample.label``)."""
  labels = check_labels(labels, num, config)
  nets = net_lib.get_networks(config)
  k_z, k_noise = jax.random.split(rng)
  return generate_from_latents(state, net_lib.sample_latents(k_z, num, nets), k_noise, config, labels)


def interpolate(state: Any, z_a: jax.Array, z_b: jax.Array, num_steps: int, rng: jax.Array, config: Any,
                labels: jax.Array | None = None, space: str = 'z', spherical: bool = True) -> jax.Array:
  """Images along paths between latents ``z_a``, ``z_b`` [B, Z]: [B, num_steps, *data_shape].

  ``space='z'``: spherical (``spherical``) or linear interpolation of z; ``space='w'`` (StyleGAN):
  linear interpolation of the mapped w (the space in which StyleGAN's paths are short). Noise
  inputs are held fixed along each path ('const').
  """
  nets = net_lib.get_networks(config)
  t = jnp.linspace(0.0, 1.0, num_steps)
  b = z_a.shape[0]
  lab = None if labels is None else jnp.repeat(labels, num_steps)
  if space == 'w':
    params, _ = _g(state)
    w_a = nets.g.apply({'params': params}, z_a, labels, method=nets.g.map)
    w_b = nets.g.apply({'params': params}, z_b, labels, method=nets.g.map)
    w = (w_a[:, None] + (w_b - w_a)[:, None] * t[None, :, None]).reshape(b * num_steps, -1)
    ws = jnp.repeat(w[:, None], stylegan.num_ws(nets.g.channels), axis=1)
    return synthesize(state, ws, rng, config, 'const').reshape((b, num_steps) + nets.data_shape)
  if spherical:
    z = jax.vmap(lambda s: slerp(z_a, z_b, s), out_axes=1)(t)
  else:
    z = z_a[:, None] + (z_b - z_a)[:, None] * t[None, :, None]
  img = generate_from_latents(state, z.reshape(b * num_steps, -1), rng, config, lab)
  return img.reshape((b, num_steps) + img.shape[1:])


def slerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
  """Spherical interpolation between rows of ``a`` and ``b`` [B, Z] at fraction ``t``."""
  na = a / jnp.linalg.norm(a, axis=-1, keepdims=True)
  nb = b / jnp.linalg.norm(b, axis=-1, keepdims=True)
  omega = jnp.arccos(jnp.clip(jnp.sum(na * nb, axis=-1, keepdims=True), -1.0, 1.0))
  so = jnp.sin(omega)
  lin = (1.0 - t) * a + t * b
  sph = jnp.sin((1.0 - t) * omega) / jnp.where(so == 0, 1.0, so) * a + jnp.sin(t * omega) / jnp.where(so == 0, 1.0, so) * b
  return jnp.where(so < 1e-6, lin, sph)


def map_latents(state: Any, z: jax.Array, config: Any, labels: jax.Array | None = None) -> jax.Array:
  """StyleGAN's mapping network: w [N, W] for z [N, Z]."""
  nets = net_lib.get_networks(config)
  params, _ = _g(state)
  return nets.g.apply({'params': params}, z, labels, method=nets.g.map)


def synthesize(state: Any, ws: jax.Array, rng: jax.Array | None, config: Any, noise_mode: str | None = None) -> jax.Array:
  """StyleGAN's synthesis network on ws [N, num_ws, W] -> images [N, *data_shape]."""
  nets = net_lib.get_networks(config)
  params, _ = _g(state)
  return net_lib.from_canvas(net_lib.synthesize(nets, params, ws, rng, noise_mode), nets)


def style_mix(state: Any, w_rows: jax.Array, w_cols: jax.Array, layers: tuple[int, int], config: Any) -> jax.Array:
  """Style mixing grid: image [r, c] uses ``w_rows[r]`` everywhere except layers ``layers[0]`` ..
  ``layers[1] - 1``, which take ``w_cols[c]`` (coarse layers: the first 4x4 and 8x8 ones; fine: the
  last). Returns [R, C, *data_shape]; noise fixed ('const')."""
  nets = net_lib.get_networks(config)
  n_ws = stylegan.num_ws(nets.g.channels)
  r, c = w_rows.shape[0], w_cols.shape[0]
  layer = jnp.arange(n_ws)
  use_col = ((layer >= layers[0]) & (layer < layers[1]))[None, None, :, None]
  ws = jnp.where(use_col, w_cols[None, :, None, :], w_rows[:, None, None, :])
  img = synthesize(state, ws.reshape(r * c, n_ws, -1), None, config, 'const')
  return img.reshape((r, c) + img.shape[1:])


def to_unit_range(x: jax.Array, config: Any) -> jax.Array:
  """Images from the data's scale to [0, 1] (clipped) for display."""
  if config.dataset.get('scale', '01') == '-11':
    x = (x + 1.0) / 2.0
  elif config.dataset.get('scale', '01') == 'none':
    x = x / 255.0
  return jnp.clip(x, 0.0, 1.0)


def visualize(state: Any, batch: dict, rng: jax.Array, config: Any) -> dict[str, jax.Array]:
  """A grid of ``config.sample.num_visualize`` samples (a conditional model: classes cycling along
  rows), images in [0, 1]."""
  del batch
  n = int(config.get('sample', {}).get('num_visualize', 64))
  return {'samples': to_unit_range(sample(state, rng, n, config), config)}


def sample_many(state: Any, config: Any, num: int, labels: Any = None, seed: int = 0, batch: int = 500) -> Any:
  """``num`` samples as host numpy [num, *data_shape], drawn ``batch`` at a time by one compiled ``sample``
  (``labels`` [num] for a conditional model); batch ``i`` uses the key ``fold_in(key(seed), i)``."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  if labels is None:
    fn = jax.jit(lambda s, r: sample(s, r, batch, config))
  else:
    fn = jax.jit(lambda s, r, y: sample(s, r, batch, config, labels=y))
  out = []
  for i in range(0, num, batch):
    key = jax.random.fold_in(jax.random.key(seed), i // batch)
    if labels is None:
      out.append(np.asarray(fn(state, key)))
    else:
      out.append(np.asarray(fn(state, key, jnp.asarray(np.resize(np.asarray(labels)[i:i + batch], batch)))))
  return np.concatenate(out)[:num]
