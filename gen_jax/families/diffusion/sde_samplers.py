"""Samplers of score SDEs: predictor-corrector (one ``lax.scan``) and the probability-flow ODE (diffrax).

Predictors (Song et al. 2021, app. F/G): 'euler_maruyama' (the reverse SDE, dt = 1/num_steps),
'reverse_diffusion' (the forward discretisation run backwards: DDPM-like for VP, SMLD-like for VE),
'none'. Correctors: 'langevin' (annealed Langevin dynamics with step size from the signal-to-noise
ratio ``snr``), 'none'. ``score_fn(x [B, ...], t [B]) -> [B, ...]`` from ``sde.make_score_fn``.
"""
import jax
import jax.numpy as jnp

import diffrax
from gen_jax.families.diffusion.likelihood import make_solver
from gen_jax.families.diffusion.sde import SDE, ScoreFn, expand_to, tweedie_denoise

PREDICTORS = ('euler_maruyama', 'reverse_diffusion', 'none')
CORRECTORS = ('langevin', 'none')


def _norm(v: jax.Array) -> jax.Array:
  """Per-example L2 norm [B]."""
  return jnp.sqrt(jnp.sum(jnp.square(v.reshape(v.shape[0], -1)), axis=-1))


def langevin_step(sde: SDE, score_fn: ScoreFn, x: jax.Array, t: jax.Array, key: jax.Array, snr: float,
                  dt: float) -> tuple[jax.Array, jax.Array]:
  """One Langevin corrector step at time t [B] -> (x, x_mean), as in score_sde: step size
  ``2 alpha (snr mean|z| / mean|score|)^2`` with norms per example averaged over the batch (per-example
  ratios explode in low dimension where |score| can be ~0), ``alpha = 1 - beta(t) dt`` (VP, sub-VP) or 1 (VE)."""
  grad = score_fn(x, t)
  noise = jax.random.normal(key, x.shape, jnp.float32)
  alpha = 1.0 - jnp.minimum(sde.beta(t) * dt, 0.999) if sde.kind != 've' else jnp.ones_like(t)
  grad_norm = jnp.mean(_norm(grad))
  step = jnp.where(grad_norm > 0, 2.0 * alpha * (snr * jnp.mean(_norm(noise)) / jnp.maximum(grad_norm, 1e-30)) ** 2,
                   0.0)
  x_mean = x + expand_to(step, x) * grad
  return x_mean + expand_to(jnp.sqrt(2.0 * step), x) * noise, x_mean


def predictor_step(sde: SDE, score_fn: ScoreFn, x: jax.Array, t: jax.Array, key: jax.Array, predictor: str,
                   dt: float) -> tuple[jax.Array, jax.Array]:
  """One predictor step from t to t - dt -> (x, x_mean)."""
  if predictor == 'none':
    return x, x
  z = jax.random.normal(key, x.shape, jnp.float32)
  score = score_fn(x, t)
  if predictor == 'euler_maruyama':
    x_mean = x - sde.reverse_drift(x, t, score) * dt
    return x_mean + expand_to(sde.diffusion(t) * jnp.sqrt(dt), x) * z, x_mean
  if predictor == 'reverse_diffusion':
    f, g = sde.discretize(x, t, dt)
    x_mean = x - (f - expand_to(g ** 2, x) * score)
    return x_mean + expand_to(g, x) * z, x_mean
  raise ValueError(f'unknown predictor {predictor!r}; allowed: {", ".join(PREDICTORS)}.')


