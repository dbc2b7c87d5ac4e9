"""Per-example negative log-likelihoods of the flow family, in nats (pure functions of the parameters).

``-log p(x) = -(log prior(eps) + log |det d eps / dx|)`` for the discrete flows (the pre-transform's
log-det included), ``-(log N(z(t1)) + int tr(df/dx) dt)`` for FFJORD. ``nll_terms`` returns the NLL
[B] with what the train step reports: the per-layer finiteness flags of a discrete flow, or FFJORD's
NFE and RNODE integrals.
"""
from typing import Any

import jax
import jax.numpy as jnp

from gen_jax.eval.likelihood import data_kind, nll_bits_per_dim
from gen_jax.families.flows import ffjord
from gen_jax.families.flows.dequantization import VariationalDequantizer, pixels_of
from gen_jax.families.flows.models import (data_range, flow_params, get_model, is_variational, num_dims,
                                           preprocess_module, prior_log_prob, prior_name)


def data_key(batch: dict) -> str:
  """'image' for image datasets, 'x' for points."""
  return 'image' if 'image' in batch else 'x'


def is_cnf(config: Any) -> bool:
  return config.model.name == 'ffjord'


def bits_per_dim(nll: jax.Array, config: Any) -> jax.Array:
  """NLL (nats per example) -> bits/dim with the conversion every family shares: a density of
  uniformly dequantized 8-bit images is converted to the discrete 8-bit NLL ('dequantized', with the
  data's ``config.dataset.scale``); points keep their own ('continuous') bits/dim."""
  return nll_bits_per_dim(nll, num_dims(config), data_kind(config.dataset, False), config.dataset.get('scale', '01'))


def dequantizer(config: Any) -> VariationalDequantizer:
  m = config.model
  return VariationalDequantizer(int(m.get('deq_depth', 4)), int(m.get('deq_hidden', 32)))


def variational_input(params: Any, x: jax.Array, rng: jax.Array, config: Any) -> tuple[jax.Array, jax.Array]:
  """(y, log q(u | x) [B]): the pixels of the uniformly dequantized ``x`` re-dequantized with noise
  ``u ~ q(u | x)`` from the variational dequantizer (``dequantization.py``), in the data's range."""
  lo, hi = data_range(config)
  pixels = pixels_of(x, lo, hi)
  eps = jax.random.normal(rng, x.shape, jnp.float32)
  u, log_q = dequantizer(config).apply({'params': params['dequantizer']}, pixels, eps)
  return lo + (hi - lo) * (pixels + u) / 256.0, log_q


def flow_nll(params: Any, x: jax.Array, config: Any, rng: jax.Array | None = None) -> tuple[jax.Array, dict]:
  """A discrete flow's NLL [B] (nats) and ``{'finite': [num_layers] bool, 'eps': latent [B, D]}``.

  With variational dequantization (``config.model.dequantization='variational'``) the NLL is the one-sample
  bound ``-log p(y) + log q(u | x)`` on the re-dequantized ``y`` (returned as 'y', with 'log_q').
  """
  aux = {}
  if is_variational(config):
    x, log_q = variational_input(params, x, rng, config)
    aux = {'y': x, 'log_q': log_q}
  eps, log_det, finite = get_model(config).apply({'params': flow_params(params, config)}, x)
  nll = -(prior_log_prob(eps, prior_name(config)) + log_det)
  if is_variational(config):
    nll = nll + aux['log_q']
  return nll, {'finite': finite, 'eps': eps, **aux}


def cnf_nll(params: Any, x: jax.Array, rng: jax.Array, config: Any) -> tuple[jax.Array, dict]:
  """FFJORD's NLL [B] (nats; the pre-transform's log-det included) and ``ffjord.log_density``'s terms."""
  y, pre_ld = preprocess_module(config).apply({}, x)
  out = ffjord.log_density(ffjord.get_net(config), params, y, rng, config)
  return -(out['z_logp'] + out['delta'] + pre_ld), out


def nll_terms(params: Any, x: jax.Array, rng: jax.Array, config: Any) -> tuple[jax.Array, dict]:
  """The NLL [B] in nats of any flow of the family, with its diagnostics (see the module docstring)."""
  if is_cnf(config):
    return cnf_nll(params, x, rng, config)
  return flow_nll(params, x, config, rng)


def first_nonfinite(finite: jax.Array) -> jax.Array:
  """Index (float32) of the first False in ``finite`` [L], or -1 when all are True."""
  idx = jnp.argmin(finite.astype(jnp.int32))
  return jnp.where(jnp.all(finite), -1, idx).astype(jnp.float32)
