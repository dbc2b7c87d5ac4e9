"""Likelihood metrics: bits per dimension, dequantization offsets, IWAE bound.

Units convention used throughout: negative log-likelihoods (NLL) are in nats
(natural log) per example unless a name says otherwise; "bits per dim" is
the NLL in bits divided by the number of data dimensions D (e.g. D = H*W*C
for images).

Dequantized 8-bit data
----------------------
Discrete pixel values x in {0, ..., 255}^D are usually modelled by a
continuous density on a rescaled copy of the data, after adding uniform
noise u ~ U[0, 1)^D ("dequantization"):

* ``scale='01'``:  y = (x + u) / 256, so y lies in [0, 1]^D and each
  discrete value owns a bin of width 1/256 per dimension.
* ``scale='-11'``: y = 2 (x + u) / 256 - 1, so y lies in [-1, 1]^D and each
  bin has width 2/256 = 1/128 per dimension.

A bin of width w per dimension has volume w^D, so the probability mass of
the discrete value is P(x) = int_bin p(y) dy ~= p(y) w^D, i.e.

  -log P(x) = -log p(y) - D log w
            = NLL_cont + D ln 256   (scale '01',  w = 1/256)
            = NLL_cont + D ln 128   (scale '-11', w = 1/128).

With uniform dequantization, E_u[-log p(y)] - D log w is an upper bound
(by Jensen) on the discrete NLL, which is the number that is reported as
bits/dim on CIFAR-10 / ImageNet. Sanity check: the uniform density on
[0, 1]^D has NLL_cont = 0 and gives exactly 8 bits/dim after conversion;
the uniform density on [-1, 1]^D has NLL_cont = D ln 2 and also gives 8.
"""

from __future__ import annotations

import math
from typing import Any

import jax.numpy as jnp
import jax.scipy.special as jsp_special
import numpy as np

ArrayLike = Any

_LN2 = math.log(2.0)

__all__ = [
  "bits_per_dim",
  "continuous_to_discrete_nll",
  "nll_bits_per_dim",
  "data_kind",
  "DATA_KINDS",
  "mean_with_stderr",
  "mean_with_stderr_from_sums",
  "bits_per_dim_summary",
  "iwae_bound",
]


def bits_per_dim(nll_nats: ArrayLike, num_dims: int) -> ArrayLike:
  """Converts NLL in nats per example to bits per dimension.

  Args:
    nll_nats: NLL in nats per example; any shape (scalar or [N]), numpy or
      JAX (works under jit).
    num_dims: number of data dimensions D per example (e.g. 32*32*3).

  Returns:
    nll_nats / (D ln 2), same shape and array type as ``nll_nats``; bits/dim.
  """
  if num_dims <= 0:
    raise ValueError(f"num_dims must be positive, got {num_dims}")
  return nll_nats / (num_dims * _LN2)


def continuous_to_discrete_nll(
  nll_nats: ArrayLike, num_dims: int, scale: str, num_bits: int = 8
) -> ArrayLike:
  """Converts a continuous NLL of dequantized data to a discrete NLL.

  See the module docstring for the derivation. For ``num_bits`` = 8:

  * ``scale='01'`` (data y = (x + u) / 256 in [0, 1]):
    NLL_discrete = NLL_cont + D ln 256.
  * ``scale='-11'`` (data y = 2 (x + u) / 256 - 1 in [-1, 1]):
    NLL_discrete = NLL_cont + D ln 128.

  Args:
    nll_nats: continuous NLL -log p(y) in nats per example, any shape.
    num_dims: number of data dimensions D per example.
    scale: '01' or '-11', the range the data were rescaled to.
    num_bits: bit depth of the discrete data (2^num_bits levels); default 8.

  Returns:
    Discrete NLL in nats per example, same shape as ``nll_nats``.
  """
  if num_dims <= 0:
    raise ValueError(f"num_dims must be positive, got {num_dims}")
  levels = 2.0**num_bits
  if scale == "01":
    log_inv_bin_width = math.log(levels)
  elif scale == "-11":
    log_inv_bin_width = math.log(levels / 2.0)
  else:
    raise ValueError(f"scale must be '01' or '-11', got {scale!r}")
  return nll_nats + num_dims * log_inv_bin_width


DATA_KINDS = ("discrete", "dequantized", "continuous")


def nll_bits_per_dim(
  nll_nats: ArrayLike,
  num_dims: int,
  data: str,
  scale: str | None = None,
  num_bits: int = 8,
) -> ArrayLike:
  """The bits/dim every family reports, from an NLL in nats per example.

  This is the one conversion behind every ``bits_per_dim`` metric in gen_jax
  (VAE ELBO and IWAE bounds, flows, diffusion VLB and ODE, autoregressive
  models), so numbers of different families on the same data go in one table.

  Args:
    nll_nats: NLL per example in nats, any shape; numpy or JAX (jit-safe).
    num_dims: D, data dimensions per example (H * W * C, or tokens).
    data: what ``nll_nats`` is the NLL of:
      * ``'discrete'``: -log P(x) of discrete values (binarized pixels
        under a Bernoulli decoder, 8-bit pixels under a discretized
        decoder, tokens): bits/dim = NLL / (D ln 2).
      * ``'dequantized'``: -log p(y) of a density on uniformly dequantized
        ``num_bits`` data rescaled to ``scale`` ('01', '-11', or 'none' for
        pixel units): first converted to the discrete NLL with
        ``continuous_to_discrete_nll`` (+ D ln(1 / bin width)), so that it
        is an upper bound on, and comparable with, the discrete numbers of
        the same images.
      * ``'continuous'``: a density of real-valued data with no grid
        (toy2d points, signals): the density's own bits/dim, no conversion
        (it can be negative and is not comparable with image numbers).
    scale: the data range of ``'dequantized'`` data; ignored otherwise.
    num_bits: bit depth of dequantized data.

  Returns:
    Bits per dimension, same shape and array type as ``nll_nats``.
  """
  if data == "dequantized":
    if scale != "none":
      nll_nats = continuous_to_discrete_nll(nll_nats, num_dims, scale, num_bits)
  elif data not in ("discrete", "continuous"):
    raise ValueError(f"data must be one of {DATA_KINDS}, got {data!r}")
  return bits_per_dim(nll_nats, num_dims)


