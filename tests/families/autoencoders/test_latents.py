"""Latent distributions: KLs against Monte Carlo / quadrature, reparameterized samples against their moments."""
import math

import jax
import jax.numpy as jnp
import numpy as np
from scipy import integrate, stats

from gen_jax.families.autoencoders import latents


def _mc_check(kl, diff):
  """Closed-form ``kl`` [B] within 5 standard errors of the Monte Carlo mean of ``diff`` [N, B]."""
  mc, se = diff.mean(0), diff.std(0) / math.sqrt(diff.shape[0])
  assert np.all(np.abs(np.asarray(kl) - mc) < 5 * se + 1e-3), (kl, mc, se)


def test_laplace_kl_closed_form_matches_monte_carlo():
  rng = np.random.default_rng(0)
  loc = rng.normal(size=(3, 4))
  log_scale = rng.normal(scale=0.5, size=(3, 4))
  z = stats.laplace.rvs(loc, np.exp(log_scale), size=(400_000, 3, 4), random_state=rng)
  diff = (stats.laplace.logpdf(z, loc, np.exp(log_scale)) - stats.laplace.logpdf(z)).sum(-1)
  _mc_check(latents.kl_laplace(jnp.asarray(loc), jnp.asarray(log_scale)), diff)
  # And against a non-standard Laplace prior.
  p_loc, p_ls = 0.7, -0.3
  diff2 = (stats.laplace.logpdf(z, loc, np.exp(log_scale)) - stats.laplace.logpdf(z, p_loc, np.exp(p_ls))).sum(-1)
  _mc_check(latents.kl_laplace(jnp.asarray(loc), jnp.asarray(log_scale), p_loc, p_ls), diff2)


def test_laplace_log_prob_and_reparameterized_moments():
  z = np.linspace(-3, 3, 7).reshape(7, 1)
  np.testing.assert_allclose(latents.laplace_log_prob(jnp.asarray(z), 0.5, math.log(2.0)),
                             stats.laplace.logpdf(z[:, 0], 0.5, 2.0), rtol=1e-5)
  loc, log_scale = jnp.array([[1.0, -2.0]]), jnp.log(jnp.array([[0.5, 2.0]]))
  s = np.asarray(jax.vmap(lambda k: latents.laplace_sample(k, loc, log_scale))(
      jax.random.split(jax.random.key(0), 200_000)))[:, 0]
  np.testing.assert_allclose(s.mean(0), [1.0, -2.0], atol=0.03)
  np.testing.assert_allclose(s.var(0), 2 * np.array([0.5, 2.0]) ** 2, rtol=0.03)  # Var = 2 b^2
  # The sample is differentiable in the parameters (reparameterization): d mean(z) / d loc = 1.
  g = jax.grad(lambda m: jnp.mean(latents.laplace_sample(jax.random.key(1), m, log_scale)))(loc)
  np.testing.assert_allclose(g, 0.5 * np.ones((1, 2)), rtol=1e-6)


def _mog(rng, m, d):
  return (jnp.asarray(rng.normal(size=(m, d)) * 1.5), jnp.asarray(rng.normal(scale=0.3, size=(m, d))),
          jnp.asarray(rng.normal(size=(m,))))


def test_mog_log_prob_matches_scipy_mixture():
  rng = np.random.default_rng(2)
  means, logvars, logits = _mog(rng, 4, 3)
  z = rng.normal(size=(5, 3))
  w = np.exp(logits) / np.exp(logits).sum()
  want = np.log(sum(w[m] * stats.multivariate_normal.pdf(z, means[m], np.diag(np.exp(logvars[m])))
                    for m in range(4)))
  np.testing.assert_allclose(latents.mog_log_prob(jnp.asarray(z), means, logvars, logits), want, rtol=1e-5)


def test_mog_prior_monte_carlo_kl_matches_quadrature():
  """KL(N(mu, s^2) || MoG) has no closed form: the one-sample estimator averaged over many samples
  matches numerical integration (scipy.integrate.quad) of q log(q / p) in 1-D."""
  rng = np.random.default_rng(3)
  means, logvars, logits = _mog(rng, 3, 1)
  prior = {'means': means, 'logvars': logvars, 'logits': logits}
  mu, logvar = 0.4, math.log(0.6)
  q = (jnp.full((1, 1), mu), jnp.full((1, 1), logvar))
  w = np.exp(logits) / np.exp(logits).sum()

  def integrand(z):
    lq = stats.norm.logpdf(z, mu, math.sqrt(0.6))
    lp = np.log(sum(w[m] * stats.norm.pdf(z, float(means[m, 0]), math.exp(0.5 * float(logvars[m, 0])))
                    for m in range(3)))
    return math.exp(lq) * (lq - lp)

  want, _ = integrate.quad(integrand, -12, 12, limit=200)
  keys = jax.random.split(jax.random.key(0), 200_000)
  z = jax.vmap(lambda k: latents.posterior_sample(k, 'gaussian', q))(keys)
  est = np.asarray(jax.vmap(lambda zz: latents.kl_divergence('gaussian', 'mog', q, prior, zz))(z))[:, 0]
  assert abs(est.mean() - want) < 5 * est.std() / math.sqrt(est.size) + 1e-3, (est.mean(), want)


