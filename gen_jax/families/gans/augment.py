"""Differentiable augmentation of the discriminator's inputs for small data: DiffAugment (Zhao et
al. 2020) with ADA's per-example application probability and adaptive tuning (Karras et al. 2020).

``augment(x, rng, policy, p)`` applies each transform of ``policy`` (comma-separated, in order) to
each example with probability ``p`` (p = 1: DiffAugment). Every transform is differentiable in
``x``, and real and generated images go through the same random family of transforms, so the
generator is trained through them and never learns to produce augmented images:

  color        brightness + U(-0.5, 0.5); saturation: deviation from the per-pixel channel mean
               times U(0, 2); contrast: deviation from the image mean times U(0.5, 1.5)
  translation  shift by up to 1/8 of the side in x and y (integers), filling with 0
  cutout       one square of half the side at a random position set to 0

as in the reference implementation (images in [-1, 1], so 0 is mid-grey). ADA: with
``config.gan.ada_target`` > 0, p starts at 0 and after every discriminator update moves by
``sign(r_t - target) * batch / ada_images`` with ``r_t = mean(sign(d(real)))`` (the overfitting
heuristic), clipped to [0, 1]; it is kept in ``state.extra['ada_p']``.
"""
import jax
import jax.numpy as jnp

TRANSFORMS = ('color', 'translation', 'cutout')


def parse_policy(policy: str) -> tuple[str, ...]:
  return tuple(p.strip() for p in (policy or '').split(',') if p.strip())


def _per_example(rng: jax.Array, n: int) -> jax.Array:
  return jax.random.uniform(rng, (n, 1, 1, 1))


def color(x: jax.Array, rng: jax.Array) -> jax.Array:
  k1, k2, k3 = jax.random.split(rng, 3)
  n = x.shape[0]
  x = x + (_per_example(k1, n) - 0.5)
  mean = jnp.mean(x, axis=3, keepdims=True)
  x = (x - mean) * (_per_example(k2, n) * 2.0) + mean
  mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
  return (x - mean) * (_per_example(k3, n) + 0.5) + mean


def translation(x: jax.Array, rng: jax.Array, ratio: float = 0.125) -> jax.Array:
  """``out[i, j] = x[i + ty, j + tx]`` (0 outside) with integer shifts in [-s, s], s = round(ratio * side)."""
  n, h, w, c = x.shape
  sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
  k1, k2 = jax.random.split(rng)
  ty = jax.random.randint(k1, (n,), -sh, sh + 1)
  tx = jax.random.randint(k2, (n,), -sw, sw + 1)
  padded = jnp.pad(x, ((0, 0), (sh, sh), (sw, sw), (0, 0)))
  return jax.vmap(lambda img, a, b: jax.lax.dynamic_slice(img, (sh + a, sw + b, 0), (h, w, c)))(padded, ty, tx)


def cutout(x: jax.Array, rng: jax.Array, ratio: float = 0.5) -> jax.Array:
  """Zeroes one square of side round(ratio * side) centred at a random pixel (clipped at the border)."""
  n, h, w, _ = x.shape
  ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
  k1, k2 = jax.random.split(rng)
  oy = jax.random.randint(k1, (n, 1, 1), 0, h + (1 - ch % 2))
  ox = jax.random.randint(k2, (n, 1, 1), 0, w + (1 - cw % 2))
  rows = jnp.arange(h)[None, :, None]
  cols = jnp.arange(w)[None, None, :]
  inside = ((rows >= oy - ch // 2) & (rows < oy - ch // 2 + ch) & (cols >= ox - cw // 2) & (cols < ox - cw // 2 + cw))
  return x * (1.0 - inside[..., None].astype(x.dtype))


_FNS = {'color': color, 'translation': translation, 'cutout': cutout}


def augment(x: jax.Array, rng: jax.Array, policy: tuple[str, ...] | str, p: float | jax.Array = 1.0) -> jax.Array:
  """``x`` [B, H, W, C] with each transform of ``policy`` applied to each example with probability p."""
  policy = parse_policy(policy) if isinstance(policy, str) else policy
  for i, name in enumerate(policy):
    k_t, k_p = jax.random.split(jax.random.fold_in(rng, i))
    y = _FNS[name](x, k_t)
    apply = jax.random.uniform(k_p, (x.shape[0],) + (1,) * (x.ndim - 1)) < p
    x = jnp.where(apply, y, x)
  return x


def ada_update(p: jax.Array, real_logits: jax.Array, target: float, batch: int, ada_images: int) -> jax.Array:
  """One ADA adjustment of p from this batch's ``r_t = mean(sign(d(real)))`` (module docstring)."""
  r_t = jnp.mean(jnp.sign(real_logits.astype(jnp.float32)))
  return jnp.clip(p + jnp.sign(r_t - target) * batch / ada_images, 0.0, 1.0)
