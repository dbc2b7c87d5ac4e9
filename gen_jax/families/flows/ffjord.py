"""FFJORD: a continuous normalizing flow solved with diffrax (Grathwohl et al. 2019), with RNODE
regularisation (Finlay et al. 2020).

``dx/dt = f_theta(x, t)`` carries data (t = 0) to the latent (t = ``t1``); the instantaneous change of
variables gives ``log p(x) = log N(z(t1); 0, I) + int_0^t1 tr(df/dx) dt``, integrated alongside x in
one solve. The trace is exact (D JVPs; toy2d) or Hutchinson's estimate with one probe per example
held fixed over the solve (images); ``gen_jax/nn/cnf.py`` holds the estimators, shared with the
diffusion family's probability-flow ODE. RNODE adds ``lambda_K int |f|^2 dt`` (kinetic energy) and
``lambda_J int |df/dx|_F^2 dt`` (Jacobian Frobenius norm, estimated with the same JVP) to the loss;
both are integrated in the same solve and always reported.

The end time T is ``t1`` or, with ``train_t1`` (FFJORD's ``train_T``), a parameter ``sqrt_t1`` of the
network (T = sqrt_t1^2, initialised to ``t1``). Either way the solve runs in rescaled time s = t / T on
[0, 1] with the field ``T f(x, s T)``, the same flow, so a learned T never changes the solver's
arguments; the RNODE integrals are converted back to integrals over t.

The adaptive step size controls the error of (x, log-density) only, so the regularisers, which are
integrated too, never change the steps taken: the NFE with and without RNODE compare the dynamics,
not the bookkeeping. NFE (vector-field evaluations of the forward solve) is ``cnf.function_evaluations``
of the steps diffrax took. A solve that reaches ``max_steps`` returns NaN (the loop stops with the
reason, see ``describe_nonfinite``) instead of a silently truncated integral.

``config.ffjord`` fields (defaults in brackets): solver 'tsit5' | 'dopri5' | 'heun' | 'euler' ['tsit5'],
rtol, atol [1e-5, 1e-5], steps (0: adaptive; N: N fixed steps) [0], t1 (integration time, or its initial
value when trained) [1.0], train_t1 (learn the end time, as FFJORD does) [False], max_steps [1000],
trace 'exact' | 'rademacher' | 'gaussian' ['exact'], adjoint 'checkpoint' (backpropagation through the
solver, recursively checkpointed) | 'backsolve' (the continuous adjoint, solved backwards) ['checkpoint'],
kinetic, jacobian (RNODE weights lambda_K, lambda_J) [0, 0], hidden [64], layers [3], activation
'softplus' | 'tanh' ['softplus'] (the network f; FFJORD uses tanh on 2-D toy data, softplus on images).
"""
from typing import Any

import diffrax
import flax.linen as nn
import jax
import jax.numpy as jnp

from gen_jax.nn import cnf
from gen_jax.nn.loop_conv import ShiftConv

ADJOINTS = ('checkpoint', 'backsolve')
ACTIVATIONS = {'softplus': nn.softplus, 'tanh': jnp.tanh}


class ConcatSquash(nn.Module):
  """``layer(x) * sigmoid(W_g t + b_g) + W_b t`` (FFJORD's ConcatSquash): a dense layer (vectors) or a
  3x3 convolution (images) gated and shifted by the time t (a scalar)."""
  features: int
  dtype: Any = jnp.float32
  zero: bool = False

  @nn.compact
  def __call__(self, x, t):
    init = nn.initializers.zeros if self.zero else nn.initializers.lecun_normal()
    if x.ndim == 4:  # a convolution whose gradient inside the solver's loop is fast on CPU too
      h = ShiftConv(self.features, (3, 3), dtype=self.dtype, kernel_init=init)(x)
    else:
      h = nn.Dense(self.features, dtype=self.dtype, kernel_init=init)(x)
    tt = jnp.reshape(jnp.asarray(t, jnp.float32), (1, 1))
    gate = jax.nn.sigmoid(nn.Dense(self.features)(tt))[0]
    shift = nn.Dense(self.features, use_bias=False)(tt)[0]
    return h.astype(jnp.float32) * gate + shift


