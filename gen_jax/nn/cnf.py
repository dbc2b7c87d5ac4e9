"""Pieces shared by every continuous-time density (diffusion's probability-flow ODE, FFJORD):
divergence estimators, diffrax solvers by name, and the number of function evaluations of a solve.

The instantaneous change of variables (Chen et al. 2018): for ``dx/dt = f(x, t)``,
``d log p(x(t)) / dt = -div f = -tr(df/dx)``. The divergence is computed exactly (D Jacobian-vector
products; small D only) or estimated without bias by Hutchinson's estimator ``e^T (df/dx) e`` with
``E[e e^T] = I`` (Rademacher or Gaussian probes; Grathwohl et al. 2019). The same JVP gives an
unbiased estimate ``|(df/dx) e|^2`` of the squared Frobenius norm of the Jacobian (RNODE's
regulariser, Finlay et al. 2020).
"""
import math
from typing import Callable

import diffrax
import jax
import jax.numpy as jnp

ESTIMATORS = ('rademacher', 'gaussian', 'exact')
ODE_SOLVERS = ('tsit5', 'dopri5', 'heun', 'euler')
# (function evaluations per step, extra evaluations per solve) of diffrax's solvers: Tsit5 and Dopri5
# have 7 stages, the last reused as the next step's first (FSAL), plus one evaluation at t0.
# Checked against a counting vector field in tests/families/flows/test_ffjord.py.
_EVALS = {'tsit5': (6, 1), 'dopri5': (6, 1), 'heun': (2, 0), 'euler': (1, 0)}


def make_solver(name: str) -> diffrax.AbstractSolver:
  """A diffrax solver by name (``ODE_SOLVERS``)."""
  return {'tsit5': diffrax.Tsit5, 'dopri5': diffrax.Dopri5, 'heun': diffrax.Heun, 'euler': diffrax.Euler}[name]()


def function_evaluations(solver: str, num_steps: jax.Array) -> jax.Array:
  """Vector-field evaluations of one diffrax solve that took ``num_steps`` steps (accepted + rejected)."""
  per_step, extra = _EVALS[solver]
  return per_step * num_steps + extra


def trace_probe(rng: jax.Array, shape: tuple[int, ...], estimator: str) -> jax.Array | None:
  """A Hutchinson probe of ``shape`` ('rademacher': +-1, 'gaussian': N(0, 1)), or None for 'exact'."""
  if estimator == 'rademacher':
    return jax.random.rademacher(rng, shape, jnp.float32)
  if estimator == 'gaussian':
    return jax.random.normal(rng, shape, jnp.float32)
  if estimator == 'exact':
    return None
  raise ValueError(f'unknown trace estimator {estimator!r}; allowed: {", ".join(ESTIMATORS)}.')


def divergence(fn: Callable[[jax.Array], jax.Array], x: jax.Array, probe: jax.Array | None,
               frobenius: bool = False):
  """``(fn(x), div [B])``, or ``(fn(x), div [B], |J|_F^2 [B])`` with ``frobenius``.

  Hutchinson ``probe^T J probe`` (and ``|J probe|^2``) with one JVP, or exact (and the exact squared
  Frobenius norm) when ``probe`` is None, with D JVPs in a ``lax.map``. ``fn`` must act on each
  example independently (its Jacobian is block-diagonal over the batch axis 0).
  """
  b = x.shape[0]
  if probe is not None:
    y, jv = jax.jvp(fn, (x,), (probe,))
    div = jnp.sum((jv * probe).reshape(b, -1), axis=-1)
    if frobenius:
      return y, div, jnp.sum(jnp.square(jv).reshape(b, -1), axis=-1)
    return y, div
  y = fn(x)
  d = math.prod(x.shape[1:])

  def column(i):
    e = jnp.broadcast_to(jax.nn.one_hot(i, d, dtype=x.dtype), (b, d)).reshape(x.shape)
    _, jv = jax.jvp(fn, (x,), (e,))
    return jnp.sum((jv * e).reshape(b, -1), axis=-1), jnp.sum(jnp.square(jv).reshape(b, -1), axis=-1)

  diag, sq = jax.lax.map(column, jnp.arange(d))
  if frobenius:
    return y, jnp.sum(diag, axis=0), jnp.sum(sq, axis=0)
  return y, jnp.sum(diag, axis=0)
