"""Init, train and eval steps of the autoencoder family (the family contract, DESIGN.md section 2)."""
from typing import Any

import jax
import jax.numpy as jnp

from gen_jax.core.optim import make_optimizer
from gen_jax.core.state import TrainState, apply_gradients, create_train_state, eval_params, global_norm, step_rng
from gen_jax.eval import psnr
from gen_jax.eval.likelihood import data_kind, nll_bits_per_dim
from gen_jax.families.autoencoders import metrics as ae_metrics
from gen_jax.families.autoencoders.losses import (autoencoder_terms, data_range, decode_mean, gumbel_tau, kl_weight,
                                                  labels_of, negative_elbo, num_data_dims, posterior_point)
from gen_jax.families.autoencoders.models import get_model, is_variational, model_kind


def likelihood_data(config: Any) -> str | None:
  """What the negative ELBO is the NLL of (``gen_jax.eval.likelihood.DATA_KINDS``), or None.

  A Bernoulli decoder is a likelihood of binary pixels: 'discrete' when the dataset binarizes them,
  and no likelihood at all on grey levels (cross-entropy with targets in (0, 1) is not a normalised
  density, so it gets no bits/dim). A Gaussian decoder is a density: 'dequantized' on uniformly
  dequantized 8-bit data (converted to the discrete 8-bit NLL), else 'continuous'.
  """
  if config.model.get('likelihood', 'bernoulli') == 'bernoulli':
    return 'discrete' if config.dataset.get('binarize', 'none') != 'none' else None
  return data_kind(config.dataset, discrete_likelihood=False)


def nelbo_bits_per_dim(nelbo: jax.Array, config: Any) -> jax.Array:
  """Negative ELBO (or another NLL bound, nats per example) in bits/dim with the conversion every
  family shares (``gen_jax.eval.likelihood.nll_bits_per_dim``); see ``likelihood_data``."""
  return nll_bits_per_dim(nelbo, num_data_dims(config), likelihood_data(config), config.dataset.get('scale', '01'))


def init(rng: jax.Array, config: Any, example_batch: dict) -> TrainState:
  """Initial TrainState; parameters from ``rng`` and the shapes of ``example_batch['image']`` [B, H, W, C]."""
  model = get_model(config)
  x = example_batch['image'][:1]
  y = jnp.zeros((1,), jnp.int32) if model_kind(config.model.name) == 'cvae' else None
  params = model.init(rng, x, y)['params']
  tx = make_optimizer(config.optim, config.num_train_steps)
  return create_train_state(params, tx, ema=config.optim.get('ema_decay', 0.999) > 0)


def example_weights(batch: dict, config: Any) -> jax.Array:
  """Per-example loss weights [B]: 0 for rows whose label is in ``config.model.exclude_labels``
  (training without those classes, e.g. for anomaly detection), 1 otherwise."""
  exclude = tuple(config.model.get('exclude_labels', ()) or ())
  w = jnp.ones((batch['image'].shape[0],), jnp.float32)
  if exclude:
    w = jnp.where(jnp.isin(batch['label'], jnp.asarray(exclude, jnp.int32)), 0.0, w)
  return w


def _loss_terms(params, model, batch, rng, step, config):
  """Per-example training loss [B] and the per-example terms to report."""
  x, y = batch['image'], labels_of(batch, config)
  if not is_variational(config.model.name):
    terms = autoencoder_terms(params, model, x, y, rng, config)
    return terms['recon'], {'recon': terms['recon']}
  relaxed = config.model.get('posterior', 'gaussian') == 'categorical'
  terms = negative_elbo(params, model, x, rng, config, y, relaxed=relaxed, tau=gumbel_tau(step, config))
  loss = terms['recon'] + kl_weight(step, config) * terms['kl']
  return loss, {k: terms[k] for k in ('recon', 'kl', 'nelbo')}


