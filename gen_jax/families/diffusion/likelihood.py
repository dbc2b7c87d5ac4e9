"""Likelihoods of diffusion models, in nats per example (divide by D ln 2 for bits/dim).

* ``vlb_terms``: the DDPM variational bound ``L_T + sum_{t>0} L_t + L_0`` (Ho et al. 2020, eq. 5)
  with a discretized-Gaussian (images) or Gaussian (points) decoder; all T terms or an unbiased
  estimate from a few random timesteps.
* ``ode_nll``: the exact likelihood of the probability-flow ODE (Song et al. 2021, app. D.2):
  ``log p_0(x) = log p_1(x(1)) + int_0^1 div f~(x(t), t) dt``, solved with diffrax; the divergence by
  the Hutchinson estimator (Rademacher or Gaussian probes) or exactly (D JVPs; small D only).
"""
from typing import Callable

import diffrax
import jax
import jax.numpy as jnp

from gen_jax.families.diffusion import losses
from gen_jax.families.diffusion.schedules import DiscreteSchedule, q_sample
from gen_jax.families.diffusion.sde import SDE, ScoreFn
# the divergence estimators and solvers are shared with the flow family's FFJORD (gen_jax/nn/cnf.py)
from gen_jax.nn.cnf import ESTIMATORS, ODE_SOLVERS, make_solver, trace_probe  # noqa: F401 (re-exported)
from gen_jax.nn.cnf import divergence as _divergence


def vlb_terms(s: DiscreteSchedule, model_fn: Callable[[jax.Array, jax.Array], jax.Array], x0: jax.Array,
              rng: jax.Array, parameterization: str, variance: str, decoder: str = 'discretized',
              num_sampled: int = 0, clip_denoised: bool = False) -> dict[str, jax.Array]:
  """Per-example variational bound on ``-log p(x0)``, nats [B]: {'total', 'prior', 'decoder', 'diffusion'}.

  ``model_fn(x_t, t_int) -> raw output``. Each ``L_t`` uses its own ``x_t ~ q(x_t | x_0)``.
  ``num_sampled = 0`` sums all T-1 KL terms (T network calls, a ``lax.scan``); ``K > 0`` estimates
  their sum without bias as ``(T-1)/K sum_k L_{t_k}``, t_k uniform on {1..T-1}, per example.
  ``x0`` must lie on the 256-level grid for the discretized decoder (``losses.to_pixel_grid``).
  """
  T = s.num_timesteps
  b = x0.shape[0]

  def body(_, inp):
    t, key = inp
    x_t = q_sample(s, x0, t, jax.random.normal(key, x0.shape, jnp.float32))
    return None, losses.vlb_term(s, model_fn(x_t, t), x0, x_t, t, parameterization, variance, decoder, clip_denoised)

  # one scan (one traced network call) over t = 0 (the decoder) and the KL terms
  k_terms, k_t = jax.random.split(rng)
  if num_sampled <= 0 or T == 1:
    ts = jnp.broadcast_to(jnp.arange(T, dtype=jnp.int32)[:, None], (T, b))
    scale = 1.0
  else:
    ts = jnp.concatenate([jnp.zeros((1, b), jnp.int32), jax.random.randint(k_t, (num_sampled, b), 1, T)])
    scale = (T - 1) / num_sampled
  _, terms = jax.lax.scan(body, None, (ts, jax.random.split(k_terms, ts.shape[0])))
  prior = losses.prior_kl(s, x0)
  dec, diff = terms[0], scale * jnp.sum(terms[1:], axis=0)
  return {'total': prior + diff + dec, 'prior': prior, 'decoder': dec, 'diffusion': diff}


def ode_nll(sde: SDE, score_fn: ScoreFn, x: jax.Array, rng: jax.Array, t_eps: float = 1e-5, rtol: float = 1e-5,
            atol: float = 1e-5, estimator: str = 'rademacher', solver: str = 'tsit5',
            num_steps: int = 0, max_steps: int = 4096) -> tuple[jax.Array, jax.Array]:
  """Negative log-likelihood of ``x`` [B, ...] under the probability-flow ODE, nats [B], and the number
  of solver steps taken.

  Integrates ``(x, delta)`` from ``t_eps`` to 1 with ``dx/dt = f - g^2 score / 2`` and
  ``d delta / dt = div(dx/dt)``; ``-log p(x) = -(log p_1(x(1)) + delta(1))`` where ``p_1`` is the prior.
  Adaptive steps (``rtol``, ``atol``) unless ``num_steps > 0`` (fixed steps, e.g. with 'euler').
  One probe per example for the Hutchinson estimators (unbiased; average several calls to reduce variance).
  """
  probe = trace_probe(rng, x.shape, estimator)
  b = x.shape[0]

  def vector_field(t, y, args):
    xt, _ = y
    vec_t = jnp.full((b,), t, jnp.float32)
    fn = lambda z: sde.reverse_drift(z, vec_t, score_fn(z, vec_t), probability_flow=True)  # noqa: E731
    return _divergence(fn, xt, probe)

  if num_steps > 0:
    controller, dt0 = diffrax.ConstantStepSize(), (1.0 - t_eps) / num_steps
  else:
    controller, dt0 = diffrax.PIDController(rtol=rtol, atol=atol), 1e-3
  sol = diffrax.diffeqsolve(diffrax.ODETerm(vector_field), make_solver(solver), t0=t_eps, t1=1.0, dt0=dt0,
                            y0=(x, jnp.zeros((b,), jnp.float32)), stepsize_controller=controller,
                            max_steps=max(max_steps, num_steps + 1), saveat=diffrax.SaveAt(t1=True))
  z, delta = sol.ys[0][-1], sol.ys[1][-1]
  return -(sde.prior_logp(z) + delta), sol.stats['num_steps']
