"""Chunked JAX nearest-neighbour helpers for ``sample_quality.precision_recall``.

Query rows are processed in fixed-size chunks (the last one zero-padded) so
each jitted function compiles once and only a [batch, N_ref] distance block
is materialised at a time.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np


def _sq_dists(query: jnp.ndarray, ref: jnp.ndarray, ref_sq: jnp.ndarray) -> jnp.ndarray:
  """[B, N] squared Euclidean distances (clamped at 0) in float32."""
  q_sq = jnp.sum(query * query, axis=1, keepdims=True)
  cross = jnp.matmul(query, ref.T, precision=jax.lax.Precision.HIGHEST)
  return jnp.maximum(q_sq + ref_sq[None, :] - 2.0 * cross, 0.0)


@functools.partial(jax.jit, static_argnames=("k",))
def kth_nn_sq_dist(
  query: jnp.ndarray, ref: jnp.ndarray, ref_sq: jnp.ndarray, k: int
) -> jnp.ndarray:
  """[B] squared distance from each query row (a member of ref) to its k-th neighbour."""
  # The query points belong to ref, so the smallest distance is the point
  # itself; the (k+1)-th smallest is the k-th nearest other point. Removing
  # the k smallest entries one argmin at a time (ties count with
  # multiplicity) is much faster than lax.top_k / sort on CPU.
  rows = jnp.arange(query.shape[0])

  def drop_min(_, d):
    return d.at[rows, jnp.argmin(d, axis=1)].set(jnp.inf)

  d2 = jax.lax.fori_loop(0, k, drop_min, _sq_dists(query, ref, ref_sq))
  return jnp.min(d2, axis=1)


@jax.jit
def inside_any_ball(
  query: jnp.ndarray, ref: jnp.ndarray, ref_sq: jnp.ndarray, ref_radii_sq: jnp.ndarray
) -> jnp.ndarray:
  """[B] bool: query row lies within some ref ball (squared radii [N_ref])."""
  return jnp.any(_sq_dists(query, ref, ref_sq) <= ref_radii_sq[None, :], axis=1)


def chunked(fn: Callable, query: np.ndarray, batch_size: int, *args) -> np.ndarray:
  """Applies fn to fixed-size (padded) row chunks so jit compiles once."""
  n = query.shape[0]
  bs = min(batch_size, n)
  outs = []
  for start in range(0, n, bs):
    chunk = query[start : start + bs]
    valid = chunk.shape[0]
    if valid < bs:
      chunk = np.concatenate([chunk, np.zeros((bs - valid, query.shape[1]), query.dtype)])
    outs.append(np.asarray(fn(jnp.asarray(chunk), *args))[:valid])
  return np.concatenate(outs)
