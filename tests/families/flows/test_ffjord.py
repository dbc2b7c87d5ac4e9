"""FFJORD against closed forms: on a linear ODE dx/dt = A x the latent is expm(t1 A) x, the log-det is
t1 tr(A), the RNODE integrals are those of the exact path; Hutchinson's estimate averages to the trace
with the variance of its closed form; the NFE formula counts the solver's calls of the vector field;
both adjoints give the same gradients; a learned end time T gives the closed forms at T and their derivative
in T; the network depends on both x and t."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, linalg

from gen_jax.families.flows import ffjord
from tests.families.flows import tiny

A = np.array([[-0.4, 0.7, 0.0], [-0.3, 0.2, 0.5], [0.1, -0.6, 0.3]])


class LinearField:
  """A stand-in for the network: f(x, t) = x A^T with ``params = A`` (``apply`` like a Flax module)."""

  @staticmethod
  def apply(variables, x, t):
    del t
    return x @ variables['params'].T


def _config(**ffjord_fields):
  c = tiny.config('ffjord', (3,))
  c.ffjord.rtol = c.ffjord.atol = 1e-7
  c.ffjord.t1 = 0.8
  c.ffjord.update(ffjord_fields)
  return c


def test_linear_ode_matches_the_closed_forms():
  c = _config(trace='exact')
  x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 3)), jnp.float32)

  @jax.jit
  def run(a, x):
    out = ffjord.log_density(LinearField, a, x, jax.random.key(0), c)
    return out, ffjord.integrate(LinearField, a, out['z'], c, reverse=True)[0]

  out, back = run(jnp.asarray(A, jnp.float32), x)
  np.testing.assert_allclose(back, x, atol=1e-5)  # the sampling direction inverts the density solve
  t1 = 0.8
  z = np.asarray(x, np.float64) @ linalg.expm(t1 * A).T
  np.testing.assert_allclose(out['z'], z, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(out['delta'], t1 * np.trace(A), rtol=1e-5)  # log|det expm(t1 A)| = t1 tr(A)
  np.testing.assert_allclose(out['jacobian'], t1 * np.sum(A ** 2), rtol=1e-5)  # int |A|_F^2 dt
  kinetic = [integrate.quad(lambda t, xi=xi: np.sum((A @ linalg.expm(t * A) @ xi) ** 2), 0, t1, epsabs=1e-12)[0]
             for xi in np.asarray(x, np.float64)]
  np.testing.assert_allclose(out['kinetic'], kinetic, rtol=1e-4)
  np.testing.assert_allclose(out['z_logp'], -0.5 * np.sum(z ** 2 + np.log(2 * np.pi), axis=1), rtol=1e-5)
  assert float(out['failed']) == 0.0


@pytest.mark.parametrize('estimator', ['rademacher', 'gaussian'])
def test_hutchinson_estimate_averages_to_the_trace(estimator):
  """One probe per example: over n examples the mean of the estimated log-det is t1 tr(A) within 4 standard
  errors of the closed-form variance (Rademacher: 2 sum_{i != j} B_ij^2, Gaussian: 2 |B|_F^2, B = (A + A^T) / 2,
  times t1^2; the probe is held fixed over the solve and A is constant, so the estimate is t1 e^T A e)."""
  n, t1 = 4000, 0.8
  c = _config(trace=estimator, rtol=1e-5, atol=1e-5)
  x = jnp.zeros((n, 3)).at[:, 0].set(1.0)
  delta = np.asarray(jax.jit(lambda a: ffjord.log_density(LinearField, a, x, jax.random.key(3), c)['delta'])(
      jnp.asarray(A, jnp.float32)), np.float64)
  b = (A + A.T) / 2
  var = 2 * (np.sum(b ** 2) - np.sum(np.diag(b) ** 2)) if estimator == 'rademacher' else 2 * np.sum(b ** 2)
  assert abs(delta.mean() - t1 * np.trace(A)) < 4 * t1 * np.sqrt(var / n)
  np.testing.assert_allclose(delta.var(), t1 ** 2 * var, rtol=0.15)
  if estimator == 'rademacher':  # e_i^2 = 1: the diagonal is exact, only cross terms vary
    assert np.isfinite(delta).all()


def test_function_evaluations_count_the_calls_of_the_vector_field():
  """``cnf.function_evaluations`` against a host-side counter in the vector field, for every solver."""
  calls = []

  class Counting:
    @staticmethod
    def apply(variables, x, t):
      jax.debug.callback(lambda: calls.append(1))
      return x @ variables['params'].T

  a = jnp.asarray(A, jnp.float32)
  x = jnp.ones((2, 3))
  for solver, steps in (('tsit5', 0), ('dopri5', 3), ('heun', 0), ('euler', 7)):
    c = _config(solver=solver, steps=steps, rtol=1e-6, atol=1e-6)
    calls.clear()
    _, nfe = ffjord.integrate(Counting, a, x, c, reverse=False)
    jax.effects_barrier()
    assert int(nfe) == len(calls), (solver, steps, int(nfe), len(calls))


def test_backsolve_and_checkpoint_adjoints_give_the_same_gradients():
  """d/dA of a loss with the log-density and the RNODE integrals: the continuous adjoint solved backwards
  against backpropagation through the (checkpointed) solver."""
  x = jnp.asarray(np.random.default_rng(2).normal(size=(6, 3)), jnp.float32)

  def loss(a, adjoint):
    out = ffjord.log_density(LinearField, a, x, jax.random.key(0), _config(adjoint=adjoint, trace='exact'))
    return jnp.mean(out['z_logp'] + out['delta']) - 0.1 * jnp.mean(out['kinetic'] + out['jacobian'])

  g_ckpt, g_back = jax.jit(lambda a: [jax.grad(loss)(a, adj) for adj in ffjord.ADJOINTS])(jnp.asarray(A, jnp.float32))
  assert np.abs(np.asarray(g_ckpt)).max() > 0.1
  np.testing.assert_allclose(g_back, g_ckpt, rtol=1e-4, atol=1e-5)


def test_step_size_control_ignores_the_rnode_integrals():
  """The adaptive controller's error norm sees (x, log-density) only, so integrating the regularisers in the
  same solve never changes the steps (and the NFE) taken."""
  controller, dt0 = ffjord._controller(ffjord.settings(_config()))  # pylint: disable=protected-access
  assert dt0 > 0
  err = (jnp.full((4, 3), 0.5), jnp.full((4,), 2.0))
  small = controller.norm(err + (jnp.zeros(4), jnp.zeros(4)))
  np.testing.assert_allclose(small, np.sqrt((12 * 0.25 + 4 * 4.0) / 16), rtol=1e-6)
  np.testing.assert_allclose(controller.norm(err + (jnp.full(4, 1e6), jnp.full(4, -1e6))), small)


class LinearFieldWithEndTime:
  """f(x, t) = x A^T with ``params = {'A': A, 'sqrt_t1': s}``: the end time T = s^2 is learned."""

  @staticmethod
  def apply(variables, x, t):
    del t
    return x @ variables['params']['A'].T


def test_learned_end_time_matches_the_closed_forms_and_their_derivative():
  """With ``train_t1`` the solve runs in rescaled time with the field T f: at T = 1.21 the latent, log-det and
  RNODE integrals are those of the linear ODE over [0, T], and d log p / dT = tr(A) - z^T A z (z = expm(T A) x;
  d z / dT = A z) reaches sqrt_t1 by the chain rule dT / d sqrt_t1 = 2 sqrt_t1."""
  c = _config(trace='exact', train_t1=True, t1=0.3)  # t1 is only the initial value of a learned T
  x = jnp.asarray(np.random.default_rng(4).normal(size=(5, 3)), jnp.float32)
  params = {'A': jnp.asarray(A, jnp.float32), 'sqrt_t1': jnp.float32(1.1)}
  big_t = 1.1 ** 2

  def log_p(p):
    out = ffjord.log_density(LinearFieldWithEndTime, p, x, jax.random.key(0), c)
    return jnp.sum(out['z_logp'] + out['delta']), out

  (_, out), grads = jax.jit(jax.value_and_grad(log_p, has_aux=True))(params)
  z = np.asarray(x, np.float64) @ linalg.expm(big_t * A).T
  np.testing.assert_allclose(out['z'], z, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(out['delta'], big_t * np.trace(A), rtol=1e-5)
  np.testing.assert_allclose(out['jacobian'], big_t * np.sum(A ** 2), rtol=1e-5)
  kinetic = [integrate.quad(lambda t, xi=xi: np.sum((A @ linalg.expm(t * A) @ xi) ** 2), 0, big_t, epsabs=1e-12)[0]
             for xi in np.asarray(x, np.float64)]
  np.testing.assert_allclose(out['kinetic'], kinetic, rtol=1e-4)
  d_dt = np.sum(np.trace(A) - np.einsum('bi,ij,bj->b', z, A, z))
  np.testing.assert_allclose(grads['sqrt_t1'], 2 * 1.1 * d_dt, rtol=1e-4)
  back, _ = ffjord.integrate(LinearFieldWithEndTime, params, out['z'], c, reverse=True)
  np.testing.assert_allclose(back, x, atol=1e-5)


@pytest.mark.parametrize('activation', ['softplus', 'tanh'])
def test_network_depends_on_x_and_t_and_holds_the_learned_end_time(activation):
  """ConcatSquash gates and shifts every layer by t, so f changes with t at a fixed x (and with x at a
  fixed t); ``train_t1`` adds sqrt_t1 = sqrt(t1) to the parameters, which ``end_time`` squares."""
  c = _config(activation=activation, train_t1=True, t1=0.5, hidden=16, layers=3)
  net = ffjord.get_net(c)
  x = jnp.asarray(np.random.default_rng(5).normal(size=(4, 3)), jnp.float32)
  params = net.init(jax.random.key(0), x, 0.0)['params']
  np.testing.assert_allclose(params['sqrt_t1'], np.sqrt(0.5), rtol=1e-6)
  np.testing.assert_allclose(ffjord.end_time(params, ffjord.settings(c)), 0.5, rtol=1e-6)
  f = lambda xx, t: net.apply({'params': params}, xx, t)  # noqa: E731
  d_dt = jax.jvp(lambda t: f(x, t), (0.3,), (1.0,))[1]
  d_dx = jax.jacfwd(lambda xx: f(xx[None], 0.3)[0])(x[0])
  assert np.abs(np.asarray(d_dt)).min() > 0 and np.linalg.matrix_rank(np.asarray(d_dx)) == 3
  assert 'sqrt_t1' not in ffjord.get_net(_config()).init(jax.random.key(0), x, 0.0)['params']
