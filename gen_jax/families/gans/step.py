"""Init, train and eval steps of the GAN family (the family contract).

``TrainState`` of a GAN: ``params = {'g': ..., 'd': ...}``, ``opt_state = {'g': ..., 'd': ...}`` (the
generator's optimizer ``config.optim`` and the discriminator's ``config.optim_d``), ``ema_params =
{'g': EMA of G}`` (or None), and ``extra`` holding what is not trained by an optimizer, only the
entries the model uses:
  g_stats, ema_g_stats  batch-norm running statistics of G and of the EMA G (DCGAN)
  d_sn                  power-iteration vectors of a spectrally normalised D
  w_avg                 StyleGAN's tracked mean w (the truncation trick's centre)
  pl_mean               running mean of StyleGAN2's path lengths
  ada_p                 ADA's augmentation probability
``state.step`` counts generator updates; one train step is ``n_critic`` discriminator updates (each
on its own 1/n_critic of the batch and fresh z) followed by one generator update.

Lazy regularisation (``gan.r1_every``, ``gan.pl_every`` > 1) uses ``lax.cond``, which saves the
second-order pass on GPUs and TPUs; on XLA:CPU the convolutions' weight gradients inside a
conditional run far slower than in straight-line code (jax-ml/jax#12868), so CPU runs should use
``every = 1`` (the regulariser on every step, no conditional) with the weight adjusted.
"""
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from gen_jax.core.optim import make_optimizer
from gen_jax.core.state import (
  TrainState,
  ema_decay_at,
  ema_update,
  global_norm,
  step_rng,
)
from gen_jax.families.gans import augment as aug_lib
from gen_jax.families.gans import losses
from gen_jax.families.gans import networks as net_lib
from gen_jax.families.gans.networks import Networks


def optimizers(config: Any) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
  """``(tx_g, tx_d)`` from ``config.optim`` and ``config.optim_d`` (D makes n_critic updates per step)."""
  n_critic = int(config.gan.get('n_critic', 1))
  return (make_optimizer(config.optim, config.num_train_steps),
          make_optimizer(config.optim_d, config.num_train_steps * n_critic))


def data_key(batch: dict) -> str:
  return 'image' if 'image' in batch else 'x'


def init(rng: jax.Array, config: Any, example_batch: dict) -> TrainState:
  """Initial TrainState (module docstring); shapes come from ``config.model`` (checked against the data)."""
  del example_batch
  nets = net_lib.get_networks(config)
  params_g, params_d, g_stats, d_sn = net_lib.init_networks(nets, rng, pac(config))
  tx_g, tx_d = optimizers(config)
  extra = {}
  ema = float(config.optim.get('ema_decay', 0.999)) > 0
  if g_stats is not None:
    extra['g_stats'] = g_stats
    if ema:
      extra['ema_g_stats'] = jax.tree.map(jnp.copy, g_stats)
  if d_sn is not None:
    extra['d_sn'] = d_sn
  g = config.gan
  if nets.name == 'stylegan':
    extra['w_avg'] = jnp.zeros((int(config.model.w_dim),), jnp.float32)
    if float(g.get('pl_weight', 0.0)) > 0:
      extra['pl_mean'] = jnp.zeros((), jnp.float32)
  if float(g.get('ada_target', 0.0)) > 0:
    extra['ada_p'] = jnp.zeros((), jnp.float32)
  params = {'g': params_g, 'd': params_d}
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    opt_state={'g': tx_g.init(params_g), 'd': tx_d.init(params_d)},
                    ema_params={'g': jax.tree.map(jnp.copy, params_g)} if ema else None,
                    extra=extra or None)


def pac(config: Any) -> int:
  return int(config.gan.get('pac', 1))


