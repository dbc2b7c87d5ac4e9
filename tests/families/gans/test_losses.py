"""The adversarial losses and regularisers against independent computations: each loss against its
published formula on fixed logits, the minimax value at the optimal discriminator against the
Jensen-Shannon divergence (scipy quadrature), the gradient penalty against finite differences, R1
against a gradient written out by hand, the path length against an explicit Jacobian, and the
augmentations against NumPy."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from gen_jax.families.gans import augment, losses

LOGITS_R = np.array([-3.0, -0.5, 0.0, 0.7, 4.0], np.float64)
LOGITS_F = np.array([2.0, -1.5, 0.3, -4.0, 0.0], np.float64)


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


# The papers' formulas in probabilities D = sigmoid(d) (Goodfellow et al. 2014 eq. 1 and section 3;
# Mao et al. 2017 eq. 2 with a=0, b=c=1; Lim & Ye 2017; Arjovsky et al. 2017), written independently
# of the softplus forms in losses.py.
def _reference(name, r, f):
  dr, df = _sigmoid(r), _sigmoid(f)
  if name == 'minimax':
    return -np.log(dr) - np.log(1 - df), np.log(1 - df)
  if name == 'nonsaturating':
    return -np.log(dr) - np.log(1 - df), -np.log(df)
  if name == 'lsgan':
    return 0.5 * (r - 1) ** 2 + 0.5 * f ** 2, 0.5 * (f - 1) ** 2
  if name == 'hinge':
    return np.maximum(0, 1 - r) + np.maximum(0, 1 + f), -f
  return f - r, -f


@pytest.mark.parametrize('name', losses.LOSSES)
def test_each_loss_matches_its_formula(name):
  d = losses.discriminator_loss(name, jnp.asarray(LOGITS_R, jnp.float32), jnp.asarray(LOGITS_F, jnp.float32))
  g = losses.generator_loss(name, jnp.asarray(LOGITS_F, jnp.float32))
  want_d, want_g = _reference(name, LOGITS_R, LOGITS_F)
  assert d.shape == g.shape == (5,)
  np.testing.assert_allclose(d, want_d, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(g, want_g, rtol=1e-5, atol=1e-6)


def test_softplus_forms_stay_finite_where_probabilities_underflow():
  big = jnp.asarray([-200.0, 200.0])
  for name in losses.LOSSES:
    assert np.isfinite(np.asarray(losses.discriminator_loss(name, big, -big))).all()
    assert np.isfinite(np.asarray(losses.generator_loss(name, big))).all()
  np.testing.assert_allclose(losses.generator_loss('nonsaturating', jnp.asarray([-200.0])), [200.0], rtol=1e-6)


def test_minimax_value_at_the_optimal_discriminator_is_log4_minus_2_jsd():
  """Goodfellow et al. 2014, Theorem 1: with D*(x) = p(x) / (p(x) + q(x)), the discriminator's loss
  E_p[-log D*] + E_q[-log(1 - D*)] = log 4 - 2 JSD(p, q); any other D does worse."""
  p, q = stats.norm(0.0, 1.0), stats.norm(1.5, 0.7)
  lo, hi = -12.0, 12.0

  def logit_star(x):  # log D* - log(1 - D*) = log p - log q
    return p.logpdf(x) - q.logpdf(x)

  def expected_d_loss(logit_fn):
    def real(x):
      return p.pdf(x) * float(losses.discriminator_loss('minimax', jnp.asarray([logit_fn(x)]), jnp.asarray([-50.0]))[0])
    def fake(x):
      return q.pdf(x) * float(losses.discriminator_loss('minimax', jnp.asarray([50.0]), jnp.asarray([logit_fn(x)]))[0])
    # the +-50 logits of the unused side contribute softplus(-50) ~ 2e-22 each
    return integrate.quad(real, lo, hi, limit=200)[0] + integrate.quad(fake, lo, hi, limit=200)[0]

  def kl_to_mixture(a, b):
    return integrate.quad(lambda x: a.pdf(x) * (a.logpdf(x) - np.log(0.5 * a.pdf(x) + 0.5 * b.pdf(x))), lo, hi,
                          limit=200)[0]

  jsd = 0.5 * kl_to_mixture(p, q) + 0.5 * kl_to_mixture(q, p)
  value = expected_d_loss(logit_star)
  assert value == pytest.approx(math.log(4) - 2 * jsd, abs=1e-5)
  assert 0 < jsd < math.log(2)
  assert expected_d_loss(lambda x: logit_star(x) + 0.5) > value + 1e-3
  assert expected_d_loss(lambda x: 0.8 * logit_star(x)) > value + 1e-3


def _mlp_critic(seed=0, d_in=6):
  rng = np.random.default_rng(seed)
  w1 = jnp.asarray(rng.normal(size=(d_in, 5)) / 2, jnp.float64)
  w2 = jnp.asarray(rng.normal(size=(5,)), jnp.float64)
  return w1, w2, (lambda x: jnp.tanh(x.reshape(x.shape[0], -1) @ w1) @ w2)


def test_gradient_penalty_matches_finite_differences():
  with jax.enable_x64(True):
    _, _, d_fn = _mlp_critic()
    rng = np.random.default_rng(1)
    real = jnp.asarray(rng.normal(size=(4, 2, 3)))
    fake = jnp.asarray(rng.normal(size=(4, 2, 3)))
    key = jax.random.key(3)
    gp = np.asarray(losses.gradient_penalty(d_fn, real, fake, key))
    x_hat = np.asarray(losses.interpolates(real, fake, key))
    e = np.asarray(jax.random.uniform(key, (4, 1, 1), jnp.float64))
    np.testing.assert_allclose(x_hat, e * np.asarray(real) + (1 - e) * np.asarray(fake))
    h = 1e-6
    for b in range(4):
      grad = np.zeros(6)
      for j in range(6):
        step = np.zeros(6)
        step[j] = h
        up = float(d_fn(jnp.asarray((x_hat[b].reshape(6) + step).reshape(1, 2, 3)))[0])
        down = float(d_fn(jnp.asarray((x_hat[b].reshape(6) - step).reshape(1, 2, 3)))[0])
        grad[j] = (up - down) / (2 * h)
      assert gp[b] == pytest.approx((np.linalg.norm(grad) - 1.0) ** 2, rel=1e-6)


def test_r1_matches_a_hand_written_gradient():
  """d(x) = tanh(x W1) . w2  =>  grad_x d = W1 (w2 * (1 - tanh(x W1)^2))."""
  with jax.enable_x64(True):
    w1, w2, d_fn = _mlp_critic(2)
    x = jnp.asarray(np.random.default_rng(3).normal(size=(5, 6)))
    r1, logits = losses.r1_penalty(d_fn, x)
    xn, w1n, w2n = np.asarray(x), np.asarray(w1), np.asarray(w2)
    hidden = np.tanh(xn @ w1n)
    grad = (w2n * (1 - hidden ** 2)) @ w1n.T
    np.testing.assert_allclose(r1, np.sum(grad ** 2, axis=1), rtol=1e-10)
    np.testing.assert_allclose(logits, hidden @ w2n, rtol=1e-10)


def test_path_length_of_a_linear_synthesis_network():
  """For G(ws) = sum_l ws[:, l] A_l, d<G, y>/d ws[:, l] = A_l y: the lengths follow in closed form."""
  with jax.enable_x64(True):
    rng = np.random.default_rng(4)
    a = rng.normal(size=(3, 5, 16))        # 3 layers, W = 5, images 4x4x1
    synth = lambda ws: jnp.einsum('blw,lwp->bp', ws, a).reshape(-1, 4, 4, 1)
    ws = jnp.asarray(rng.normal(size=(2, 3, 5)))
    key = jax.random.key(5)
    got = np.asarray(losses.path_lengths(synth, ws, key))
    y = np.asarray(jax.random.normal(key, (2, 4, 4, 1), jnp.float64)).reshape(2, 16) / 4.0
    g = np.einsum('lwp,bp->blw', a, y)
    np.testing.assert_allclose(got, np.sqrt(np.mean(np.sum(g ** 2, axis=2), axis=1)), rtol=1e-10)


def test_translation_and_cutout_against_numpy():
  x = np.arange(2 * 8 * 8 * 1, dtype=np.float32).reshape(2, 8, 8, 1) + 1
  key = jax.random.key(0)
  out = np.asarray(augment.translation(jnp.asarray(x), key))
  k1, k2 = jax.random.split(key)
  ty = np.asarray(jax.random.randint(k1, (2,), -1, 2))
  tx = np.asarray(jax.random.randint(k2, (2,), -1, 2))
  for b in range(2):
    want = np.zeros((8, 8, 1), np.float32)
    for i in range(8):
      for j in range(8):
        if 0 <= i + ty[b] < 8 and 0 <= j + tx[b] < 8:
          want[i, j] = x[b, i + ty[b], j + tx[b]]
    np.testing.assert_array_equal(out[b], want)
  cut = np.asarray(augment.cutout(jnp.asarray(x), jax.random.key(1)))
  zeros = (cut == 0).reshape(2, -1).sum(1)
  assert all(0 < z <= 16 for z in zeros)        # one square of side 4 (clipped at the border)
  np.testing.assert_array_equal(cut[cut != 0], x[cut != 0])


def test_augment_probability_and_color_statistics():
  x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (64, 8, 8, 3)).astype(np.float32))
  np.testing.assert_array_equal(augment.augment(x, jax.random.key(0), 'color,translation,cutout', 0.0), x)
  y = np.asarray(augment.augment(x, jax.random.key(0), 'color', 1.0))
  assert not np.allclose(y, x)
  # brightness adds one U(-0.5, 0.5) offset per example; saturation (around each pixel's channel mean) and
  # contrast (around the image mean) keep the image mean, so it moves by exactly that offset
  shift = np.asarray(y.mean(axis=(1, 2, 3)) - np.asarray(x).mean(axis=(1, 2, 3)))
  assert np.abs(shift).max() <= 0.5 + 1e-5 and shift.std() > 0.1
  half = np.asarray(augment.augment(x, jax.random.key(1), 'translation', 0.5))
  changed = np.any(half != np.asarray(x), axis=(1, 2, 3)).mean()
  assert 0.25 < changed < 0.75            # about half (minus the zero shifts) are translated


def test_ada_moves_p_towards_the_target():
  p = jnp.asarray(0.5)
  # r_t = mean(sign(d(real))): 0.5 < 0.6, D is not overconfident: less augmentation (by 100 / 10,000)
  assert float(augment.ada_update(p, jnp.asarray([1.0, 2.0, 3.0, -1.0]), 0.6, 100, 10_000)) == pytest.approx(0.49)
  # r_t = 1 > 0.6, D is sure of every real image (overfitting): more augmentation
  assert float(augment.ada_update(p, jnp.asarray([1.0, 2.0, 3.0, 4.0]), 0.6, 100, 10_000)) == pytest.approx(0.51)
  assert float(augment.ada_update(jnp.asarray(0.0), -jnp.ones(4), 0.6, 100, 10)) == 0.0