def pc_sample(sde: SDE, score_fn: ScoreFn, shape: tuple, rng: jax.Array, predictor: str = 'reverse_diffusion',
              corrector: str = 'langevin', snr: float = 0.16, corrector_steps: int = 1, num_steps: int = 1000,
              t_eps: float = 1e-3, denoise: bool = True, x_T: jax.Array | None = None) -> jax.Array:
  """Predictor-corrector sampling on ``linspace(1, t_eps, num_steps)`` (Song et al. 2021, alg. 1-3).

  ``denoise``: return the last noise-free mean. ``corrector='none'`` and ``predictor='euler_maruyama'``
  is plain Euler-Maruyama on the reverse SDE. Returns x_0 [B, ...].
  """
  if corrector not in CORRECTORS:
    raise ValueError(f'unknown corrector {corrector!r}; allowed: {", ".join(CORRECTORS)}.')
  k_init, k_loop = jax.random.split(rng)
  x = sde.prior_sample(k_init, shape) if x_T is None else x_T
  dt = 1.0 / num_steps
  b = shape[0]

  def body(carry, inp):
    x, _ = carry
    t, key = inp
    vec_t = jnp.full((b,), t, jnp.float32)
    k_c, k_p = jax.random.split(key)
    x_mean = x
    if corrector == 'langevin' and corrector_steps > 0:
      def c_body(j, xx):
        return langevin_step(sde, score_fn, xx[0], vec_t, jax.random.fold_in(k_c, j), snr, dt)
      x, x_mean = jax.lax.fori_loop(0, corrector_steps, c_body, (x, x))
    if predictor != 'none':
      x, x_mean = predictor_step(sde, score_fn, x, vec_t, k_p, predictor, dt)
    return (x, x_mean), None

  timesteps = jnp.linspace(1.0, t_eps, num_steps)
  (x, x_mean), _ = jax.lax.scan(body, (x, x), (timesteps, jax.random.split(k_loop, num_steps)))
  return x_mean if denoise else x


def probability_flow(sde: SDE, score_fn: ScoreFn, x: jax.Array, t0: float, t1: float, rtol: float = 1e-5,
                     atol: float = 1e-5, solver: str = 'tsit5', num_steps: int = 0,
                     max_steps: int = 4096) -> tuple[jax.Array, jax.Array]:
  """Solves the probability-flow ODE ``dx/dt = f - g^2 score / 2`` from t0 to t1 (either direction)
  with diffrax -> (x(t1) [B, ...], number of solver steps). Adaptive unless ``num_steps > 0``."""
  b = x.shape[0]

  def vector_field(t, y, args):
    vec_t = jnp.full((b,), t, jnp.float32)
    return sde.reverse_drift(y, vec_t, score_fn(y, vec_t), probability_flow=True)

  if num_steps > 0:
    controller, dt0 = diffrax.ConstantStepSize(), (t1 - t0) / num_steps
  else:
    controller, dt0 = diffrax.PIDController(rtol=rtol, atol=atol), 1e-3 if t1 > t0 else -1e-3
  sol = diffrax.diffeqsolve(diffrax.ODETerm(vector_field), make_solver(solver), t0=t0, t1=t1, dt0=dt0, y0=x,
                            stepsize_controller=controller, max_steps=max(max_steps, num_steps + 1),
                            saveat=diffrax.SaveAt(t1=True))
  return sol.ys[-1], sol.stats['num_steps']


def ode_sample(sde: SDE, score_fn: ScoreFn, shape: tuple, rng: jax.Array, t_eps: float = 1e-3, rtol: float = 1e-5,
               atol: float = 1e-5, solver: str = 'tsit5', num_steps: int = 0, denoise: bool = True,
               x_T: jax.Array | None = None) -> jax.Array:
  """Deterministic sampling: x_1 from the prior through the probability-flow ODE to ``t_eps``, then (with
  ``denoise``) Tweedie's ``E[x_0 | x_{t_eps}]``. Returns x_0 [B, ...]."""
  x = sde.prior_sample(rng, shape) if x_T is None else x_T
  x, _ = probability_flow(sde, score_fn, x, 1.0, t_eps, rtol, atol, solver, num_steps)
  if denoise:
    x = tweedie_denoise(sde, score_fn, x, jnp.full((shape[0],), t_eps, jnp.float32))
  return x
