"""The bijectors of the flow family (Flax Linen modules with a pure ``apply``).

Every bijector is called as ``y, log_det = layer(x)`` (forward, data -> latent) and
``x, log_det = layer(y, reverse=True)`` (inverse); ``log_det`` [B] is ``log |det dy/dx|`` of the
map that was applied, in nats per example (so the inverse returns the negative of the forward
log-det at its output). Inputs are images ``[B, H, W, C]`` or vectors ``[B, D]``; the leading axis
is the batch and every map acts on each example independently.

* ``Preprocess``      data range -> unit interval -> logit (RealNVP, with ``alpha``) or a shift by -1/2 (Glow)
* ``ActNorm``         per-channel affine with data-dependent initialisation (Glow, Kingma & Dhariwal 2018)
* ``InvConv1x1``      invertible 1x1 convolution (a learned C x C mixing of channels), plain or LU
* ``Coupling``        additive (NICE), affine (RealNVP / Glow) or rational-quadratic spline (NSF)
                      coupling with channel, checkerboard, half or interleaved masks
* ``Scaling``         NICE's diagonal scaling layer ``y = x exp(s)``
* ``Squeeze``         space-to-depth 2x2 (H, W, C) -> (H/2, W/2, 4C)
* ``SplitPrior``      the prior of factored-out channels given the kept ones, as a bijector
                      ``eps = (z - mu(z_keep)) / sigma(z_keep)`` (Glow's learned conditional prior)
* ``LearnedPrior``    an unconditional learned Gaussian ``eps = (z - mu) / sigma`` (Glow's top prior)
"""
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gen_jax.families.flows import splines
from gen_jax.nn.layers import depth_to_space, space_to_depth

SCALE_FNS = ('sigmoid', 'tanh', 'exp')
COUPLINGS = ('additive', 'affine', 'spline')
MASKS = ('channel', 'checkerboard', 'half', 'interleave')
PREPROCESS = ('logit', 'shift', 'none')


def _per_example(x: jax.Array) -> jax.Array:
  """Sum over every axis but the batch: [B, ...] -> [B] (float32)."""
  return jnp.sum(x.reshape(x.shape[0], -1).astype(jnp.float32), axis=-1)


def _positions(x: jax.Array) -> int:
  """Spatial positions per example that share per-channel parameters (H * W, or 1 for vectors)."""
  return int(np.prod(x.shape[1:-1])) if x.ndim > 2 else 1


def _constant_log_det(x: jax.Array, value: jax.Array) -> jax.Array:
  return jnp.broadcast_to(jnp.asarray(value, jnp.float32), (x.shape[0],))


class Preprocess(nn.Module):
  """Data in ``[low, high]`` -> ``u`` in [0, 1] -> the flow's input space.

  ``mode='logit'``: ``logit(alpha + (1 - 2 alpha) u)`` (Dinh et al. 2017, section 4.1), log-det
  ``D log((1 - 2 alpha) / (high - low)) - sum log(p (1 - p))``; ``'shift'``: ``u - 1/2`` (Glow), log-det
  ``-D log(high - low)``; ``'none'``: the identity (points). Counted in every NLL, so bits/dim
  are those of the data as the pipeline delivers it.
  """
  mode: str = 'logit'
  alpha: float = 0.05
  low: float = 0.0
  high: float = 1.0

  def __call__(self, x, reverse=False):
    if self.mode == 'none':
      return x, jnp.zeros((x.shape[0],), jnp.float32)
    d = int(np.prod(x.shape[1:]))
    width = self.high - self.low
    if not reverse:
      u = (x.astype(jnp.float32) - self.low) / width
      if self.mode == 'shift':
        return u - 0.5, _constant_log_det(x, -d * np.log(width))
      p = self.alpha + (1.0 - 2.0 * self.alpha) * u
      y = jnp.log(p) - jnp.log1p(-p)
      ld = d * np.log((1.0 - 2.0 * self.alpha) / width) - _per_example(jnp.log(p) + jnp.log1p(-p))
      return y, ld
    if self.mode == 'shift':
      return (x + 0.5) * width + self.low, _constant_log_det(x, d * np.log(width))
    p = jax.nn.sigmoid(x)
    u = (p - self.alpha) / (1.0 - 2.0 * self.alpha)
    ld = -(d * np.log((1.0 - 2.0 * self.alpha) / width)) + _per_example(jax.nn.log_sigmoid(x) +
                                                                         jax.nn.log_sigmoid(-x))
    return u * width + self.low, ld


