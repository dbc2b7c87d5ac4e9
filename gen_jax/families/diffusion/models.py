"""Denoisers of the diffusion family and the functions that call them.

``config.model.name``:
  'unet': ``gen_jax.nn.unet.UNet`` for images [B, H, W, C]; fields ch, ch_mult, num_res_blocks,
          attn_resolutions (spatial sizes), dropout, num_groups, num_heads.
  'mlp':  ``gen_jax.nn.mlp.MLPDenoiser`` for points [B, D]; fields hidden, num_layers, dropout.
Shared fields: data_shape (one example's shape, e.g. (28, 28, 1) or (2,)), num_classes
(0 = unconditional; > 0 adds a label embedding with a null label for classifier-free
guidance), dtype ('float32' | 'bfloat16'; outputs are float32).

A *model function* ``fn(x [B, ...], cond [B] float) -> raw output [B, ..., C or 2C]`` is what the
samplers consume; ``cond`` is the timestep index (discrete) or ``999 t`` (continuous time).
"""
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from gen_jax.families.diffusion.predictions import output_channels
from gen_jax.nn.layers import compute_dtype
from gen_jax.nn.mlp import MLPDenoiser
from gen_jax.nn.unet import UNet

MODELS = ('unet', 'mlp')

ModelFn = Callable[[jax.Array, jax.Array], jax.Array]


def data_shape(config: Any) -> tuple[int, ...]:
  """The shape of one example, ``config.model.data_shape``."""
  return tuple(int(s) for s in config.model.data_shape)


def variance_type(config: Any) -> str:
  """The reverse-process variance ('fixed_small' | 'fixed_large' | 'learned_range'); SDEs: 'fixed_small'."""
  if config.diffusion.get('formulation', 'discrete') == 'sde':
    return 'fixed_small'
  return config.diffusion.get('variance', 'fixed_small')


def num_classes(config: Any) -> int:
  return int(config.model.get('num_classes', 0) or 0)


def get_model(config: Any) -> nn.Module:
  """The Flax denoiser described by ``config.model`` (outputs 2C channels with a learned variance)."""
  m = config.model
  shape = data_shape(config)
  out = output_channels(shape[-1], variance_type(config))
  dtype = compute_dtype(m.get('dtype', 'float32'))
  if m.name == 'unet':
    return UNet(out_channels=out, ch=m.get('ch', 64), ch_mult=tuple(m.get('ch_mult', (1, 2, 2))),
                num_res_blocks=m.get('num_res_blocks', 2), attn_resolutions=tuple(m.get('attn_resolutions', ())),
                dropout=m.get('dropout', 0.0), num_groups=m.get('num_groups', 32), num_heads=m.get('num_heads', 1),
                num_classes=num_classes(config), dtype=dtype)
  if m.name == 'mlp':
    return MLPDenoiser(out_features=out, hidden=m.get('hidden', 128), num_layers=m.get('num_layers', 3),
                       dropout=m.get('dropout', 0.0), num_classes=num_classes(config), dtype=dtype)
  raise ValueError(f'unknown diffusion model {m.name!r}; allowed: {", ".join(MODELS)}.')


def init_params(model: nn.Module, rng: jax.Array, config: Any) -> Any:
  """Parameters from one dummy example of ``data_shape`` (and a null label when class-conditional)."""
  x = jnp.zeros((1,) + data_shape(config), jnp.float32)
  label = jnp.zeros((1,), jnp.int32) if num_classes(config) else None
  return model.init({'params': rng}, x, jnp.zeros((1,), jnp.float32), label, train=False)['params']


def apply_model(model: nn.Module, params: Any, x: jax.Array, cond: jax.Array, label: jax.Array | None = None,
                train: bool = False, rng: jax.Array | None = None) -> jax.Array:
  """Raw output [B, ..., C or 2C] float32; ``rng`` feeds dropout when ``train``."""
  rngs = {'dropout': rng} if (train and rng is not None) else {}
  return model.apply({'params': params}, x, cond.astype(jnp.float32), label, train=train, rngs=rngs)


def make_model_fn(model: nn.Module, params: Any, label: jax.Array | None = None, guidance_scale: float = 1.0,
                  null_label: int = 0, variance: str = 'fixed_small') -> ModelFn:
  """``fn(x, cond) -> raw output``, with classifier-free guidance when ``label`` is given and
  ``guidance_scale != 1``: ``out = out_null + w (out_label - out_null)`` on the mean channels (the
  learned-variance channels come from the conditional pass). ``label`` [B] int32, ``null_label`` =
  num_classes. Both passes run as one batch of 2B."""
  if label is None or guidance_scale == 1.0:
    return lambda x, cond: apply_model(model, params, x, cond, label)

  def fn(x, cond):
    b = x.shape[0]
    both = apply_model(model, params, jnp.concatenate([x, x]), jnp.concatenate([cond, cond]),
                       jnp.concatenate([label, jnp.full_like(label, null_label)]))
    out_c, out_u = both[:b], both[b:]
    if variance == 'learned_range':
      c = out_c.shape[-1] // 2
      mean = out_u[..., :c] + guidance_scale * (out_c[..., :c] - out_u[..., :c])
      return jnp.concatenate([mean, out_c[..., c:]], axis=-1)
    return out_u + guidance_scale * (out_c - out_u)

  return fn