def pack(x: jax.Array, k: int) -> jax.Array:
  """PacGAN: [B, ..., C] -> [B / k, ..., k C], consecutive examples concatenated on the last axis."""
  if k == 1:
    return x
  b = x.shape[0]
  y = x.reshape((b // k, k) + x.shape[1:])
  y = jnp.moveaxis(y, 1, -2)
  return y.reshape(y.shape[:-2] + (k * x.shape[-1],))


def _extra(state: TrainState, name: str) -> Any:
  return (state.extra or {}).get(name)


def _chunk(x: jax.Array | None, n: int, i: jax.Array) -> jax.Array | None:
  """Rows i, i + n, i + 2n, ... of ``x`` [B, ...] (the i-th of n interleaved chunks: a device keeps its rows)."""
  if x is None or n == 1:
    return x
  return jnp.take(x.reshape((x.shape[0] // n, n) + x.shape[1:]), i, axis=1)


class _Game:
  """The static pieces one step needs (closed over by the step functions; nothing here is state)."""

  def __init__(self, config: Any):
    g = config.gan
    self.nets: Networks = net_lib.get_networks(config)
    self.loss = g.get('loss', 'nonsaturating')
    self.n_critic = int(g.get('n_critic', 1))
    self.gp = float(g.get('gp_weight', 0.0))
    self.r1 = float(g.get('r1_gamma', 0.0))
    self.r1_every = int(g.get('r1_every', 1))
    self.drift = float(g.get('drift_weight', 0.0))
    self.policy = aug_lib.parse_policy(g.get('augment', ''))
    self.augment_p = float(g.get('augment_p', 1.0))
    self.ada_target = float(g.get('ada_target', 0.0))
    self.ada_images = int(g.get('ada_images', 20000))
    self.pac = pac(config)
    self.pl = float(g.get('pl_weight', 0.0))
    self.pl_every = int(g.get('pl_every', 4))
    self.pl_decay = float(g.get('pl_decay', 0.01))
    self.w_avg_decay = float(g.get('w_avg_decay', 0.995))
    self.conditional = self.nets.num_classes > 0

  def d_input(self, x: jax.Array, rng: jax.Array, p: jax.Array) -> jax.Array:
    """What D sees: augmented (``gan.augment``) and packed (``gan.pac``)."""
    if self.policy:
      x = aug_lib.augment(x, rng, self.policy, p)
    return pack(x, self.pac)

  def aug_p(self, state: TrainState) -> jax.Array:
    p = _extra(state, 'ada_p')
    return p if p is not None else jnp.asarray(self.augment_p, jnp.float32)


def make_train_step(config: Any) -> Callable:
  """Pure ``(state, batch, rng) -> (state, metrics)``: ``n_critic`` D updates, then one G update.

  Metrics (scalars): ``loss`` (d_loss + g_loss: both players' objectives, watched by the loop's
  finiteness check), ``grad_norm`` (of both networks' gradients together), ``d_loss`` (adversarial
  part, mean over the critic updates), ``g_loss``, ``d_real``/``d_fake`` (mean logits), ``d_grad_norm``,
  ``g_grad_norm``, and the regularisers in use (``gp``, ``r1``, ``drift``, ``pl``), ``ada_p``, and
  ProGAN's ``stage``/``alpha``.
  """
  game = _Game(config)
  nets = game.nets
  tx_g, tx_d = optimizers(config)
  ema_decay = float(config.optim.get('ema_decay', 0.999))

  def train_step(state: TrainState, batch: dict, rng: jax.Array):
    rng = step_rng(rng, state.step)
    step = state.step
    x = net_lib.real_for_discriminator(nets, net_lib.to_canvas(batch[data_key(batch)].astype(jnp.float32), nets), step)
    labels = batch['label'].astype(jnp.int32) if game.conditional else None
    m = x.shape[0] // game.n_critic
    params_g = state.params['g']
    g_stats = _extra(state, 'g_stats')

    def d_update(carry, i):
      params_d, opt_d, d_sn, p = carry
      k_z, k_g, k_r, k_f, k_gp = jax.random.split(jax.random.fold_in(rng, i), 5)
      xr, yr = _chunk(x, game.n_critic, i), _chunk(labels, game.n_critic, i)
      z = net_lib.sample_latents(k_z, m, nets)
      xf, _, _ = net_lib.generate(nets, params_g, g_stats, z, yr, k_g, step, train=True)
      xf = net_lib.fake_for_discriminator(nets, jax.lax.stop_gradient(xf))
      real_in, fake_in = game.d_input(xr, k_r, p), game.d_input(xf, k_f, p)
      yp = yr if game.pac == 1 else None
      r1_due = (step * game.n_critic + i) % game.r1_every == 0

      def loss_fn(pd):
        def d_real(xin):
          return net_lib.discriminate(nets, pd, d_sn, xin, yp, step, update=True)
        def with_r1(_):
          logits, vjp, sn = jax.vjp(d_real, real_in, has_aux=True)
          (g,) = vjp(jnp.ones_like(logits))
          return logits, jnp.sum(jnp.square(g).reshape(g.shape[0], -1), axis=-1), sn

        def without_r1(_):
          logits, sn = d_real(real_in)
          return logits, jnp.zeros_like(logits), sn

        if game.r1 > 0 and game.r1_every == 1:
          real_logits, r1, new_sn = with_r1(None)
        elif game.r1 > 0:   # lazy: only every r1_every-th update pays for the second-order gradient
          real_logits, r1, new_sn = jax.lax.cond(r1_due, with_r1, without_r1, None)
        else:
          real_logits, new_sn = d_real(real_in)
          r1 = jnp.zeros_like(real_logits)
        fake_logits, _ = net_lib.discriminate(nets, pd, new_sn, fake_in, yp, step)
        adv = jnp.mean(losses.discriminator_loss(game.loss, real_logits, fake_logits))
        terms = {'d_loss': adv, 'd_real': jnp.mean(real_logits), 'd_fake': jnp.mean(fake_logits)}
        total = adv
        if game.gp > 0:
          d_plain = lambda xin: net_lib.discriminate(nets, pd, new_sn, xin, yp, step)[0]
          gp = jnp.mean(losses.gradient_penalty(d_plain, real_in, fake_in, k_gp))
          total, terms['gp'] = total + game.gp * gp, gp
        if game.r1 > 0:
          r1_mean = jnp.mean(r1)
          total = total + jnp.where(r1_due, 0.5 * game.r1 * game.r1_every, 0.0) * r1_mean
          terms['r1'] = r1_mean
        if game.drift > 0:
          drift = jnp.mean(jnp.square(real_logits))
          total, terms['drift'] = total + game.drift * drift, drift
        return total, (terms, new_sn, real_logits)

      (_, (terms, new_sn, real_logits)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params_d)
      updates, opt_d = tx_d.update(grads, opt_d, params_d)
      params_d = optax.apply_updates(params_d, updates)
      if game.ada_target > 0:
        p = aug_lib.ada_update(p, real_logits, game.ada_target, m, game.ada_images)
      terms['d_grad_norm'] = global_norm(grads)
      return (params_d, opt_d, new_sn, p), terms

    # The critic updates are unrolled, not a lax.scan: XLA:CPU runs the weight gradients of convolutions
    # inside loop (and conditional) bodies far slower than in straight-line code (jax-ml/jax#12868).
    carry = (state.params['d'], state.opt_state['d'], _extra(state, 'd_sn'), game.aug_p(state))
    all_terms = []
    for i in range(game.n_critic):
      carry, terms = d_update(carry, jnp.asarray(i, jnp.int32))
      all_terms.append(terms)
    d_terms = jax.tree.map(lambda *v: jnp.mean(jnp.stack(v)), *all_terms)
    params_d, opt_d, d_sn, p = carry

    # ---- generator update
    k_z, k_g, k_f, k_pl = jax.random.split(jax.random.fold_in(rng, game.n_critic + 1), 4)
    y_g = _chunk(labels, game.n_critic, jnp.zeros((), jnp.int32))
    z = net_lib.sample_latents(k_z, m, nets)
    pl_mean = _extra(state, 'pl_mean')
    pl_due = step % game.pl_every == 0

    def g_loss_fn(pg):
      xf, new_stats, aux = net_lib.generate(nets, pg, g_stats, z, y_g, k_g, step, train=True, update_stats=True)
      xf = net_lib.fake_for_discriminator(nets, xf)
      logits, _ = net_lib.discriminate(nets, params_d, d_sn, game.d_input(xf, k_f, p),
                                       y_g if game.pac == 1 else None, step)
      adv = jnp.mean(losses.generator_loss(game.loss, logits))
      out = {'new_stats': new_stats, 'w': aux.get('w'), 'g_loss': adv}
      total = adv
      if game.pl > 0:
        def with_pl(_):
          ws, _ = net_lib._stylegan_ws(nets, pg, z, y_g, k_g, True, 1.0, None)  # pylint: disable=protected-access
          synth = lambda w: net_lib.synthesize(nets, pg, w, jax.random.fold_in(k_pl, 1))
          lengths = losses.path_lengths(synth, ws, k_pl)
          new_mean = pl_mean + game.pl_decay * (jnp.mean(lengths) - pl_mean)
          return jnp.mean(jnp.square(lengths - jax.lax.stop_gradient(new_mean))), jax.lax.stop_gradient(new_mean)
        def without_pl(_):
          return jnp.zeros(()), pl_mean
        if game.pl_every == 1:
          pl_pen, new_mean = with_pl(None)
        else:   # lazy: the second-order pass runs only every pl_every-th step
          pl_pen, new_mean = jax.lax.cond(pl_due, with_pl, without_pl, None)
        total = total + jnp.where(pl_due, game.pl * game.pl_every, 0.0) * pl_pen
        out['pl'], out['pl_mean'] = pl_pen, new_mean
      return total, out

    (_, g_out), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(params_g)
    updates, opt_g = tx_g.update(g_grads, state.opt_state['g'], params_g)
    new_g = optax.apply_updates(params_g, updates)

    extra = dict(state.extra or {})
    if 'g_stats' in extra:
      extra['g_stats'] = g_out['new_stats']
    if 'd_sn' in extra:
      extra['d_sn'] = d_sn
    if 'ada_p' in extra:
      extra['ada_p'] = p
    if 'w_avg' in extra:
      w_mean = jnp.mean(jax.lax.stop_gradient(g_out['w']), axis=0)
      extra['w_avg'] = w_mean + game.w_avg_decay * (extra['w_avg'] - w_mean)
    if 'pl_mean' in extra:
      extra['pl_mean'] = g_out['pl_mean']
    ema = state.ema_params
    if ema is not None:
      decay = ema_decay_at(step, ema_decay)
      ema = {'g': ema_update(ema['g'], new_g, decay)}
      if 'ema_g_stats' in extra:  # the EMA generator's own batch statistics, on this step's z
        _, extra['ema_g_stats'], _ = net_lib.generate(nets, ema['g'], extra['ema_g_stats'], z, y_g, k_g, step,
                                                      train=True, update_stats=True)

    d_norm, g_norm = d_terms.pop('d_grad_norm'), global_norm(g_grads)
    metrics = {'loss': d_terms['d_loss'] + g_out['g_loss'], 'grad_norm': jnp.sqrt(d_norm ** 2 + g_norm ** 2),
               'g_loss': g_out['g_loss'], 'd_grad_norm': d_norm, 'g_grad_norm': g_norm, **d_terms}
    if game.pl > 0:
      metrics['pl'] = g_out['pl']
    if 'ada_p' in extra:
      metrics['ada_p'] = p
    if nets.name == 'progan':
      metrics['stage'], metrics['alpha'] = net_lib.growth(nets, step)
      metrics['stage'] = metrics['stage'].astype(jnp.float32)
    new_state = state.replace(step=step + 1, params={'g': new_g, 'd': params_d},
                              opt_state={'g': opt_g, 'd': opt_d}, ema_params=ema, extra=extra or None)
    return new_state, metrics

  return train_step


def make_eval_step(config: Any) -> Callable:
  """Pure ``(state, batch, rng) -> per-example metrics [B]``: the game on held-out data.

  A GAN has no likelihood; what it can be asked per test example is how its discriminator sees it.
  With the networks being trained (not the EMA generator), one fresh fake per real test example, no
  augmentation:
    d_real   D's logit on the real test example (compare with the train metric: a growing gap is the
             discriminator overfitting the training set, what ADA detects)
    d_fake   D's logit on the generated example
    d_loss   the discriminator's adversarial loss on the pair (``config.gan.loss``)
    g_loss   the generator's loss on the fake
  With ``gan.pac`` > 1 each pack's values are repeated for its members. Sample quality (FID, KID,
  precision/recall) is ``--mode=eval``'s ``config.eval.metrics``, from ``sample``.
  """
  game = _Game(config)
  nets = game.nets

  def eval_step(state: TrainState, batch: dict, rng: jax.Array):
    x = net_lib.to_canvas(batch[data_key(batch)].astype(jnp.float32), nets)
    x = net_lib.real_for_discriminator(nets, x, state.step)
    labels = batch['label'].astype(jnp.int32) if game.conditional else None
    k_z, k_g = jax.random.split(rng)
    z = net_lib.sample_latents(k_z, x.shape[0], nets)
    xf, _, _ = net_lib.generate(nets, state.params['g'], _extra(state, 'g_stats'), z, labels, k_g, state.step,
                                train=False)
    xf = net_lib.fake_for_discriminator(nets, xf)
    d_sn = _extra(state, 'd_sn')
    real, _ = net_lib.discriminate(nets, state.params['d'], d_sn, pack(x, game.pac), labels, state.step)
    fake, _ = net_lib.discriminate(nets, state.params['d'], d_sn, pack(xf, game.pac), labels, state.step)
    out = {'d_real': real, 'd_fake': fake, 'd_loss': losses.discriminator_loss(game.loss, real, fake),
           'g_loss': losses.generator_loss(game.loss, fake)}
    return {k: jnp.repeat(v, game.pac) for k, v in out.items()}

  return eval_step


def describe_nonfinite(metrics: dict, config: Any) -> str:
  """Which of the game's terms were non-finite at the failing step (the loop's message on a NaN loss)."""
  import math  # pylint: disable=g-import-not-at-top
  bad = [k for k, v in sorted(metrics.items()) if not math.isfinite(v)]
  players = [p for p, keys in (('discriminator', ('d_loss', 'd_real', 'd_fake', 'd_grad_norm', 'gp', 'r1', 'drift')),
                               ('generator', ('g_loss', 'g_grad_norm', 'pl'))) if any(k in bad for k in keys)]
  hint = ''
  if config.gan.get('loss', '') in ('minimax', 'nonsaturating') and not config.gan.get('spectral_norm', False):
    hint = ' Regularising the discriminator (config.gan.r1_gamma, config.gan.spectral_norm) often prevents this.'
  return (f'Non-finite GAN terms: {", ".join(bad) or "none"} (the {" and the ".join(players) or "loss"}).' + hint)
