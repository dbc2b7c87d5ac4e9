"""Flows built from the bijectors: NICE, RealNVP, Glow and the neural spline flow (FFJORD: ``ffjord.py``).

``get_model(config)`` returns a ``Flow``: ``eps, log_det, finite = flow.apply(v, x)`` maps data
``x`` [B, *data_shape] to ``eps`` [B, D] (the latent, standard normal or standard logistic under the
prior) with ``log_det`` [B] = ``log |det d eps / dx|`` (nats, the pre-transform included) and
``finite`` [num_layers] bool: whether each bijector's output and log-det were finite, in the order of
the forward pass (``layer_labels`` names them; the train step reports the first that was not).
``x, log_det, _ = flow.apply(v, eps, reverse=True)`` inverts it. ``log p(x) = log prior(eps) + log_det``.

Architectures (``config.model.name``; K = ``depth``, L = ``num_levels``):

  images [H, W, C]
    nice     flatten; K additive couplings (interleaved masks, MLPs) and a diagonal scaling (Dinh et al. 2015)
    realnvp  per level: K checkerboard affine couplings (each followed by ActNorm, Glow's replacement of
             RealNVP's batch norm), then, except at the last level, a squeeze, K channel couplings and a
             split that factors out half the channels (Dinh et al. 2017); the last level has K + 1
             checkerboard couplings. Needs H and W divisible by 2^(L - 1).
    glow     per level: a squeeze, K steps of (ActNorm, invertible 1x1 conv, affine coupling), then,
             except at the last level, a split with a learned conditional prior (Kingma & Dhariwal 2018).
             Needs H and W divisible by 2^L.
    spline   Glow's architecture with rational-quadratic spline couplings (Durkan et al. 2019)
  vectors [D] (toy2d)
    nice     K additive couplings (interleaved) and a diagonal scaling
    realnvp  K affine couplings with alternating halves, each followed by ActNorm
    glow     K steps of (ActNorm, invertible linear map, affine coupling)
    spline   K steps of (ActNorm, invertible linear map, spline coupling)
"""
import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gen_jax.families.flows import bijectors as bj
from gen_jax.nn.layers import compute_dtype

DISCRETE_MODELS = ('nice', 'realnvp', 'glow', 'spline')
MODELS = DISCRETE_MODELS + ('ffjord',)
PRIORS = ('gaussian', 'logistic')
PERMUTATIONS = ('lu', 'conv')
SPLIT_PRIORS = ('learned', 'standard')
_LOG_2PI = math.log(2 * math.pi)


def _finite(x: jax.Array, ld: jax.Array) -> jax.Array:
  return jnp.all(jnp.isfinite(x)) & jnp.all(jnp.isfinite(ld))


def _is_composite(layer: Any) -> bool:
  return isinstance(layer, (Chain, MultiScale))


class Chain(nn.Module):
  """Bijectors applied in order (forward) or in reverse order (inverse); returns ``(y, log_det [B],
  finite flags [list of bool scalars])``, one flag per bijector in the order they were applied."""
  layers: Sequence[nn.Module]
  label: str = ''

  def __call__(self, x, reverse=False):
    ld = jnp.zeros((x.shape[0],), jnp.float32)
    flags = []
    for layer in (reversed(self.layers) if reverse else self.layers):
      if _is_composite(layer):
        x, l, f = layer(x, reverse=reverse)
        flags += f
      else:
        x, l = layer(x, reverse=reverse)
        flags.append(_finite(x, l))
      ld = ld + l
    return x, ld, flags