def make_train_step(config: Any):
  """Pure ``(state, batch, rng) -> (state, metrics)``: one optimizer step on the mean per-example loss.

  Loss per example: -log p(x | enc(x~)) for an AE/DAE (x~ corrupted for a DAE); for a VAE the
  negative ELBO with the KL weighted by ``kl_weight`` (beta and warm-up). Rows with an excluded
  label get weight 0. Metrics (scalars): loss, grad_norm, the terms, bits_per_dim (VAEs), kl_weight
  (VAEs), gumbel_tau (categorical latents), and the fraction of rows used (with excluded labels).
  """
  model = get_model(config)
  tx = make_optimizer(config.optim, config.num_train_steps)
  ema_decay = float(config.optim.get('ema_decay', 0.999))
  variational = is_variational(config.model.name)
  with_bpd = variational and likelihood_data(config) is not None
  excluding = bool(tuple(config.model.get('exclude_labels', ()) or ()))

  def loss_fn(params, batch, rng, step):
    per_example, terms = _loss_terms(params, model, batch, rng, step, config)
    w = example_weights(batch, config)
    denom = jnp.maximum(jnp.sum(w), 1.0)
    return jnp.sum(w * per_example) / denom, {k: jnp.sum(w * v) / denom for k, v in terms.items()}

  def train_step(state: TrainState, batch: dict, rng: jax.Array):
    rng = step_rng(rng, state.step)
    (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, batch, rng, state.step)
    new_state = apply_gradients(state, grads, tx, ema_decay)
    metrics = {'loss': loss, 'grad_norm': global_norm(grads), **terms}
    if with_bpd:
      metrics['bits_per_dim'] = nelbo_bits_per_dim(terms['nelbo'], config)
    if variational:
      metrics['kl_weight'] = kl_weight(state.step, config)
      if config.model.get('posterior', 'gaussian') == 'categorical':
        metrics['gumbel_tau'] = gumbel_tau(state.step, config)
    if excluding:
      metrics['used_fraction'] = jnp.mean(example_weights(batch, config))
    return new_state, metrics

  return train_step


def iwae_k(config: Any) -> int:
  return int(config.get('eval', {}).get('iwae_k', 0) or 0)


def make_eval_step(config: Any):
  """Pure ``(state, batch, rng) -> per-example metrics``, each [B]:

  all models: ``recon`` (-log p(x|z), nats), ``mse`` (per pixel), ``psnr`` (dB) and, for [0, 1] data,
  ``bce`` (nats per image) of the deterministic reconstruction (decoder mean at the posterior mean /
  mode, or at enc(x~) for a DAE, always against the clean x);
  DAEs: ``psnr_noisy``, the PSNR of the corrupted input;
  VAEs: ``nelbo`` and ``kl`` (one posterior sample, nats), ``bits_per_dim`` of the negative ELBO (where the
  decoder is a likelihood of the data, see ``likelihood_data``), and,
  when ``config.eval.iwae_k`` > 0, ``iwae`` (the k-sample bound on log p(x), nats) with
  ``iwae_nll`` = -iwae and ``iwae_bits_per_dim``.
  """
  model = get_model(config)
  variational = is_variational(config.model.name)
  with_bpd = variational and likelihood_data(config) is not None
  k = iwae_k(config)
  chunk = int(config.get('eval', {}).get('iwae_chunk', 0) or 0)

  def eval_step(state: TrainState, batch: dict, rng: jax.Array):
    params = eval_params(state)
    x, y = batch['image'], labels_of(batch, config)
    if not variational:
      terms = autoencoder_terms(params, model, x, y, rng, config)
      x_hat = decode_mean(params, model, terms['z'], y, config)
      out = {'recon': terms['recon'], **ae_metrics.reconstruction_metrics(x_hat, x, config)}
      if model_kind(config.model.name) == 'dae':
        lo, hi = data_range(config)
        out['psnr_noisy'] = psnr(terms['x_in'], x, hi - lo)
      return out
    terms = negative_elbo(params, model, x, rng, config, y)
    x_hat = decode_mean(params, model, posterior_point(terms.pop('q'), config), y, config)
    out = {**terms, **ae_metrics.reconstruction_metrics(x_hat, x, config)}
    if with_bpd:
      out['bits_per_dim'] = nelbo_bits_per_dim(terms['nelbo'], config)
    if k > 0:
      ll = ae_metrics.iwae_log_likelihood(params, model, x, jax.random.fold_in(rng, 1), k, config, y, chunk)
      out['iwae'] = ll
      out['iwae_nll'] = -ll
      if with_bpd:
        out['iwae_bits_per_dim'] = nelbo_bits_per_dim(-ll, config)
    return out

  return eval_step