class ActNorm(nn.Module):
  """``y = (x + loc) exp(log_scale)`` per channel (last axis), log-det ``H W sum(log_scale)``.

  Data-dependent initialisation (Glow): at ``init``, ``loc = -mean(x)`` and ``log_scale =
  log(scale / (std(x) + eps))`` over every axis but the channels, so the first batch leaves the layer
  with zero mean and standard deviation ``scale`` per channel. Under ``jit`` with a sharded batch the
  statistics are those of the global batch (XLA reduces across devices).
  """
  scale: float = 1.0
  eps: float = 1e-6

  @nn.compact
  def __call__(self, x, reverse=False):
    axes = tuple(range(x.ndim - 1))
    c = x.shape[-1]
    xf = x.astype(jnp.float32)
    loc = self.param('loc', lambda _: -jnp.mean(xf, axis=axes) if not reverse else jnp.zeros((c,)))
    log_scale = self.param('log_scale', lambda _: jnp.log(self.scale / (jnp.std(xf, axis=axes) + self.eps))
                           if not reverse else jnp.zeros((c,)))
    ld = _constant_log_det(x, _positions(x) * jnp.sum(log_scale))
    if not reverse:
      return (xf + loc) * jnp.exp(log_scale), ld
    return xf * jnp.exp(-log_scale) - loc, -ld


def lu_init(w0: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
  """(lower, upper, log_s) with ``W = (tril(lower, -1) + I) (triu(upper, 1) + diag(exp(log_s)))`` equal
  to ``P^T w0 D`` for the pivoted LU ``w0 = P L U`` and ``D = diag(sign(diag U))``: for an orthogonal
  ``w0`` (Glow's random rotation) the initial W is orthogonal too, with no stored permutation or signs."""
  p, lower, upper = jax.scipy.linalg.lu(w0)
  del p
  s = jnp.diag(upper)
  upper = upper * jnp.sign(s)[None, :]
  return lower, jnp.triu(upper, 1), jnp.log(jnp.abs(s))


def conv_weight(params: dict, lu: bool) -> tuple[jax.Array, jax.Array]:
  """(W [C, C], log|det W|) of an ``InvConv1x1`` from its parameters: ``kernel`` (plain), or ``lower``,
  ``upper``, ``log_s`` with ``W = (tril(lower, -1) + I) (triu(upper, 1) + diag(exp(log_s)))`` (LU)."""
  if not lu:
    w = params['kernel']
    return w, jnp.linalg.slogdet(w)[1]
  c = params['log_s'].shape[0]
  lower = jnp.tril(params['lower'], -1) + jnp.eye(c)
  upper = jnp.triu(params['upper'], 1) + jnp.diag(jnp.exp(params['log_s']))
  return lower @ upper, jnp.sum(params['log_s'])


class InvConv1x1(nn.Module):
  """``y = x W`` over the channels (an invertible 1x1 convolution; a linear map for vectors).

  ``lu=False``: W is a free C x C matrix initialised to a random rotation, log-det
  ``H W log|det W|``. ``lu=True``: ``W = L (U + diag(exp(log_s)))`` with L unit lower-triangular and U
  strictly upper-triangular, log-det ``H W sum(log_s)`` in O(C) (Glow, section 3.2); see ``conv_weight``.
  """
  lu: bool = True

  @nn.compact
  def __call__(self, x, reverse=False):
    c = x.shape[-1]
    init = self.is_initializing()
    w0 = nn.initializers.orthogonal()(self.make_rng('params'), (c, c), jnp.float32) if init else None
    if not self.lu:
      params = {'kernel': self.param('kernel', lambda _: w0)}
    else:
      lower0, upper0, logs0 = lu_init(w0) if init else (None, None, None)
      params = {'lower': self.param('lower', lambda _: lower0), 'upper': self.param('upper', lambda _: upper0),
                'log_s': self.param('log_s', lambda _: logs0)}
    w, logdet = conv_weight(params, self.lu)
    ld = _constant_log_det(x, _positions(x) * logdet)
    if not reverse:
      return jnp.einsum('...i,ij->...j', x.astype(jnp.float32), w, precision='highest'), ld
    return jnp.einsum('...i,ij->...j', x.astype(jnp.float32), jnp.linalg.inv(w), precision='highest'), -ld


class Squeeze(nn.Module):
  """Space-to-depth: [B, H, W, C] -> [B, H/2, W/2, 4C] (a permutation: log-det 0)."""

  def __call__(self, x, reverse=False):
    y = depth_to_space(x, 2) if reverse else space_to_depth(x, 2)
    return y, jnp.zeros((x.shape[0],), jnp.float32)


class Scaling(nn.Module):
  """NICE's diagonal scaling ``y = x exp(s)`` (s per dimension, initialised to 0), log-det ``sum(s)``."""

  @nn.compact
  def __call__(self, x, reverse=False):
    s = self.param('log_scale', nn.initializers.zeros, x.shape[1:])
    ld = _constant_log_det(x, jnp.sum(s))
    return (x * jnp.exp(s), ld) if not reverse else (x * jnp.exp(-s), -ld)


class ConvNet(nn.Module):
  """The coupling network for images: conv 3x3 -> ReLU -> conv 1x1 -> ReLU -> zero-initialised conv 3x3
  (Glow's NN(); the zero last layer makes every coupling start as the identity up to its scale offset)."""
  hidden: int
  out: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, h):
    h = nn.relu(nn.Conv(self.hidden, (3, 3), dtype=self.dtype)(h.astype(self.dtype)))
    h = nn.relu(nn.Conv(self.hidden, (1, 1), dtype=self.dtype)(h))
    return nn.Conv(self.out, (3, 3), dtype=jnp.float32, kernel_init=nn.initializers.zeros)(h).astype(jnp.float32)


