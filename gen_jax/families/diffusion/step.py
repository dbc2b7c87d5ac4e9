"""Init, train and eval steps of the diffusion family (the family contract).

``config.diffusion.formulation``:
  'discrete': DDPM with T steps (schedule, parameterization eps/x0/v, variance fixed_small /
              fixed_large / learned_range, min-SNR weighting, the improved-DDPM hybrid loss);
  'sde':      a score SDE (VP / sub-VP / VE) trained by continuous-time denoising score matching.
Class-conditional models (``config.model.num_classes > 0``) train with a fraction
``config.diffusion.label_dropout`` of labels replaced by the null label (classifier-free guidance).
"""
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp

from gen_jax.core.optim import make_optimizer
from gen_jax.core.state import TrainState, apply_gradients, create_train_state, eval_params, global_norm, step_rng
from gen_jax.eval.likelihood import data_kind, nll_bits_per_dim
from gen_jax.families.diffusion import likelihood
from gen_jax.families.diffusion import losses
from gen_jax.families.diffusion import predictions as pred
from gen_jax.families.diffusion import sde as sde_lib
from gen_jax.families.diffusion.models import apply_model, data_shape, get_model, init_params, num_classes
from gen_jax.families.diffusion.models import variance_type
from gen_jax.families.diffusion.schedules import DiscreteSchedule, q_sample, schedule_from_config, snr


def data_key(batch: dict) -> str:
  """'image' for image datasets, 'x' for points."""
  return 'image' if 'image' in batch else 'x'


def formulation(config: Any) -> str:
  return config.diffusion.get('formulation', 'discrete')


def init(rng: jax.Array, config: Any, example_batch: dict) -> TrainState:
  """Initial TrainState: denoiser parameters from ``rng`` (shapes from ``config.model.data_shape``)."""
  del example_batch  # the shapes come from the config (checked against the data by validate_config)
  params = init_params(get_model(config), rng, config)
  tx = make_optimizer(config.optim, config.num_train_steps)
  return create_train_state(params, tx, ema=config.optim.get('ema_decay', 0.999) > 0)


def conditioning_labels(config: Any, batch: dict, rng: jax.Array | None, train: bool) -> jax.Array | None:
  """Labels [B] for a class-conditional model (None otherwise); in training a fraction
  ``label_dropout`` becomes the null label ``num_classes``."""
  k = num_classes(config)
  if not k:
    return None
  label = batch['label'].astype(jnp.int32)
  p = float(config.diffusion.get('label_dropout', 0.1))
  if train and p > 0:
    drop = jax.random.uniform(rng, label.shape) < p
    label = jnp.where(drop, k, label)
  return label


def make_loss_fn(config: Any) -> Callable:
  """``loss_fn(params, batch, rng, train) -> (per-example loss [B], per-example terms {name: [B]})``."""
  model = get_model(config)
  d = config.diffusion
  if formulation(config) == 'sde':
    sde = sde_lib.sde_from_config(d)

    def sde_loss(params, batch, rng, train):
      k_lab, k_drop, k_loss = jax.random.split(rng, 3)
      label = conditioning_labels(config, batch, k_lab, train)

      def eps_fn(x_t, t):
        x_in, cond = sde_lib.network_inputs(sde, x_t, t)
        return apply_model(model, params, x_in, cond, label, train, k_drop)

      loss = sde_lib.dsm_loss(sde, eps_fn, batch[data_key(batch)], k_loss, float(d.get('t_eps', 1e-5)),
                              bool(d.get('likelihood_weighting', False)))
      return loss, {'dsm': loss}

    return sde_loss

  schedule = schedule_from_config(d)
  param = d.get('parameterization', 'eps')
  variance = variance_type(config)
  weighting = d.get('loss_weighting', 'none')
  gamma = float(d.get('min_snr_gamma', 5.0))
  lam = float(d.get('hybrid_lambda', 0.001))
  decoder = decoder_type(config)
  T = schedule.num_timesteps

  def discrete_loss(params, batch, rng, train):
    x0 = batch[data_key(batch)]
    k_t, k_n, k_lab, k_drop = jax.random.split(rng, 4)
    t = jax.random.randint(k_t, (x0.shape[0],), 0, T)
    noise = jax.random.normal(k_n, x0.shape, jnp.float32)
    x_t = q_sample(schedule, x0, t, noise)
    out = apply_model(model, params, x_t, t, conditioning_labels(config, batch, k_lab, train), train, k_drop)
    mean_out, _ = pred.split_output(out, variance)
    weight = losses.min_snr_weight(snr(schedule, t), gamma, param) if weighting == 'min_snr' else None
    mse = losses.simple_loss(mean_out, pred.training_target(param, schedule, x0, noise, t), weight)
    terms = {'mse': mse}
    loss = mse
    if variance == 'learned_range':
      vb = losses.hybrid_vlb_term(schedule, out, x0, x_t, t, param, decoder)
      terms['vb_bits_per_dim'] = vb
      loss = mse + lam * T * vb
    return loss, terms

  return discrete_loss


