"""Init, train and eval steps of the transformer family (the family contract, DESIGN.md section 2).

Batches: text models read ``{'tokens': int32 [B, L + 1]}`` windows (eval batches add ``'target_mask'``
[B, L]); pixel_gpt reads ``{'image': [B, H, W, C] in [0, 1]}``.

Train metrics (scalars): ``loss`` (mean NLL per predicted token or pixel, nats), ``grad_norm``, and
gpt: ``bits_per_char``, ``bits_per_token``, ``perplexity`` of the batch; pixel_gpt: ``bits_per_dim``;
bert: ``perplexity`` of the masked tokens.

Eval metrics (per example [B]): gpt: ``nll`` (nats summed over the window's targets), ``tokens``,
``chars`` and the products ``nll_x_chars``, ``nll_x_tokens`` (so that ``metrics.corpus_metrics`` gives
the exact bits/char, bits/token and perplexity of the split with a delta-method standard error);
pixel_gpt: ``nll`` (nats per image on the 8-bit scale) and ``bits_per_dim``
(``gen_jax.eval.likelihood.nll_bits_per_dim(nll, D, 'discrete')``); bert: ``nll``, ``tokens``,
``nll_x_tokens`` of the masked positions (masks drawn from the eval key).
"""
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp

from gen_jax.core.optim import make_optimizer
from gen_jax.core.state import TrainState, apply_gradients, create_train_state, eval_params, global_norm, step_rng
from gen_jax.eval.likelihood import nll_bits_per_dim
from gen_jax.families.transformers import losses
from gen_jax.families.transformers.models import data_shape, get_model, init_params, vocab_size

_LN2 = math.log(2.0)


def init(rng: jax.Array, config: Any, example_batch: dict) -> TrainState:
  """Initial TrainState: fresh GPT-2-style parameters, or those of ``config.model.init_from``."""
  del example_batch  # shapes come from the config (validated against the dataset)
  if config.model.get('init_from', ''):
    from gen_jax.families.transformers import hf  # pylint: disable=g-import-not-at-top
    params = hf.load_params_callback(config)
  else:
    params = init_params(config, rng)
  tx = make_optimizer(config.optim, config.num_train_steps)
  return create_train_state(params, tx, ema=config.optim.get('ema_decay', 0.0) > 0)


def starts_pretrained(config: Any) -> bool:
  """The contract's optional hook: a GPT started from a Hugging Face checkpoint (``config.model.init_from``) can be
  sampled or evaluated before any training (``--mode=sample`` / ``--mode=eval`` in a workdir without a checkpoint)."""
  return bool(config.model.get('init_from', '') or '')


def make_loss_fn(config: Any) -> Callable:
  """``loss_fn(params, batch, rng, train) -> {name: [B]}``: per-example sums (``nll`` in nats, counts)."""
  model = get_model(config)
  name = config.model.name
  if name == 'pixel_gpt':
    bits = int(config.model.get('pixel_bits', 8))
    bos = 2 ** bits

    def pixel_loss(params, batch, rng, train):
      levels = losses.pixel_tokens(batch['image'], bits)
      logits, _ = model.apply({'params': params}, losses.with_bos(levels, bos)[:, :-1], train=train,
                              rngs={'dropout': rng})
      nll = losses.pixel_nll(logits, levels, bits)
      return {'nll': nll}

    return pixel_loss

  if name == 'bert':
    v = vocab_size(config)
    m = config.model
    p, p_mask, p_rand = float(m.get('mlm_probability', 0.15)), float(m.get('mlm_mask', 0.8)), float(m.get('mlm_random', 0.1))

    def mlm_loss(params, batch, rng, train):
      tokens = batch['tokens'][:, 1:]
      valid = batch.get('target_mask', None)
      k_mask, k_drop = jax.random.split(rng)
      inputs, selected = losses.mlm_corrupt(k_mask, tokens, v, v, p, p_mask, p_rand, valid)
      logits = model.apply({'params': params}, inputs, valid=valid, train=train, rngs={'dropout': k_drop})
      return losses.mlm_nll(logits, tokens, selected)

    return mlm_loss

  chars = losses.token_chars_table(config)

  def lm_loss(params, batch, rng, train):
    tokens = batch['tokens']
    logits, _ = model.apply({'params': params}, tokens[:, :-1], train=train, rngs={'dropout': rng})
    return losses.window_nll(logits, tokens, batch.get('target_mask', None), chars)

  return lm_loss


def num_dims(config: Any) -> int:
  return int(math.prod(data_shape(config)))


def make_train_step(config: Any) -> Callable:
  """Pure ``(state, batch, rng) -> (state, metrics)``: one optimizer step on the mean NLL per token / pixel."""
  tx = make_optimizer(config.optim, config.num_train_steps)
  ema_decay = float(config.optim.get('ema_decay', 0.0))
  loss_fn = make_loss_fn(config)
  name = config.model.name

  def mean_loss(params, batch, rng):
    terms = loss_fn(params, batch, rng, True)
    if name == 'pixel_gpt':
      count = terms['nll'].shape[0] * num_dims(config)
    else:
      count = jnp.maximum(jnp.sum(terms['tokens']), 1.0)
    return jnp.sum(terms['nll']) / count, terms

  def train_step(state: TrainState, batch: dict, rng: jax.Array):
    rng = step_rng(rng, state.step)
    (loss, terms), grads = jax.value_and_grad(mean_loss, has_aux=True)(state.params, batch, rng)
    metrics = {'loss': loss, 'grad_norm': global_norm(grads)}
    if name == 'pixel_gpt':
      metrics['bits_per_dim'] = nll_bits_per_dim(jnp.mean(terms['nll']), num_dims(config), 'discrete')
    elif name == 'gpt':
      metrics['bits_per_char'] = jnp.sum(terms['nll']) / (_LN2 * jnp.maximum(jnp.sum(terms['chars']), 1.0))
      metrics['bits_per_token'] = loss / _LN2
      metrics['perplexity'] = jnp.exp(loss)
    else:
      metrics['perplexity'] = jnp.exp(loss)
    return apply_gradients(state, grads, tx, ema_decay), metrics

  return train_step


def make_eval_step(config: Any) -> Callable:
  """Pure ``(state, batch, rng) -> per-example metrics [B]`` (module docstring)."""
  loss_fn = make_loss_fn(config)
  name = config.model.name

  def eval_step(state: TrainState, batch: dict, rng: jax.Array):
    terms = loss_fn(eval_params(state), batch, rng, False)
    if name == 'pixel_gpt':
      return {'nll': terms['nll'], 'bits_per_dim': nll_bits_per_dim(terms['nll'], num_dims(config), 'discrete')}
    out = dict(terms)
    out['nll_x_tokens'] = terms['nll'] * terms['tokens']
    if 'chars' in terms:
      out['nll_x_chars'] = terms['nll'] * terms['chars']
    return out

  return eval_step