class MultiScale(nn.Module):
  """The multi-scale architecture (Dinh et al. 2017, section 3.6): after each level but the last, half
  of the channels are factored out through their prior (``SplitPrior``) and the rest go on to the next
  level; the top goes through ``top`` (a ``LearnedPrior`` or nothing). The latent is the concatenation
  of the flattened factored-out parts and the flattened top, [B, D] in total.

  ``shapes[i]`` is the (H, W, C) output shape of level i (static, from the builder).
  """
  levels: Sequence[Chain]
  splits: Sequence[nn.Module]
  top: nn.Module | None
  shapes: Sequence[tuple[int, int, int]]

  def _parts(self):
    """Shapes of the latent's parts: the factored-out halves, then the top."""
    parts = [(h, w, c - c // 2) for h, w, c in self.shapes[:-1]]
    return parts + [tuple(self.shapes[-1])]

  def __call__(self, x, reverse=False):
    b = x.shape[0]
    if reverse:
      return self._inverse(x)
    ld = jnp.zeros((b,), jnp.float32)
    flags, outs = [], []
    for i, level in enumerate(self.levels):
      x, l, f = level(x)
      ld, flags = ld + l, flags + f
      if i < len(self.levels) - 1:
        keep = x.shape[-1] // 2
        z, x = x[..., keep:], x[..., :keep]
        eps, l = self.splits[i](z, x)
        ld = ld + l
        flags.append(_finite(eps, l))
        outs.append(eps.reshape(b, -1))
    if self.top is not None:
      x, l = self.top(x)
      ld = ld + l
      flags.append(_finite(x, l))
    outs.append(x.reshape(b, -1))
    return jnp.concatenate(outs, axis=-1), ld, flags

  def _inverse(self, eps):
    b = eps.shape[0]
    parts = self._parts()
    sizes = np.cumsum([int(np.prod(p)) for p in parts])[:-1]
    chunks = jnp.split(eps, sizes, axis=-1)
    x = chunks[-1].reshape((b,) + parts[-1])
    ld = jnp.zeros((b,), jnp.float32)
    flags = []
    if self.top is not None:
      x, l = self.top(x, reverse=True)
      ld = ld + l
      flags.append(_finite(x, l))
    for i in reversed(range(len(self.levels))):
      if i < len(self.levels) - 1:
        z, l = self.splits[i](chunks[i].reshape((b,) + parts[i]), x, reverse=True)
        ld = ld + l
        flags.append(_finite(z, l))
        x = jnp.concatenate([x, z], axis=-1)
      x, l, f = self.levels[i](x, reverse=True)
      ld, flags = ld + l, flags + f
    return x, ld, flags


class Flow(nn.Module):
  """``preprocess`` (data -> unconstrained), optionally flattened, then ``body``; see the module docstring."""
  preprocess: bj.Preprocess
  body: nn.Module
  data_shape: tuple[int, ...]
  flatten: bool = False
  prior: str = 'gaussian'

  def __call__(self, x, reverse=False):
    b = x.shape[0]
    if reverse:
      y, ld, flags = self.body(x, reverse=True)
      y = y.reshape((b,) + tuple(self.data_shape))
      x, l = self.preprocess(y, reverse=True)
      return x, ld + l, jnp.stack(flags + [_finite(x, l)])
    y, ld = self.preprocess(x)
    flags = [_finite(y, ld)]
    if self.flatten:
      y = y.reshape(b, -1)
    z, l, f = self.body(y)
    return z.reshape(b, -1), ld + l, jnp.stack(flags + f)


def prior_log_prob(eps: jax.Array, prior: str) -> jax.Array:
  """log density of the latent [B, D] under the standard normal or standard logistic prior, nats [B]."""
  eps = eps.astype(jnp.float32)
  if prior == 'logistic':
    return -jnp.sum(jax.nn.softplus(eps) + jax.nn.softplus(-eps), axis=-1)
  return -0.5 * jnp.sum(eps * eps + _LOG_2PI, axis=-1)


def prior_sample(rng: jax.Array, shape: tuple[int, ...], prior: str, temperature: float = 1.0) -> jax.Array:
  """Latents drawn from the prior with its scale multiplied by ``temperature`` (Kingma & Dhariwal 2018)."""
  if prior == 'logistic':
    return temperature * jax.random.logistic(rng, shape, jnp.float32)
  return temperature * jax.random.normal(rng, shape, jnp.float32)


# ------------------------------------------------------------------------------------------ builders


def model_field(m: Any, name: str, default: Any) -> Any:
  v = m.get(name, default)
  return default if v is None else v


def default_coupling(name: str) -> str:
  return {'nice': 'additive', 'realnvp': 'affine', 'glow': 'affine', 'spline': 'spline'}.get(name, 'affine')


def _coupling(m: Any, mask: str, parity: int, kind: str | None = None) -> bj.Coupling:
  return bj.Coupling(kind=kind or model_field(m, 'coupling', default_coupling(m.name)), mask=mask, parity=parity,
                     hidden=int(model_field(m, 'hidden', 64)), layers=int(model_field(m, 'net_layers', 2)),
                     scale_fn=model_field(m, 'scale_fn', 'tanh'), bins=int(model_field(m, 'spline_bins', 8)),
                     bound=float(model_field(m, 'spline_bound', 3.0)),
                     dtype=compute_dtype(model_field(m, 'dtype', 'float32')))


def _glow_step(m: Any, mask: str) -> list:
  return [bj.ActNorm(float(model_field(m, 'actnorm_scale', 1.0))),
          bj.InvConv1x1(lu=model_field(m, 'permutation', 'lu') == 'lu'),
          _coupling(m, mask, 0)]


def level_shapes(name: str, shape: tuple[int, int, int], levels: int) -> list[tuple[int, int, int]]:
  """The (H, W, C) output shape of every level of a multi-scale image flow (before its split)."""
  h, w, c = shape
  out = []
  for i in range(levels):
    if name != 'realnvp' or i < levels - 1:  # Glow squeezes at the start of every level, RealNVP before its split
      h, w, c = h // 2, w // 2, 4 * c
    out.append((h, w, c))
    c = c // 2
  return out


def squeezes(name: str, levels: int) -> int:
  """How often the architecture halves H and W."""
  return levels - 1 if name == 'realnvp' else levels


def build_image_body(m: Any, shape: tuple[int, int, int]) -> nn.Module:
  k, levels = int(model_field(m, 'depth', 8)), int(model_field(m, 'num_levels', 2))
  an = float(model_field(m, 'actnorm_scale', 1.0))
  chains, splits = [], []
  for i in range(levels):
    last = i == levels - 1
    if m.name == 'realnvp':
      layers = []
      for j in range(k + 1 if last else k):
        layers += [_coupling(m, 'checkerboard', j % 2), bj.ActNorm(an)]
      if not last:
        layers.append(bj.Squeeze())
        for j in range(k):
          layers += [_coupling(m, 'channel', j % 2), bj.ActNorm(an)]
    else:
      layers = [bj.Squeeze()]
      for _ in range(k):
        layers += _glow_step(m, 'channel')
    chains.append(Chain(tuple(layers), label=f'level {i}'))
    if not last:
      splits.append(bj.SplitPrior(learned=model_field(m, 'split_prior', 'learned') == 'learned'))
  top = bj.LearnedPrior() if model_field(m, 'learn_top', m.name in ('glow', 'spline')) else None
  return MultiScale(tuple(chains), tuple(splits), top, tuple(level_shapes(m.name, shape, levels)))


def build_vector_body(m: Any) -> Chain:
  k = int(model_field(m, 'depth', 8))
  an = float(model_field(m, 'actnorm_scale', 1.0))
  layers = []
  for j in range(k):
    if m.name == 'nice':
      layers.append(_coupling(m, 'interleave', j % 2))
    elif m.name == 'realnvp':
      layers += [_coupling(m, 'half', j % 2), bj.ActNorm(an)]
    else:
      layers += _glow_step(m, 'half')
  if m.name == 'nice':
    layers.append(bj.Scaling())
  return Chain(tuple(layers), label='')


def data_shape(config: Any) -> tuple[int, ...]:
  """The shape of one example, ``config.model.data_shape`` (checked against the dataset by validate_config)."""
  return tuple(config.model.data_shape)


def is_image(config: Any) -> bool:
  return len(data_shape(config)) == 3


def data_range(config: Any) -> tuple[float, float]:
  """[low, high] of the images as the pipeline delivers them (``config.dataset.scale``)."""
  return {'01': (0.0, 1.0), '-11': (-1.0, 1.0), 'none': (0.0, 256.0)}[config.dataset.get('scale', '01')]


def preprocess_mode(config: Any) -> str:
  """The pre-transform of images: ``config.model.preprocess``, by default 'logit' (RealNVP's; Glow's shift
  by -1/2 trains markedly slower on mnist5k, see ``experiments/flows/study_glow.py``); 'none' for points."""
  if not is_image(config):
    return 'none'
  return model_field(config.model, 'preprocess', 'logit')


def preprocess_module(config: Any) -> bj.Preprocess:
  lo, hi = data_range(config) if is_image(config) else (0.0, 1.0)
  return bj.Preprocess(mode=preprocess_mode(config), alpha=float(model_field(config.model, 'logit_alpha', 0.05)),
                       low=lo, high=hi)


def prior_name(config: Any) -> str:
  return model_field(config.model, 'prior', 'logistic' if config.model.name == 'nice' else 'gaussian')


def get_model(config: Any) -> Flow:
  """The ``Flow`` of ``config.model`` (NICE, RealNVP, Glow, spline; FFJORD is ``ffjord.get_cnf``)."""
  m, shape = config.model, data_shape(config)
  if m.name not in DISCRETE_MODELS:
    raise ValueError(f'get_model builds {DISCRETE_MODELS}; {m.name!r} is built by ffjord.get_cnf.')
  flatten = len(shape) == 3 and m.name == 'nice'
  body = build_image_body(m, shape) if len(shape) == 3 and not flatten else build_vector_body(m)
  return Flow(preprocess_module(config), body, shape, flatten, prior_name(config))


def is_variational(config: Any) -> bool:
  """Whether the images are dequantized by a learned q(u | x) (``dequantization.py``) instead of U[0, 1)."""
  return config.model.get('dequantization', 'uniform') == 'variational'


def flow_params(params: Any, config: Any) -> Any:
  """The flow's own parameters: ``params['flow']`` next to a variational dequantizer's, else ``params``."""
  return params['flow'] if is_variational(config) else params


def num_dims(config: Any) -> int:
  return int(np.prod(data_shape(config)))


# ------------------------------------------------------------------------------------- layer labels


def _leaf_label(layer: Any) -> str:
  if isinstance(layer, bj.Coupling):
    extra = f', {layer.scale_fn} scale' if layer.kind == 'affine' else ''
    return f'{layer.kind} coupling ({layer.mask} mask, parity {layer.parity}{extra})'
  if isinstance(layer, bj.InvConv1x1):
    return f'invertible 1x1 conv ({"LU" if layer.lu else "plain"})'
  if isinstance(layer, bj.Preprocess):
    return f'pre-transform ({layer.mode})'
  return {bj.ActNorm: 'actnorm', bj.Squeeze: 'squeeze', bj.Scaling: 'diagonal scaling',
          bj.LearnedPrior: 'top prior', bj.SplitPrior: 'split prior'}.get(type(layer), type(layer).__name__)


def _labels(module: Any) -> list[str]:
  if isinstance(module, Chain):
    prefix = f'{module.label}, ' if module.label else ''
    out, n = [], 0
    for layer in module.layers:
      if _is_composite(layer):
        out += [f'{prefix}{s}' for s in _labels(layer)]
      else:
        out.append(f'{prefix}layer {n}: {_leaf_label(layer)}')
      n += 1
    return out
  if isinstance(module, MultiScale):
    out = []
    for i, level in enumerate(module.levels):
      out += _labels(level)
      if i < len(module.levels) - 1:
        out.append(f'level {i}, {_leaf_label(module.splits[i])}')
    if module.top is not None:
      out.append(_leaf_label(module.top))
    return out
  return [_leaf_label(module)]


def layer_labels(flow: Flow) -> list[str]:
  """A name for every entry of the forward pass's ``finite`` flags, in the same order."""
  return [_leaf_label(flow.preprocess)] + _labels(flow.body)
