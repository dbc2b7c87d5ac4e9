"""Inpainting (replacement, RePaint) against the exact Gaussian conditional; slerp interpolation."""
import jax
import jax.numpy as jnp
import numpy as np

from gen_jax.families.diffusion import editing
from gen_jax.families.diffusion import schedules as sch
from tests.families.diffusion import analytic


def test_repaint_schedule():
  np.testing.assert_array_equal(editing.repaint_schedule(4, 1, 1), [3, 2, 1, 0, -1])
  # RePaint's get_schedule_jump(t_T=6, jump_length=2, jump_n_sample=2), traced by hand
  np.testing.assert_array_equal(editing.repaint_schedule(6, 2, 2), [5, 4, 3, 2, 3, 4, 3, 2, 1, 0, 1, 2, 1, 0, -1])
  ts = editing.repaint_schedule(50, 10, 5)
  assert ts[0] == 49 and ts[-1] == -1 and np.all(np.abs(np.diff(ts)) == 1)


def test_inpainting_samples_the_gaussian_conditional():
  """Correlated 2-D Gaussian data, x_1 known: x_2 | x_1 is Gaussian in closed form. Replacement keeps the
  known value exactly but under-corrects; RePaint's resampling gets close to the true conditional."""
  m = np.array([0.3, -0.2])
  cov = np.array([[1.0, 0.9], [0.9, 1.0]]) * 0.25
  s = sch.make_schedule('linear', 200)
  fn = analytic.discrete_eps_fn_full_cov(s, m, cov)
  x1 = 0.6
  known = jnp.tile(jnp.array([[x1, 0.0]]), (2000, 1))
  mask = jnp.array([1.0, 0.0])
  cond_mean = m[1] + cov[0, 1] / cov[0, 0] * (x1 - m[0])
  cond_std = np.sqrt(cov[1, 1] - cov[0, 1] ** 2 / cov[0, 0])
  run = jax.jit(lambda r, n: editing.inpaint(fn, s, known, mask, r, jump_length=10, jump_n_sample=n),
                static_argnums=1)
  replaced = np.asarray(run(jax.random.key(0), 1))
  repainted = np.asarray(run(jax.random.key(0), 10))
  for x in (replaced, repainted):
    np.testing.assert_allclose(x[:, 0], x1, atol=1e-6)
  err_replace = abs(replaced[:, 1].mean() - cond_mean)
  err_repaint = abs(repainted[:, 1].mean() - cond_mean)
  assert err_repaint < 0.5 * err_replace
  assert err_repaint < 0.04
  np.testing.assert_allclose(repainted[:, 1].std(), cond_std, rtol=0.1)


def test_slerp_and_interpolation():
  a, b = jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])
  np.testing.assert_allclose(editing.slerp(a, b, 0.5), [np.sqrt(0.5), np.sqrt(0.5)], atol=1e-6)
  np.testing.assert_allclose(editing.slerp(a, b, 0.0), a, atol=1e-6)
  np.testing.assert_allclose(editing.slerp(a, a, 0.3), a, atol=1e-6)  # parallel: falls back to lerp
  mean, std = np.array([0.5, -0.3]), np.array([0.4, 0.9])
  s = sch.make_schedule('linear', 1000)
  fn = analytic.discrete_eps_fn(s, mean, std)
  x_a, x_b = jnp.array([0.9, 0.5]), jnp.array([0.1, -1.2])
  path = np.asarray(jax.jit(lambda: editing.interpolate(fn, s, x_a, x_b, 7, num_steps=200))())
  assert path.shape == (7, 2) and np.isfinite(path).all()
  np.testing.assert_allclose(path[0], x_a, atol=0.03)
  np.testing.assert_allclose(path[-1], x_b, atol=0.03)
  # intermediate points stay in the data's range (a slerp keeps the latent norm, unlike a lerp)
  assert np.all(np.abs(path[1:-1] - mean) < 4 * std)


def test_inpaint_with_a_trained_state_keeps_the_known_part():
  from gen_jax.families import diffusion as fam
  from tests import helpers
  config = helpers.load_config('experiments/diffusion/ddpm_toy2d.py', 'tiny')
  config.sample.repaint_jump_length = 5
  config.sample.repaint_jump_n_sample = 2
  state = fam.init(jax.random.key(0), config, None)
  known = jnp.tile(jnp.array([[0.7, 0.0]]), (16, 1))
  x = jax.jit(lambda s, r: editing.inpaint_with_state(s, config, known, jnp.array([1.0, 0.0]), r))(
      state, jax.random.key(1))
  assert x.shape == (16, 2) and np.isfinite(np.asarray(x)).all()
  np.testing.assert_allclose(np.asarray(x[:, 0]), 0.7, atol=1e-6)
