"""Init, train and eval steps of the autoencoder family (the family contract)."""
import math
from typing import Any

import jax
import jax.numpy as jnp

from gen_jax.core.optim import make_optimizer
from gen_jax.eval.likelihood import bits_per_dim, continuous_to_discrete_nll
from gen_jax.core.state import TrainState, create_train_state, ema_decay_at, ema_update, global_norm, step_rng
from gen_jax.families.autoencoders import losses
from gen_jax.families.autoencoders.models import build_vae


def image_shape(config: Any) -> tuple[int, int, int]:
  return tuple(config.model.image_shape)


def get_model(config: Any):
  return build_vae(config.model, image_shape(config))


def nelbo_bits_per_dim(nelbo: jax.Array, config: Any) -> jax.Array:
  """Negative ELBO (nats per example) in bits/dim of the data the model sees.

  Binary data under a Bernoulli decoder is discrete already. A Gaussian decoder is a
  density: on dequantized 8-bit data it is converted to the discrete 256-level NLL with
  ``gen_jax.eval.continuous_to_discrete_nll`` (the definition every family shares).
  """
  num_dims = math.prod(image_shape(config))
  if config.dataset.get('dequantize', 'none') == 'uniform':
    nelbo = continuous_to_discrete_nll(nelbo, num_dims, config.dataset.get('scale', '01'))
  return bits_per_dim(nelbo, num_dims)


def init(rng: jax.Array, config: Any, example_batch: dict) -> TrainState:
  """Initial TrainState; parameters from ``rng`` and the shapes of ``example_batch['image']``."""
  model = get_model(config)
  x = example_batch['image'][:1]
  params = model.init(rng, x, jnp.zeros((1, model.latent_dim), jnp.float32))['params']
  tx = make_optimizer(config.optim, config.num_train_steps)
  return create_train_state(params, tx, ema=config.optim.get('ema_decay', 0.999) > 0)


def negative_elbo(params: Any, model, x: jax.Array, rng: jax.Array, config: Any) -> dict:
  """Per-example negative ELBO and its terms (nats) with one posterior sample: dict of [B]."""
  mean, logvar = model.apply({'params': params}, x, method=model.encode)
  z = losses.reparameterize(rng, mean, logvar)
  out, log_scale = model.apply({'params': params}, z, method=model.decode)
  if config.model.get('likelihood', 'bernoulli') == 'bernoulli':
    recon = losses.bernoulli_nll(out, x)
  else:
    ls = log_scale if log_scale is not None else math.log(config.model.get('decoder_scale', 0.1))
    recon = losses.gaussian_nll(out, x, ls)
  kl = losses.kl_diag_gaussian_std_normal(mean, logvar)
  return {'recon': recon, 'kl': kl, 'nelbo': recon + kl}


def make_train_step(config: Any):
  """Pure ``(state, batch, rng) -> (state, metrics)``: one Adam step on the (beta-weighted) negative ELBO."""
  model = get_model(config)
  tx = make_optimizer(config.optim, config.num_train_steps)
  beta = float(config.model.get('beta', 1.0))
  ema_decay = float(config.optim.get('ema_decay', 0.999))

  def loss_fn(params, x, rng):
    terms = negative_elbo(params, model, x, rng, config)
    loss = jnp.mean(terms['recon'] + beta * terms['kl'])
    return loss, {k: jnp.mean(v) for k, v in terms.items()}

  def train_step(state: TrainState, batch: dict, rng: jax.Array):
    rng = step_rng(rng, state.step)
    (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, batch['image'], rng)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = jax.tree.map(lambda p, u: p + u, state.params, updates)
    ema = state.ema_params
    if ema is not None and ema_decay > 0:
      ema = ema_update(ema, params, ema_decay_at(state.step, ema_decay))
    metrics = {'loss': loss, 'grad_norm': global_norm(grads), **terms,
               'bits_per_dim': nelbo_bits_per_dim(terms['nelbo'], config)}
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state, ema_params=ema), metrics

  return train_step


def eval_params(state: TrainState) -> Any:
  """Evaluation and sampling use the EMA parameters when the run keeps them."""
  return state.ema_params if state.ema_params is not None else state.params


def make_eval_step(config: Any):
  """Pure ``(state, batch, rng) -> per-example metrics [B]``: negative ELBO (nats), its terms, bits/dim."""
  model = get_model(config)

  def eval_step(state: TrainState, batch: dict, rng: jax.Array):
    terms = negative_elbo(eval_params(state), model, batch['image'], rng, config)
    terms['bits_per_dim'] = nelbo_bits_per_dim(terms['nelbo'], config)
    return terms

  return eval_step
