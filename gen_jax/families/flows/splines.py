"""Monotonic rational-quadratic splines (Durkan et al. 2019, "Neural Spline Flows", section 3.1).

An element-wise bijection of the real line: on ``[-bound, bound]`` a spline of ``K`` bins whose knots
``(x_k, y_k)`` and knot derivatives ``d_k`` come from unconstrained parameters; outside it the
identity (the boundary derivatives are 1, so the map is C^1 at +-bound). In bin k with
``xi = (x - x_k) / w_k`` and ``s_k = h_k / w_k`` (Gregory & Delbourgo 1982):

  y  = y_k + h_k [s_k xi^2 + d_k xi (1 - xi)] / [s_k + (d_{k+1} + d_k - 2 s_k) xi (1 - xi)]
  dy/dx = s_k^2 [d_{k+1} xi^2 + 2 s_k xi (1 - xi) + d_k (1 - xi)^2] / [s_k + (d_{k+1} + d_k - 2 s_k) xi (1 - xi)]^2

The inverse solves the quadratic ``a xi^2 + b xi + c = 0`` for the root in [0, 1] in the
numerically stable form ``xi = 2 c / (-b - sqrt(b^2 - 4 a c))`` (the paper's appendix A.3).

Parameters per transformed element (last axis of ``params``, ``3K - 1`` values): K bin widths, K
bin heights (softmax-normalised, each at least ``min_bin``) and K - 1 interior knot derivatives
(``min_derivative + softplus``). Widths and heights are scaled to the interval ``[-bound, bound]``.
"""
import jax
import jax.numpy as jnp

MIN_BIN = 1e-3
MIN_DERIVATIVE = 1e-3


def num_params(bins: int) -> int:
  """Unconstrained parameters per transformed element: K widths, K heights, K - 1 derivatives."""
  return 3 * bins - 1


def _knots(unnormalized: jax.Array, bound: float, min_bin: float) -> tuple[jax.Array, jax.Array]:
  """Bin sizes [..., K] and knot positions [..., K + 1] on [-bound, bound] from logits [..., K]."""
  k = unnormalized.shape[-1]
  size = min_bin + (1.0 - min_bin * k) * jax.nn.softmax(unnormalized, axis=-1)
  cum = jnp.concatenate([jnp.zeros_like(size[..., :1]), jnp.cumsum(size, axis=-1)], axis=-1)
  knots = 2.0 * bound * cum - bound
  knots = knots.at[..., 0].set(-bound).at[..., -1].set(bound)  # exact ends despite rounding
  return knots[..., 1:] - knots[..., :-1], knots


def spline_params(params: jax.Array, bound: float, min_bin: float = MIN_BIN,
                  min_derivative: float = MIN_DERIVATIVE) -> tuple[jax.Array, ...]:
  """(widths [..., K], x knots [..., K+1], heights [..., K], y knots [..., K+1], derivatives [..., K+1])."""
  k = (params.shape[-1] + 1) // 3
  uw, uh, ud = params[..., :k], params[..., k:2 * k], params[..., 2 * k:]
  widths, xk = _knots(uw, bound, min_bin)
  heights, yk = _knots(uh, bound, min_bin)
  ones = jnp.ones_like(ud[..., :1])  # linear tails: derivative 1 at both ends
  derivs = jnp.concatenate([ones, min_derivative + jax.nn.softplus(ud), ones], axis=-1)
  return widths, xk, heights, yk, derivs


def _gather(a: jax.Array, idx: jax.Array) -> jax.Array:
  """``a[..., idx]`` per element, as a one-hot sum (K is small; compiles and vectorises better than a gather)."""
  return jnp.sum(a * jax.nn.one_hot(idx, a.shape[-1], dtype=a.dtype), axis=-1)


def _bin_index(knots: jax.Array, v: jax.Array) -> jax.Array:
  """Index of the bin of ``v`` (clipped to 0..K-1) for knots [..., K+1]."""
  k = knots.shape[-1] - 1
  return jnp.clip(jnp.sum((v[..., None] >= knots[..., 1:-1]).astype(jnp.int32), axis=-1), 0, k - 1)


def rational_quadratic_spline(x: jax.Array, params: jax.Array, bound: float = 3.0, inverse: bool = False,
                              min_bin: float = MIN_BIN, min_derivative: float = MIN_DERIVATIVE
                              ) -> tuple[jax.Array, jax.Array]:
  """The spline (or its inverse) applied element-wise; returns ``(y, log|dy/dx|)``, both shaped like ``x``.

  ``x`` [...]; ``params`` [..., 3K - 1] unconstrained (see the module docstring). With ``inverse``,
  ``x`` is the output side and the log-derivative returned is that of the inverse map (the negative
  of the forward log-derivative at the result).
  """
  widths, xk, heights, yk, derivs = spline_params(params.astype(jnp.float32), bound, min_bin, min_derivative)
  x = x.astype(jnp.float32)
  inside = (x >= -bound) & (x <= bound)
  xc = jnp.clip(x, -bound, bound)
  idx = _bin_index(yk if inverse else xk, xc)
  x_k, w_k, y_k, h_k = _gather(xk, idx), _gather(widths, idx), _gather(yk, idx), _gather(heights, idx)
  d_k, d_k1 = _gather(derivs, idx), _gather(derivs, idx + 1)
  s_k = h_k / w_k
  total = d_k + d_k1 - 2.0 * s_k
  if inverse:
    dy = xc - y_k
    a = h_k * (s_k - d_k) + dy * total
    b = h_k * d_k - dy * total
    c = -s_k * dy
    disc = jnp.maximum(b * b - 4.0 * a * c, 0.0)
    xi = jnp.clip((2.0 * c) / (-b - jnp.sqrt(disc)), 0.0, 1.0)
    out = xi * w_k + x_k
  else:
    xi = (xc - x_k) / w_k
    out = y_k + h_k * (s_k * xi * xi + d_k * xi * (1.0 - xi)) / (s_k + total * xi * (1.0 - xi))
  one_m = 1.0 - xi
  denom = s_k + total * xi * one_m
  log_deriv = (2.0 * jnp.log(s_k) + jnp.log(d_k1 * xi * xi + 2.0 * s_k * xi * one_m + d_k * one_m * one_m)
               - 2.0 * jnp.log(denom))
  if inverse:
    log_deriv = -log_deriv
  y = jnp.where(inside, out, x)
  return y, jnp.where(inside, log_deriv, 0.0)
