"""Sampling, encoding and decoding of the flow family: ``sample``, ``visualize``, ``sampler_cost``.

Every flow here is a bijection between data and a latent ``eps`` [B, D] (D = data dimensions) with a
standard normal prior (standard logistic for NICE): ``encode`` and ``decode`` are its two directions
(the pre-transform included), ``sample`` decodes prior draws whose scale is multiplied by
``config.sample.temperature`` (Glow's reduced-temperature sampling; 1.0 is the model itself), and
``interpolate`` decodes straight lines between two encodings.
"""
from typing import Any

import jax
import jax.numpy as jnp

from gen_jax.core.state import eval_params
from gen_jax.families.flows import ffjord
from gen_jax.families.flows.losses import is_cnf
from gen_jax.families.flows.models import (data_range, data_shape, flow_params, get_model, is_image, num_dims,
                                           preprocess_module, prior_name, prior_sample)


def temperature(config: Any) -> float:
  return float(config.sample.get('temperature', 1.0))


def encode(params: Any, x: jax.Array, config: Any) -> jax.Array:
  """Data [B, *data_shape] -> latent eps [B, D] (FFJORD: the ODE solved from t = 0 to t1)."""
  if is_cnf(config):
    y, _ = preprocess_module(config).apply({}, x)
    z, _ = ffjord.integrate(ffjord.get_net(config), params, y, config, reverse=False)
    return z.reshape(x.shape[0], -1)
  eps, _, _ = get_model(config).apply({'params': flow_params(params, config)}, x)
  return eps


def decode(params: Any, eps: jax.Array, config: Any) -> jax.Array:
  """Latent eps [B, D] -> data [B, *data_shape] (not clipped; FFJORD: the ODE solved from t1 to 0)."""
  if is_cnf(config):
    z = eps.reshape((eps.shape[0],) + data_shape(config))
    y, _ = ffjord.integrate(ffjord.get_net(config), params, z, config, reverse=True)
    x, _ = preprocess_module(config).apply({}, y, reverse=True)
    return x
  x, _, _ = get_model(config).apply({'params': flow_params(params, config)}, eps, reverse=True)
  return x


def reconstruct(params: Any, x: jax.Array, config: Any, aux: dict | None = None) -> jax.Array:
  """x -> eps -> x [B, *data_shape] (``aux``: the forward pass's outputs, to reuse its latent; with a
  variational dequantizer the flow's input is ``aux['y']``, the re-dequantized x)."""
  if aux is not None and 'eps' in aux:
    return decode(params, aux['eps'], config)
  if aux is not None and 'z' in aux:
    return decode(params, aux['z'].reshape(x.shape[0], -1), config)
  return decode(params, encode(params, x, config), config)


def clip_to_data(x: jax.Array, config: Any) -> jax.Array:
  """Images are clipped to the data range; points are returned as they are."""
  if not is_image(config):
    return x
  lo, hi = data_range(config)
  return jnp.clip(x, lo, hi)


def sample_with_params(params: Any, rng: jax.Array, num: int, config: Any, temp: float | None = None) -> jax.Array:
  """``num`` samples [num, *data_shape] at ``temp`` (default ``config.sample.temperature``)."""
  t = temperature(config) if temp is None else temp
  prior = 'gaussian' if is_cnf(config) else prior_name(config)
  eps = prior_sample(rng, (num, num_dims(config)), prior, t)
  return clip_to_data(decode(params, eps, config), config)


def sample(state: Any, rng: jax.Array, num: int, config: Any, labels: jax.Array | None = None) -> jax.Array:
  """``num`` samples (EMA parameters) at ``config.sample.temperature``: images [num, H, W, C] in the data's
  range (clipped), points [num, D]. Pure, jit-able. Every flow here is unconditional."""
  if labels is not None:
    raise ValueError('labels were given but the flows of this family are unconditional.')
  return sample_with_params(eval_params(state), rng, num, config)


def interpolate(params: Any, x_a: jax.Array, x_b: jax.Array, num: int, config: Any) -> jax.Array:
  """[B, num, *data_shape]: decodings of ``num`` evenly spaced points on the straight line between the
  latents of ``x_a`` and ``x_b`` [B, *data_shape] (the ends reconstruct the inputs)."""
  za, zb = encode(params, x_a, config), encode(params, x_b, config)
  w = jnp.linspace(0.0, 1.0, num)[None, :, None]
  z = (1 - w) * za[:, None] + w * zb[:, None]
  x = decode(params, z.reshape((-1, z.shape[-1])), config)
  return clip_to_data(x, config).reshape((x_a.shape[0], num) + x.shape[1:])


def visualize(state: Any, batch: dict, rng: jax.Array, config: Any) -> dict[str, jax.Array]:
  """A grid of ``sample.num_visualize`` (default 36) samples at the config's temperature, in [0, 1]."""
  del batch
  n = int(config.sample.get('num_visualize', 36))
  lo, hi = data_range(config)
  return {'samples': (sample(state, rng, n, config) - lo) / (hi - lo)}


def sampler_cost(state: Any, num: int, config: Any):
  """What one ``sample`` call computes, for FLOP counting (family contract hook): ``(fn, args, calls)``.

  A discrete flow samples with one loop-free inverse pass: the whole call, once. FFJORD's sampler is a
  diffrax loop: one vector-field call times the solver's evaluations for fixed steps, None when the
  step count is adaptive."""
  if not is_cnf(config):
    return (lambda s, r: sample(s, r, num, config)), (state, jax.random.key(0)), 1
  s = ffjord.settings(config)
  if s['steps'] <= 0:
    return None
  from gen_jax.nn.cnf import function_evaluations  # pylint: disable=g-import-not-at-top
  fn, args = ffjord.function_cost(ffjord.get_net(config), eval_params(state), num, data_shape(config))
  return fn, args, int(function_evaluations(s['solver'], s['steps']))