def decoder_type(config: Any) -> str:
  """The t = 0 decoder of the VLB: 'discretized' for images (default), 'gaussian' (a density) for points."""
  default = 'discretized' if len(data_shape(config)) == 3 else 'gaussian'
  return config.diffusion.get('decoder', default) or default


def make_train_step(config: Any) -> Callable:
  """Pure ``(state, batch, rng) -> (state, metrics)``: one optimizer step on the diffusion loss."""
  tx = make_optimizer(config.optim, config.num_train_steps)
  ema_decay = float(config.optim.get('ema_decay', 0.999))
  loss_fn = make_loss_fn(config)

  def mean_loss(params, batch, rng):
    loss, terms = loss_fn(params, batch, rng, True)
    return jnp.mean(loss), {k: jnp.mean(v) for k, v in terms.items()}

  def train_step(state: TrainState, batch: dict, rng: jax.Array):
    rng = step_rng(rng, state.step)
    (loss, terms), grads = jax.value_and_grad(mean_loss, has_aux=True)(state.params, batch, rng)
    metrics = {'loss': loss, 'grad_norm': global_norm(grads), **terms}
    return apply_gradients(state, grads, tx, ema_decay), metrics

  return train_step


def make_eval_step(config: Any) -> Callable:
  """Pure ``(state, batch, rng) -> per-example metrics [B]``.

  Always 'loss' (the training objective at a random t, EMA parameters). Discrete: 'bits_per_dim',
  the variational bound (``diffusion.vlb_timesteps`` = 0: all T terms; K > 0: an unbiased estimate
  from t = 0 and K random t), with 'prior_bpd' and 'decoder_bpd'. SDE: 'bits_per_dim' from the
  probability-flow ODE when ``diffusion.ode_bpd`` (costly: one ODE solve per batch).
  """
  loss_fn = make_loss_fn(config)
  model = get_model(config)
  d = config.diffusion
  num_dims = math.prod(data_shape(config))
  dequantized = config.dataset.get('dequantize', 'none') == 'uniform'
  scale = config.dataset.get('scale', 'none')
  density_data = data_kind(config.dataset, discrete_likelihood=False)  # what a density's NLL is of

  def bpd(nll, data=density_data):
    return nll_bits_per_dim(nll, num_dims, data, scale)

  if formulation(config) == 'sde':
    sde = sde_lib.sde_from_config(d)
    want_ode = bool(d.get('ode_bpd', False))

    def sde_eval(state, batch, rng):
      params = eval_params(state)
      k_loss, k_ode = jax.random.split(rng)
      loss, terms = loss_fn(params, batch, k_loss, False)
      out = {'loss': loss, **terms}
      if want_ode:
        label = conditioning_labels(config, batch, None, False)
        score_fn = sde_lib.make_score_fn(sde, lambda x, c: apply_model(model, params, x, c, label))
        nll, _ = likelihood.ode_nll(sde, score_fn, batch[data_key(batch)], k_ode, t_eps=float(d.get('t_eps', 1e-5)),
                                    rtol=float(d.get('ode_rtol', 1e-5)), atol=float(d.get('ode_atol', 1e-5)),
                                    estimator=d.get('hutchinson', 'rademacher'),
                                    solver=d.get('ode_solver', 'tsit5'), num_steps=int(d.get('ode_steps', 0)))
        out['bits_per_dim'] = bpd(nll)
      return out

    return sde_eval

  schedule: DiscreteSchedule = schedule_from_config(d)
  param, variance, decoder = d.get('parameterization', 'eps'), variance_type(config), decoder_type(config)
  k_vlb = int(d.get('vlb_timesteps', 0))

  def discrete_eval(state, batch, rng):
    params = eval_params(state)
    k_loss, k_vlb_rng = jax.random.split(rng)
    loss, terms = loss_fn(params, batch, k_loss, False)
    x0 = batch[data_key(batch)]
    if decoder == 'discretized':
      x0 = losses.to_pixel_grid(x0, dequantized)
    label = conditioning_labels(config, batch, None, False)
    model_fn = lambda x, t: apply_model(model, params, x, t, label)  # noqa: E731
    vlb = likelihood.vlb_terms(schedule, model_fn, x0, k_vlb_rng, param, variance, decoder, k_vlb)
    # A discretized decoder makes the bound a bound on -log P(8-bit image) already; a Gaussian decoder's
    # bound is on a density (converted like every other density of that data).
    data = 'discrete' if decoder == 'discretized' else density_data
    return {'loss': loss, **terms, 'bits_per_dim': bpd(vlb['total'], data),
            'prior_bpd': bpd(vlb['prior'], 'continuous'), 'decoder_bpd': bpd(vlb['decoder'], 'continuous')}

  return discrete_eval
