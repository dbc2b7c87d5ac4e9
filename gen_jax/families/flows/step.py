"""Init, train and eval steps of the flow family (the family contract, DESIGN.md section 2)."""
from typing import Any, Callable

import jax
import jax.numpy as jnp

from gen_jax.core.optim import make_optimizer
from gen_jax.core.state import TrainState, apply_gradients, create_train_state, eval_params, global_norm, step_rng
from gen_jax.families.flows import ffjord
from gen_jax.families.flows.dequantization import pixels_of
from gen_jax.families.flows.losses import bits_per_dim, data_key, dequantizer, first_nonfinite, is_cnf, nll_terms
from gen_jax.families.flows.models import data_range, get_model, is_variational, num_dims
from gen_jax.families.flows.sampling import reconstruct


def init(rng: jax.Array, config: Any, example_batch: dict) -> TrainState:
  """Initial TrainState. ``example_batch`` (a real global batch) initialises every ActNorm from data:
  zero mean and unit variance per channel of its input on that batch (Glow's data-dependent init)."""
  if example_batch is None:
    raise ValueError('the flow family initialises ActNorm layers from data: init needs example_batch '
                     '(a real batch of the dataset).')
  x = example_batch[data_key(example_batch)]
  if is_cnf(config):
    params = ffjord.get_net(config).init(rng, x[:1].astype(jnp.float32), 0.0)['params']
  else:
    k_flow, k_deq = jax.random.split(rng)
    params = get_model(config).init(k_flow if is_variational(config) else rng, x)['params']
    if is_variational(config):  # ActNorm initialised on the uniformly dequantized batch
      lo, hi = data_range(config)
      params = {'flow': params, 'dequantizer': dequantizer(config).init(k_deq, pixels_of(x[:1], lo, hi),
                                                                         jnp.zeros_like(x[:1]))['params']}
  tx = make_optimizer(config.optim, config.num_train_steps)
  return create_train_state(params, tx, ema=config.optim.get('ema_decay', 0.999) > 0)


def make_train_step(config: Any) -> Callable:
  """Pure ``(state, batch, rng) -> (state, metrics)``: one optimizer step on the mean NLL per dimension.

  The loss is the mean NLL in nats per dimension (plus FFJORD's RNODE terms, also per dimension).
  Metrics (scalars): loss, grad_norm, nll (nats per example), bits_per_dim; discrete flows add the
  diagnostic ``_nonfinite_layer``: the index in ``models.layer_labels`` of the first bijector whose output
  or log-det was not finite in this step's forward pass (-1: none), which ``describe_nonfinite`` names when
  the loss is not finite (the loop never logs a metric whose name starts with '_'), and with a variational
  dequantizer ``log_q`` (mean log q(u | x), nats);
  FFJORD adds nfe (forward solve), kinetic and jacobian (RNODE integrals, per example) and
  solver_failed (1: max_steps reached).
  """
  tx = make_optimizer(config.optim, config.num_train_steps)
  ema_decay = float(config.optim.get('ema_decay', 0.999))
  d = num_dims(config)
  cnf = is_cnf(config)
  s = ffjord.settings(config) if cnf else {}

  def loss_fn(params, x, rng):
    nll, aux = nll_terms(params, x, rng, config)
    loss = jnp.mean(nll) / d
    if cnf:
      loss = loss + (s['kinetic'] * jnp.mean(aux['kinetic']) + s['jacobian'] * jnp.mean(aux['jacobian'])) / d
    return loss, (nll, aux)

  def train_step(state: TrainState, batch: dict, rng: jax.Array):
    rng = step_rng(rng, state.step)
    (loss, (nll, aux)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, batch[data_key(batch)], rng)
    mean_nll = jnp.mean(nll)
    metrics = {'loss': loss, 'grad_norm': global_norm(grads), 'nll': mean_nll,
               'bits_per_dim': bits_per_dim(mean_nll, config)}
    if cnf:
      metrics.update(nfe=aux['nfe'], kinetic=jnp.mean(aux['kinetic']), jacobian=jnp.mean(aux['jacobian']),
                     solver_failed=aux['failed'])
    else:
      metrics['_nonfinite_layer'] = first_nonfinite(aux['finite'])
      if 'log_q' in aux:
        metrics['log_q'] = jnp.mean(aux['log_q'])
    return apply_gradients(state, grads, tx, ema_decay), metrics

  return train_step


def make_eval_step(config: Any) -> Callable:
  """Pure ``(state, batch, rng) -> per-example metrics [B]`` (EMA parameters):

  ``nll`` (nats), ``bits_per_dim`` (exact for the discrete flows; for FFJORD exact with
  ``ffjord.trace='exact'``, else Hutchinson's unbiased estimate; with a variational dequantizer the
  one-sample bound ``-log p(y) + log q(u | x)``, which adds ``log_q``), and ``recon_err``: the largest
  absolute error of x -> z -> x per example in the data's units, in float32 (invertibility measured,
  not assumed). FFJORD adds ``nfe`` (of the batch's forward solve, repeated per example).
  """
  cnf = is_cnf(config)

  def eval_step(state: TrainState, batch: dict, rng: jax.Array):
    params = eval_params(state)
    x = batch[data_key(batch)]
    nll, aux = nll_terms(params, x, rng, config)
    x_rec = reconstruct(params, x, config, aux)
    target = aux.get('y', x)  # a variational dequantizer's re-dequantized input, else x
    err = jnp.max(jnp.abs(x_rec - target).reshape(x.shape[0], -1), axis=-1)
    out = {'nll': nll, 'bits_per_dim': bits_per_dim(nll, config), 'recon_err': err}
    if cnf:
      out['nfe'] = jnp.broadcast_to(aux['nfe'], nll.shape)
    if 'log_q' in aux:
      out['log_q'] = aux['log_q']
    return out

  return eval_step


def describe_nonfinite(metrics: dict, config: Any) -> str:
  """Where the step that produced a non-finite loss first overflowed (family contract hook), from its
  host metrics: the bijector named by ``_nonfinite_layer``, or FFJORD's solver state."""
  if is_cnf(config):
    if metrics.get('solver_failed', 0.0) > 0:
      return (f'The ODE solver reached config.ffjord.max_steps={ffjord.settings(config)["max_steps"]} before t1 '
              '(the dynamics became too stiff): raise max_steps or the tolerances, or add RNODE regularisation '
              '(config.ffjord.kinetic, config.ffjord.jacobian).')
    return (f'The ODE solve finished (NFE {metrics.get("nfe", float("nan")):.0f}) with a non-finite log-density or '
            'RNODE integral.')
  from gen_jax.families.flows.models import layer_labels  # pylint: disable=g-import-not-at-top
  labels = layer_labels(get_model(config))
  idx = int(metrics.get('_nonfinite_layer', -1))
  if 0 <= idx < len(labels):
    return (f'In that step\'s forward pass the first non-finite output or log-det came from bijector {idx} of '
            f'{len(labels)}: {labels[idx]}.')
  return ('Every bijector\'s output and log-det were finite in that step\'s forward pass: the overflow came from '
          'the prior term or the loss reduction.')