class ODENet(nn.Module):
  """``f(x, t)``: ``layers - 1`` ConcatSquash layers of ``hidden`` units (dense for vectors, 3x3
  convolutions for images) with ``activation``, and a ConcatSquash output layer to the data's size.
  With ``train_t1`` it also holds the learned end time's square root ``sqrt_t1`` (initialised to
  sqrt(t1)), which ``end_time`` reads; f itself does not use it."""
  hidden: int = 64
  layers: int = 3
  dtype: Any = jnp.float32
  activation: str = 'softplus'
  train_t1: bool = False
  t1: float = 1.0

  @nn.compact
  def __call__(self, x, t):
    if self.train_t1:
      self.param('sqrt_t1', lambda _: jnp.sqrt(jnp.asarray(self.t1, jnp.float32)))
    act = ACTIVATIONS[self.activation]
    h = x.astype(self.dtype)
    for _ in range(self.layers - 1):
      h = act(ConcatSquash(self.hidden, self.dtype)(h, t)).astype(self.dtype)
    return ConcatSquash(x.shape[-1], self.dtype)(h, t)


def get_net(config: Any) -> ODENet:
  from gen_jax.nn.layers import compute_dtype  # pylint: disable=g-import-not-at-top
  f, s = config.get('ffjord', {}), settings(config)
  return ODENet(int(f.get('hidden', 64)), int(f.get('layers', 3)), compute_dtype(config.model.get('dtype', 'float32')),
                s['activation'], s['train_t1'], s['t1'])


def settings(config: Any) -> dict:
  """``config.ffjord`` with its defaults (module docstring)."""
  f = config.get('ffjord', {})
  get = lambda k, d: d if f.get(k, None) is None else f.get(k)  # noqa: E731
  return dict(solver=get('solver', 'tsit5'), rtol=float(get('rtol', 1e-5)), atol=float(get('atol', 1e-5)),
              steps=int(get('steps', 0)), t1=float(get('t1', 1.0)), max_steps=int(get('max_steps', 1000)),
              trace=get('trace', 'exact'), adjoint=get('adjoint', 'checkpoint'),
              kinetic=float(get('kinetic', 0.0)), jacobian=float(get('jacobian', 0.0)),
              train_t1=bool(get('train_t1', False)), activation=get('activation', 'softplus'))


def end_time(params: Any, s: dict) -> jax.Array:
  """The end time T of the flow: ``sqrt_t1^2`` when learned (``train_t1``), else ``t1``."""
  if s['train_t1']:
    return jnp.square(params['sqrt_t1'])
  return jnp.float32(s['t1'])


def _scaled_field(net: ODENet, params: Any, s: dict):
  """(``g(x, u) = T f(x, u T)``, T): the flow in rescaled time u = t / T on [0, 1]."""
  big_t = end_time(params, s)
  return (lambda z, u: big_t * net.apply({'params': params}, z, u * big_t)), big_t


def _controller(s: dict, forward: bool = True):
  """(step-size controller, dt0) in rescaled time on [0, 1]: fixed steps, or a PID controller on the
  first two state parts."""
  dt = 1.0 / s['steps'] if s['steps'] > 0 else 1.0 / 20
  dt0 = dt if forward else -dt
  if s['steps'] > 0:
    return diffrax.ConstantStepSize(), dt0

  def norm(err):  # RMS over x and the log-density only (not the regularisers)
    parts = jax.tree.leaves(err if not isinstance(err, tuple) else err[:2])
    total = sum(jnp.sum(jnp.square(p)) for p in parts)
    return jnp.sqrt(total / sum(p.size for p in parts))

  return diffrax.PIDController(rtol=s['rtol'], atol=s['atol'], norm=norm), dt0


def _adjoint(name: str):
  return diffrax.BacksolveAdjoint() if name == 'backsolve' else diffrax.RecursiveCheckpointAdjoint()