def test_mog_with_identical_standard_components_is_the_gaussian_kl():
  mean = jnp.array([[0.3, -1.0]])
  logvar = jnp.array([[-0.5, 0.2]])
  prior = {'means': jnp.zeros((5, 2)), 'logvars': jnp.zeros((5, 2)), 'logits': jnp.arange(5.0)}
  z = latents.reparameterize(jax.random.key(0), mean, logvar)
  mc = latents.kl_divergence('gaussian', 'mog', (mean, logvar), prior, z)
  np.testing.assert_allclose(mc, latents.kl_divergence('gaussian', 'gaussian', (mean, logvar), {}, z, 'mc'),
                             rtol=1e-5)
  draws = latents.mog_sample(jax.random.key(1), 100_000, *prior.values())
  np.testing.assert_allclose(np.asarray(draws).mean(0), 0.0, atol=0.02)
  np.testing.assert_allclose(np.asarray(draws).var(0), 1.0, rtol=0.02)


def test_categorical_kl_closed_form_matches_monte_carlo():
  rng = np.random.default_rng(4)
  logits = jnp.asarray(rng.normal(size=(3, 2, 5)) * 1.5)
  keys = jax.random.split(jax.random.key(0), 200_000)
  z = jax.vmap(lambda k: latents.categorical_sample(k, logits))(keys)  # exact one-hot samples
  diff = np.asarray(jax.vmap(lambda zz: latents.kl_divergence('categorical', 'uniform', (logits,), {}, zz, 'mc'))(z))
  _mc_check(latents.kl_categorical_uniform(logits), diff)
  # Against scipy's entropy: KL(q || U) = log K - H(q).
  q = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
  np.testing.assert_allclose(latents.kl_categorical_uniform(logits),
                             (math.log(5) - stats.entropy(q, axis=-1)).sum(-1), rtol=1e-5)


def test_gumbel_max_and_gumbel_softmax_samples():
  logits = jnp.log(jnp.array([[[0.1, 0.2, 0.7]]]))
  keys = jax.random.split(jax.random.key(0), 100_000)
  onehot = np.asarray(jax.vmap(lambda k: latents.categorical_sample(k, logits))(keys))
  np.testing.assert_allclose(onehot.mean(0)[0, 0], [0.1, 0.2, 0.7], atol=0.01)  # Gumbel-max is exact
  soft = np.asarray(jax.vmap(lambda k: latents.gumbel_softmax_sample(k, logits, 1.0))(keys[:2000]))
  np.testing.assert_allclose(soft.sum(-1), 1.0, rtol=1e-5)
  assert soft.min() > 0 and soft.max(-1).mean() < 0.95  # relaxed: not one-hot at tau = 1
  cold = np.asarray(jax.vmap(lambda k: latents.gumbel_softmax_sample(k, logits, 0.01))(keys[:2000]))
  same = jax.vmap(lambda k: latents.categorical_sample(k, logits))(keys[:2000])
  # tau -> 0: the relaxed sample tends to the Gumbel-max one-hot of the same noise.
  np.testing.assert_array_equal(cold.argmax(-1), np.asarray(same).argmax(-1))
  assert (cold.max(-1) > 0.99).mean() > 0.9
  # Straight-through: one-hot forward, nonzero gradient to the logits.
  hard = latents.gumbel_softmax_sample(keys[0], logits, 1.0, hard=True)
  assert set(np.unique(np.asarray(hard))) <= {0.0, 1.0}
  g = jax.grad(lambda lg: jnp.sum(latents.gumbel_softmax_sample(keys[0], lg, 1.0, True) * jnp.arange(3.0)))(logits)
  assert np.abs(np.asarray(g)).sum() > 0


def test_prior_samples_and_log_probs_agree():
  """The prior's samples have the moments of the prior whose log-density is used in the ELBO."""
  z = np.asarray(latents.prior_sample(jax.random.key(0), 100_000, 'laplace', {}, 2))
  np.testing.assert_allclose(z.var(0), 2.0, rtol=0.03)
  np.testing.assert_allclose(latents.prior_log_prob(jnp.asarray(z[:5]), 'laplace', {}),
                             stats.laplace.logpdf(z[:5]).sum(-1), rtol=1e-5)
  np.testing.assert_allclose(latents.prior_log_prob(jnp.asarray(z[:5]), 'gaussian', {}),
                             stats.norm.logpdf(z[:5]).sum(-1), rtol=1e-5)
  u = latents.prior_sample(jax.random.key(1), 4, 'uniform', {}, 3, 6)
  assert u.shape == (4, 3, 6)
  np.testing.assert_allclose(latents.prior_log_prob(u, 'uniform', {}), -3 * math.log(6), rtol=1e-6)