def data_kind(dataset_config: Any, discrete_likelihood: bool) -> str:
  """Which of ``DATA_KINDS`` a model's NLL on ``config.dataset`` is of.

  ``'discrete'`` when the model's likelihood is of discrete values
  (``discrete_likelihood``: a Bernoulli decoder on binarized pixels, a
  discretized decoder, tokens); otherwise ``'dequantized'`` when
  ``config.dataset.dequantize == 'uniform'``, else ``'continuous'``.
  """
  if discrete_likelihood:
    return "discrete"
  if dataset_config.get("dequantize", "none") == "uniform":
    return "dequantized"
  return "continuous"


def mean_with_stderr(
  values: ArrayLike, mask: ArrayLike | None = None
) -> tuple[float, float, int]:
  """Mean and standard error of the mean of a set of per-example values.

  Args:
    values: array of any shape (flattened); converted to float64 numpy.
    mask: optional array broadcastable to ``values``; entries with a
      non-zero/True mask are included (e.g. to drop padding examples).

  Returns:
    (mean, stderr, n): mean of the included values, their sample standard
    deviation (ddof=1) divided by sqrt(n) (None when n == 1: no standard
    error is defined, as everywhere in gen_jax), and the number n of
    included values. Same units as ``values``.
  """
  v = np.asarray(values, dtype=np.float64)
  if mask is not None:
    m = np.broadcast_to(np.asarray(mask), v.shape).astype(bool)
    v = v[m]
  v = v.reshape(-1)
  n = int(v.size)
  if n == 0:
    raise ValueError("mean_with_stderr needs at least one (unmasked) value")
  mean = float(v.mean())
  stderr = float(v.std(ddof=1) / math.sqrt(n)) if n > 1 else None
  return mean, stderr, n


def mean_with_stderr_from_sums(total: float, total_sq: float, n: float) -> tuple[float, float | None]:
  """Mean and standard error of the mean from streaming sums (sum, sum of squares, count).

  The loop's eval pass accumulates these over batches; the result agrees with
  ``mean_with_stderr`` of the same values (ddof=1; stderr None when n <= 1).
  """
  if n <= 0:
    raise ValueError("mean_with_stderr_from_sums needs at least one value")
  mean = total / n
  if n <= 1:
    return mean, None
  var = max(total_sq / n - mean * mean, 0.0) * n / (n - 1.0)
  return mean, math.sqrt(var / n)


def bits_per_dim_summary(
  per_example_nll_nats: ArrayLike,
  num_dims: int,
  mask: ArrayLike | None = None,
) -> dict[str, float | int]:
  """Dataset-level NLL and bits/dim with standard errors.

  Args:
    per_example_nll_nats: [N] NLL per example in nats (already converted to
      the discrete scale if needed, see ``continuous_to_discrete_nll``).
    num_dims: number of data dimensions D per example.
    mask: optional [N] validity mask (True = include).

  Returns:
    dict with ``bits_per_dim`` and ``bits_per_dim_stderr`` (bits/dim),
    ``nll_nats`` and ``nll_nats_stderr`` (nats/example), ``num_examples``.
  """
  mean, stderr, n = mean_with_stderr(per_example_nll_nats, mask)
  return dict(
    bits_per_dim=float(bits_per_dim(mean, num_dims)),
    bits_per_dim_stderr=None if stderr is None else float(bits_per_dim(stderr, num_dims)),
    nll_nats=mean,
    nll_nats_stderr=stderr,
    num_examples=n,
  )


def iwae_bound(log_weights: ArrayLike, axis: int = -1) -> jnp.ndarray:
  """Importance-weighted log-likelihood bound log (1/k) sum_i w_i.

  Computes logsumexp(log_weights, axis) - log k with the max-shift trick, so
  it is finite in float32 for k in the thousands even when the log weights
  are around -1000 (where exp underflows) or +1000 (where exp overflows).

  Args:
    log_weights: [..., k] (for axis=-1) log importance weights
      log p(x, z_i) - log q(z_i | x), in nats; JAX or numpy; jit-compatible.
    axis: the axis holding the k importance samples.

  Returns:
    [...] the IWAE lower bound on log p(x) in nats (negate for an NLL).
  """
  lw = jnp.asarray(log_weights)
  if not jnp.issubdtype(lw.dtype, jnp.floating):
    lw = lw.astype(jnp.float32)
  k = lw.shape[axis]
  if k == 0:
    raise ValueError("iwae_bound needs at least one importance sample")
  return jsp_special.logsumexp(lw, axis=axis) - math.log(k)