class MLPNet(nn.Module):
  """The coupling network for vectors: ``layers`` ReLU dense layers of ``hidden`` units and a
  zero-initialised output layer."""
  hidden: int
  out: int
  layers: int = 2
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, h):
    h = h.astype(self.dtype)
    for _ in range(self.layers):
      h = nn.relu(nn.Dense(self.hidden, dtype=self.dtype)(h))
    return nn.Dense(self.out, dtype=jnp.float32, kernel_init=nn.initializers.zeros)(h).astype(jnp.float32)


def checkerboard(h: int, w: int, parity: int) -> np.ndarray:
  """[H, W, 1] float32 mask, 1 where ``(i + j + parity)`` is even (the conditioning pixels)."""
  i, j = np.meshgrid(np.arange(h), np.arange(w), indexing='ij')
  return ((i + j + parity) % 2 == 0).astype(np.float32)[..., None]


def log_scale(h: jax.Array, scale_fn: str, factor: jax.Array | None = None) -> jax.Array:
  """The log of an affine coupling's scale from the network's raw output ``h``:
  'sigmoid' ``log sigmoid(h + 2)`` (Glow; the scale lies in (0, 1)), 'tanh' ``factor * tanh(h)``
  (RealNVP; a bounded log-scale with a learned per-channel factor), 'exp' ``h`` (unbounded)."""
  if scale_fn == 'sigmoid':
    return jax.nn.log_sigmoid(h + 2.0)
  if scale_fn == 'tanh':
    return factor * jnp.tanh(h)
  return h


