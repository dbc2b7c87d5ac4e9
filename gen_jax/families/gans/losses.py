"""Adversarial losses and regularisers, per example, from discriminator logits (nats where it is a
log-likelihood). ``config.gan.loss``:

  loss           discriminator, per (real, fake) pair         generator, per fake
  minimax        -log D(x) - log(1 - D(G(z)))                  log(1 - D(G(z)))      (Goodfellow et al. 2014)
  nonsaturating  as minimax                                    -log D(G(z))          (the paper's practical G loss)
  lsgan          ((d(x) - 1)^2 + d(G(z))^2) / 2                (d(G(z)) - 1)^2 / 2   (Mao et al. 2017, a=0, b=c=1)
  hinge          relu(1 - d(x)) + relu(1 + d(G(z)))            -d(G(z))              (Lim & Ye 2017; SAGAN, BigGAN)
  wgan           d(G(z)) - d(x)                                -d(G(z))              (Arjovsky et al. 2017)

with ``d`` the logit and ``D = sigmoid(d)``; written with softplus for stability
(``-log sigmoid(d) = softplus(-d)``, ``-log(1 - sigmoid(d)) = softplus(d)``).

Regularisers (each added to the discriminator's loss, usable with every loss):
  gradient_penalty  ``(||grad_x d(x_hat)|| - 1)^2`` at ``x_hat = e x + (1 - e) G(z)``, ``e ~ U[0, 1]``
                    per example (WGAN-GP, Gulrajani et al. 2017; weight ``gan.gp_weight``, 10 in the paper);
  r1_penalty        ``||grad_x d(x)||^2`` on real data (Mescheder et al. 2018), weighted by gamma / 2;
  drift             ``d(x)^2`` (ProGAN's epsilon-drift, weight 0.001 in the paper).
And for StyleGAN's generator, ``path_length`` (Karras et al. 2020): ``(||J_w^T y|| - a)^2`` with
``y ~ N(0, I) / sqrt(H W)`` and ``a`` a running mean of the lengths.

Gradients with respect to inputs are taken of the *sum* of logits, which gives each example's own
gradient when the discriminator treats examples independently (a minibatch-std layer couples them
slightly, as in every reference implementation).
"""
from collections.abc import Callable

import jax
import jax.numpy as jnp

LOSSES = ('minimax', 'nonsaturating', 'lsgan', 'hinge', 'wgan')


def discriminator_loss(loss: str, real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """The discriminator's loss per (real, fake) pair [B] (module docstring)."""
  r, f = real_logits.astype(jnp.float32), fake_logits.astype(jnp.float32)
  if loss in ('minimax', 'nonsaturating'):
    return jax.nn.softplus(-r) + jax.nn.softplus(f)
  if loss == 'lsgan':
    return 0.5 * (jnp.square(r - 1.0) + jnp.square(f))
  if loss == 'hinge':
    return jax.nn.relu(1.0 - r) + jax.nn.relu(1.0 + f)
  if loss == 'wgan':
    return f - r
  raise ValueError(f'unknown GAN loss {loss!r}; allowed: {", ".join(LOSSES)}.')


def generator_loss(loss: str, fake_logits: jax.Array) -> jax.Array:
  """The generator's loss per fake [B] (module docstring)."""
  f = fake_logits.astype(jnp.float32)
  if loss == 'minimax':
    return -jax.nn.softplus(f)          # log(1 - sigmoid(f)): minimised, it saturates when D wins
  if loss == 'nonsaturating':
    return jax.nn.softplus(-f)
  if loss == 'lsgan':
    return 0.5 * jnp.square(f - 1.0)
  if loss in ('hinge', 'wgan'):
    return -f
  raise ValueError(f'unknown GAN loss {loss!r}; allowed: {", ".join(LOSSES)}.')


def input_gradients(d_fn: Callable[[jax.Array], jax.Array], x: jax.Array) -> tuple[jax.Array, jax.Array]:
  """``(logits [B], grad_x of each example's logit [B, ...])`` of ``d_fn`` (x -> logits [B])."""
  logits, vjp = jax.vjp(d_fn, x)
  (grads,) = vjp(jnp.ones_like(logits))
  return logits, grads


def _sq_norm(g: jax.Array) -> jax.Array:
  return jnp.sum(jnp.square(g.astype(jnp.promote_types(g.dtype, jnp.float32))).reshape(g.shape[0], -1), axis=-1)


def interpolates(real: jax.Array, fake: jax.Array, rng: jax.Array) -> jax.Array:
  """``e * real + (1 - e) * fake`` with one ``e ~ U[0, 1]`` per example."""
  e = jax.random.uniform(rng, (real.shape[0],) + (1,) * (real.ndim - 1), real.dtype)
  return e * real + (1.0 - e) * fake


def gradient_penalty(d_fn: Callable[[jax.Array], jax.Array], real: jax.Array, fake: jax.Array,
                     rng: jax.Array, target: float = 1.0) -> jax.Array:
  """WGAN-GP's ``(||grad d(x_hat)|| - target)^2`` per example [B] at random interpolates."""
  _, g = input_gradients(d_fn, interpolates(real, fake, rng))
  return jnp.square(jnp.sqrt(_sq_norm(g) + 1e-12) - target)


def r1_penalty(d_fn: Callable[[jax.Array], jax.Array], real: jax.Array) -> tuple[jax.Array, jax.Array]:
  """``(||grad_x d(x)||^2 [B], logits [B])`` on real data (R1; the logits come free with it)."""
  logits, g = input_gradients(d_fn, real)
  return _sq_norm(g), logits


def path_lengths(synth_fn: Callable[[jax.Array], jax.Array], ws: jax.Array, rng: jax.Array) -> jax.Array:
  """StyleGAN2's path lengths [B]: with ``g = d <G(ws), y> / d ws`` [B, L, W] and
  ``y ~ N(0, I) / sqrt(H W)``, ``sqrt(mean over the L layers of sum over W of g^2)`` (the reference's
  ``pl_grads.square().sum(2).mean(1).sqrt()``). ``synth_fn``: ws [B, L, W] -> images [B, H, W, C]."""
  images, vjp = jax.vjp(synth_fn, ws)
  y = jax.random.normal(rng, images.shape, images.dtype) / jnp.sqrt(float(images.shape[1] * images.shape[2]))
  (g,) = vjp(y)
  return jnp.sqrt(jnp.mean(jnp.sum(jnp.square(g), axis=2), axis=1))
