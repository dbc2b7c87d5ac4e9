"""Editing with a trained discrete-time model: inpainting (replacement, RePaint) and latent interpolation.

* ``inpaint``: sample the unknown pixels given the known ones (``mask = 1`` where known). At each reverse
  step the known region is replaced by a draw of ``q(x_{t-1} | x_0)`` (Song et al. 2021's replacement
  method); with ``jump_n_sample > 1`` the chain is repeatedly pushed back ``jump_length`` steps by the
  forward process and denoised again (RePaint, Lugmayr et al. 2022), which harmonises the two regions.
* ``interpolate``: DDIM-invert two inputs to latents x_T, slerp between them, decode with DDIM (eta = 0).
Shapes: x [B, ...] in the data's scale; mask broadcastable to x; ``model_fn(x_t, t_int) -> raw output``.
"""
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gen_jax.families.diffusion import predictions as pred
from gen_jax.families.diffusion import samplers
from gen_jax.families.diffusion.models import variance_type
from gen_jax.families.diffusion.sampling import clip_denoised, guided_model_fn
from gen_jax.families.diffusion.step import eval_params
from gen_jax.families.diffusion.schedules import DiscreteSchedule, q_sample, schedule_from_config


def repaint_schedule(num_timesteps: int, jump_length: int = 10, jump_n_sample: int = 10) -> np.ndarray:
  """The visiting order of timesteps in RePaint (their ``get_schedule_jump``): from T-1 down to -1 (clean),
  going back up ``jump_length`` steps ``jump_n_sample - 1`` times at every multiple of ``jump_length``.
  ``jump_n_sample = 1`` gives ``T-1, T-2, ..., 0, -1`` (plain replacement)."""
  jumps = {j: jump_n_sample - 1 for j in range(0, num_timesteps - jump_length, jump_length)}
  t, ts = num_timesteps, []
  while t >= 1:
    t -= 1
    ts.append(t)
    if jumps.get(t, 0) > 0:
      jumps[t] -= 1
      for _ in range(jump_length):
        t += 1
        ts.append(t)
  ts.append(-1)
  return np.asarray(ts, np.int32)


def inpaint(model_fn: samplers.ModelFn, s: DiscreteSchedule, x_known: jax.Array, mask: jax.Array,
            rng: jax.Array, parameterization: str = 'eps', variance: str = 'fixed_small', jump_length: int = 1,
            jump_n_sample: int = 1, clip_denoised: bool = False) -> jax.Array:
  """Samples x [B, ...] that agree with ``x_known`` where ``mask == 1``; one ``lax.scan`` over the RePaint
  schedule (a down step calls the model, an up step ``x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) z`` does not)."""
  ts = repaint_schedule(s.num_timesteps, jump_length, jump_n_sample)
  pairs = jnp.asarray(np.stack([ts[:-1], ts[1:]], axis=1))
  k_init, k_loop = jax.random.split(rng)
  x = jax.random.normal(k_init, x_known.shape, jnp.float32)
  mask = jnp.broadcast_to(mask, x_known.shape).astype(jnp.float32)
  b = x_known.shape[0]

  def down(x, t_last, t_cur, key):
    k1, k2 = jax.random.split(key)
    t = jnp.full((b,), t_last, jnp.int32)
    p = pred.p_mean_variance(s, model_fn(x, t), x, t, parameterization, variance, clip_denoised)
    unknown = p['mean'] + (t_last > 0) * jnp.exp(0.5 * p['log_variance']) * jax.random.normal(k1, x.shape)
    noised = q_sample(s, x_known, jnp.full((b,), jnp.maximum(t_cur, 0), jnp.int32), jax.random.normal(k2, x.shape))
    known = jnp.where(t_cur >= 0, noised, x_known)
    return mask * known + (1.0 - mask) * unknown

  def up(x, t_last, t_cur, key):
    beta = s.betas[t_cur]
    return jnp.sqrt(1.0 - beta) * x + jnp.sqrt(beta) * jax.random.normal(key, x.shape)

  def body(x, inp):
    (t_last, t_cur), key = inp
    return jax.lax.cond(t_cur < t_last, down, up, x, t_last, t_cur, key), None

  x, _ = jax.lax.scan(body, x, (pairs, jax.random.split(k_loop, pairs.shape[0])))
  return x


def slerp(z0: jax.Array, z1: jax.Array, alpha: jax.Array) -> jax.Array:
  """Spherical interpolation between arrays of the same shape at ``alpha`` in [0, 1] (angle over all entries)."""
  dot = jnp.sum(z0 * z1) / (jnp.linalg.norm(z0) * jnp.linalg.norm(z1))
  theta = jnp.arccos(jnp.clip(dot, -1.0, 1.0))
  sin = jnp.sin(theta)
  lerp = (1.0 - alpha) * z0 + alpha * z1
  return jnp.where(sin > 1e-6, (jnp.sin((1.0 - alpha) * theta) * z0 + jnp.sin(alpha * theta) * z1)
                   / jnp.where(sin > 1e-6, sin, 1.0), lerp)


def interpolate(model_fn: samplers.ModelFn, s: DiscreteSchedule, x_a: jax.Array, x_b: jax.Array,
                num: int, parameterization: str = 'eps', num_steps: int = 50, variance: str = 'fixed_small',
                clip_denoised: bool = False) -> jax.Array:
  """``num`` points [num, ...] from x_a [...] to x_b [...] along the slerp of their DDIM latents; the end
  points reconstruct the inputs up to the DDIM inversion error."""
  z = samplers.ddim_invert(model_fn, s, jnp.stack([x_a, x_b]), parameterization, num_steps, variance=variance)
  zs = jax.vmap(lambda a: slerp(z[0], z[1], a))(jnp.linspace(0.0, 1.0, num))
  return samplers.ddim_sample(model_fn, s, zs.shape, jax.random.key(0), parameterization, num_steps, 0.0,
                              clip_denoised=clip_denoised, x_T=zs, variance=variance)


def inpaint_with_state(state: Any, config: Any, x_known: jax.Array, mask: jax.Array, rng: jax.Array,
                       label: jax.Array | None = None) -> jax.Array:
  """``inpaint`` with a trained discrete-time state (EMA parameters) and ``config.sample`` settings
  (``repaint_jump_length``, ``repaint_jump_n_sample``, guidance)."""
  c = config.sample
  fn = guided_model_fn(config, eval_params(state), label)
  return inpaint(fn, schedule_from_config(config.diffusion), x_known, mask, rng,
                 config.diffusion.get('parameterization', 'eps'), variance_type(config),
                 int(c.get('repaint_jump_length', 10)), int(c.get('repaint_jump_n_sample', 10)), clip_denoised(config))