class Coupling(nn.Module):
  """A coupling layer: one part ``x_a`` of the input passes unchanged and conditions an element-wise
  bijection of the other part ``x_b`` (Dinh et al. 2015, 2017; Durkan et al. 2019):

    additive  y_b = x_b + t(x_a)                       log-det 0
    affine    y_b = x_b s(x_a) + t(x_a)                log-det sum log s      (``scale_fn``)
    spline    y_b = RQS(x_b; theta(x_a))               log-det sum log RQS'   (``bins``, ``bound``)

  ``mask``: 'channel' (images: the first / second half of the channels), 'checkerboard' (images:
  pixels with even / odd i + j, all channels, the mask given to the network as an extra channel),
  'half' (vectors: the first / second half of the dimensions), 'interleave' (vectors: even / odd
  indices, NICE). ``parity`` 1 swaps the roles of the two parts.
  """
  kind: str = 'affine'
  mask: str = 'channel'
  parity: int = 0
  hidden: int = 64
  layers: int = 2
  scale_fn: str = 'sigmoid'
  bins: int = 8
  bound: float = 3.0
  dtype: Any = jnp.float32

  def _split(self, x):
    if self.mask == 'interleave':
      a, b = x[..., 0::2], x[..., 1::2]
    else:  # channel / half
      d1 = x.shape[-1] // 2
      a, b = x[..., :d1], x[..., d1:]
    return (b, a) if self.parity else (a, b)

  def _merge(self, x, a, b):
    if self.parity:
      a, b = b, a
    if self.mask == 'interleave':
      return x.at[..., 0::2].set(a).at[..., 1::2].set(b)
    return jnp.concatenate([a, b], axis=-1)

  def _net(self, n_out):
    if self.mask in ('channel', 'checkerboard'):
      return ConvNet(self.hidden, n_out, self.dtype, name='net')
    return MLPNet(self.hidden, n_out, self.layers, self.dtype, name='net')

  def _transform(self, xb, h, reverse):
    """(y_b, log-det elements) of the element-wise map of ``xb`` with network output ``h``."""
    n = xb.shape[-1]
    if self.kind == 'additive':
      return (xb - h if reverse else xb + h), jnp.zeros_like(xb)
    if self.kind == 'affine':
      raw, t = h[..., :n], h[..., n:]
      factor = self.param('scale_factor', nn.initializers.ones, (n,)) if self.scale_fn == 'tanh' else None
      ls = log_scale(raw, self.scale_fn, factor)
      if reverse:
        return (xb - t) * jnp.exp(-ls), -ls
      return xb * jnp.exp(ls) + t, ls
    theta = h.reshape(h.shape[:-1] + (n, splines.num_params(self.bins)))
    return splines.rational_quadratic_spline(xb, theta, self.bound, inverse=reverse)

  def _outputs_per_element(self) -> int:
    return {'additive': 1, 'affine': 2, 'spline': splines.num_params(self.bins)}[self.kind]

  @nn.compact
  def __call__(self, x, reverse=False):
    x = x.astype(jnp.float32)
    if self.mask == 'checkerboard':
      m = jnp.asarray(checkerboard(x.shape[1], x.shape[2], self.parity))
      c = x.shape[-1]
      cond = jnp.concatenate([x * m, jnp.broadcast_to(m, x.shape[:-1] + (1,))], axis=-1)
      h = self._net(c * self._outputs_per_element())(cond)
      y, ld = self._transform(x, h, reverse)
      return m * x + (1 - m) * y, _per_example((1 - m) * ld)
    a, b = self._split(x)
    h = self._net(b.shape[-1] * self._outputs_per_element())(a)
    yb, ld = self._transform(b, h, reverse)
    return self._merge(x, a, yb), _per_example(ld)


class ZeroConv(nn.Module):
  """A zero-initialised 3x3 convolution (images) or dense layer (vectors) with a learned output scale
  ``exp(3 logs)`` (Glow's Conv2DZeros): outputs exactly 0 at initialisation."""
  out: int

  @nn.compact
  def __call__(self, h):
    if h.ndim == 4:
      y = nn.Conv(self.out, (3, 3), kernel_init=nn.initializers.zeros)(h)
    else:
      y = nn.Dense(self.out, kernel_init=nn.initializers.zeros)(h)
    return y * jnp.exp(3.0 * self.param('logs', nn.initializers.zeros, (self.out,)))


class SplitPrior(nn.Module):
  """The factored-out half ``z`` of a multi-scale level and its prior given the kept half ``cond``,
  as the bijector ``eps = (z - mu(cond)) exp(-log_sigma(cond))`` (log-det ``-sum log_sigma``), so that
  ``eps ~ N(0, I)``. ``learned=False`` is the standard normal prior of RealNVP (``eps = z``)."""
  learned: bool = True

  @nn.compact
  def __call__(self, z, cond, reverse=False):
    if not self.learned:
      return z, jnp.zeros((z.shape[0],), jnp.float32)
    h = ZeroConv(2 * z.shape[-1])(cond.astype(jnp.float32))
    mu, log_sigma = h[..., 0::2], h[..., 1::2]
    ld = -_per_example(log_sigma)
    if not reverse:
      return (z - mu) * jnp.exp(-log_sigma), ld
    return z * jnp.exp(log_sigma) + mu, -ld


class LearnedPrior(nn.Module):
  """An unconditional Gaussian with learned mean and log-std per element (zero-initialised) as the
  bijector ``eps = (z - mu) exp(-log_sigma)`` (Glow's ``learn_top``)."""

  @nn.compact
  def __call__(self, z, reverse=False):
    mu = self.param('mu', nn.initializers.zeros, z.shape[1:])
    log_sigma = self.param('log_sigma', nn.initializers.zeros, z.shape[1:])
    ld = _constant_log_det(z, -jnp.sum(log_sigma))
    if not reverse:
      return (z - mu) * jnp.exp(-log_sigma), ld
    return z * jnp.exp(log_sigma) + mu, -ld