def log_density(net: ODENet, params: Any, x: jax.Array, rng: jax.Array, config: Any) -> dict[str, jax.Array]:
  """Integrates x [B, ...] from t = 0 to t1 with the log-density change and the RNODE integrals.

  Returns per-example [B] ``z_logp`` (log N(z; 0, I)), ``delta`` (int tr(df/dx) dt, so
  ``log p(x) = z_logp + delta``), ``kinetic`` (int |f|^2 dt), ``jacobian`` (int |df/dx|_F^2 dt,
  estimated unless the trace is exact), the latent ``z`` [B, ...], and the scalars ``nfe`` and
  ``failed`` (1.0 when the solver reached max_steps; the outputs are then NaN).
  """
  s = settings(config)
  b = x.shape[0]
  probe = cnf.trace_probe(rng, x.shape, s['trace'])

  def vector_field(u, y, args):
    p, e = args
    g, big_t = _scaled_field(net, p, s)
    # g = T f: div g du = div f dt, and |g|^2 du = T |f|^2 dt (likewise |dg/dx|_F^2), so the RNODE
    # integrands are divided by T to integrate over t.
    gx, div, frob = cnf.divergence(lambda z: g(z, u), y[0], e, frobenius=True)
    kin = jnp.sum(jnp.square(gx).reshape(b, -1), axis=-1)
    return gx, div, kin / big_t, frob / big_t

  zeros = jnp.zeros((b,), jnp.float32)
  controller, dt0 = _controller(s)
  sol = diffrax.diffeqsolve(diffrax.ODETerm(vector_field), cnf.make_solver(s['solver']), t0=0.0, t1=1.0,
                            dt0=dt0, y0=(x.astype(jnp.float32), zeros, zeros, zeros), args=(params, probe),
                            stepsize_controller=controller, adjoint=_adjoint(s['adjoint']),
                            max_steps=max(s['max_steps'], s['steps'] + 1), saveat=diffrax.SaveAt(t1=True),
                            throw=False)
  failed = (sol.result != diffrax.RESULTS.successful).astype(jnp.float32)
  nan_if_failed = jnp.where(failed > 0, jnp.nan, 0.0)
  z, delta, kinetic, jac = (v[-1] + nan_if_failed for v in sol.ys)
  z_logp = -0.5 * jnp.sum(jnp.square(z).reshape(b, -1) + jnp.log(2 * jnp.pi), axis=-1)
  return {'z': z, 'z_logp': z_logp, 'delta': delta, 'kinetic': kinetic, 'jacobian': jac,
          'nfe': cnf.function_evaluations(s['solver'], sol.stats['num_steps']).astype(jnp.float32),
          'failed': failed}


def integrate(net: ODENet, params: Any, y0: jax.Array, config: Any,
              reverse: bool = True) -> tuple[jax.Array, jax.Array]:
  """Solves ``dx/dt = f`` alone from T to 0 (``reverse``: latent -> data, sampling) or 0 to T;
  returns (the end state, NFE). NaN when the solver reaches max_steps."""
  s = settings(config)
  controller, dt0 = _controller(s, forward=not reverse)
  t0, t1 = (1.0, 0.0) if reverse else (0.0, 1.0)
  sol = diffrax.diffeqsolve(diffrax.ODETerm(lambda u, y, p: _scaled_field(net, p, s)[0](y, u)),
                            cnf.make_solver(s['solver']), t0=t0, t1=t1, dt0=dt0, y0=y0.astype(jnp.float32),
                            args=params, stepsize_controller=controller, max_steps=max(s['max_steps'], s['steps'] + 1),
                            saveat=diffrax.SaveAt(t1=True), throw=False)
  bad = jnp.where(sol.result != diffrax.RESULTS.successful, jnp.nan, 0.0)
  return sol.ys[-1] + bad, cnf.function_evaluations(s['solver'], sol.stats['num_steps']).astype(jnp.float32)


def function_cost(net: ODENet, params: Any, num: int, shape: tuple[int, ...]):
  """One vector-field call on ``num`` examples, for FLOP counting: (fn, args)."""
  return (lambda p, x: net.apply({'params': p}, x, 0.5)), (params, jnp.zeros((num,) + tuple(shape), jnp.float32))
