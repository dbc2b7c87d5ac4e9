"""Whole flows against independent computations: the multi-scale architectures' log-det equals the
brute-force Jacobian's; a flow whose parameters make it the identity gives the exact Gaussian (or logistic)
NLL; the NaN diagnostics name every bijector of the forward pass."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from gen_jax.families import flows
from gen_jax.families.flows import losses, models
from tests.families.flows import tiny


def test_multiscale_glow_log_det_equals_the_brute_force_jacobian():
  """A whole multi-scale Glow (logit pre-transform, squeezes, couplings, ActNorm, 1x1 convs, splits with their
  priors; one step per level) on 4x4 images: log|det d eps / dx| against slogdet of the 16 x 16 Jacobian,
  and the round trip."""
  c = tiny.config('glow', (4, 4, 1), depth=1, scale_fn='tanh', preprocess='logit')
  flow = models.get_model(c)
  x = tiny.batch((4, 4, 1), n=3)['image']

  @jax.jit
  def run(x):
    v = flow.init(jax.random.key(0), x)
    leaves, tree = jax.tree.flatten(v)  # away from the zero-initialised (identity-like) parameters
    keys = jax.random.split(jax.random.key(1), len(leaves))
    v = jax.tree.unflatten(tree, [p + 0.1 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)])
    eps, ld, finite = flow.apply(v, x)
    back, ld_inv, _ = flow.apply(v, eps, reverse=True)
    jac = jax.vmap(jax.jacfwd(lambda xi: flow.apply(v, xi[None])[0][0]))(x)
    return eps, ld, back, ld_inv, jnp.linalg.slogdet(jac.reshape(3, 16, 16))[1], finite

  eps, ld, back, ld_inv, logabs, finite = run(x)
  assert eps.shape == (3, 16) and bool(np.all(finite))
  np.testing.assert_allclose(ld, logabs, rtol=1e-5, atol=5e-4)
  np.testing.assert_allclose(ld_inv, -ld, rtol=1e-5, atol=5e-4)
  np.testing.assert_allclose(back, x, atol=5e-5)  # float32, through ~20 layers


def _zeros(tree):
  return jax.tree.map(jnp.zeros_like, tree)


def test_identity_flows_give_the_exact_gaussian_and_logistic_nll():
  """With every parameter 0 (ActNorm and LU 1x1 convolutions become identities, couplings with an
  unbounded scale add 0), Glow maps images to their shifted pixels (in squeezed, factored-out order) and
  NICE maps points to themselves: the NLL is the prior's, from scipy."""
  img = tiny.batch((4, 4, 1), n=3)['image']
  pts = jax.random.normal(jax.random.key(2), (5, 2))
  glow = tiny.config('glow', (4, 4, 1), scale_fn='exp', preprocess='shift')
  nice = tiny.config('nice', (2,))

  @jax.jit
  def run(img, pts):
    out = {}
    for key, c, x in (('glow', glow, img), ('nice', nice, pts)):
      params = _zeros(models.get_model(c).init(jax.random.key(0), x)['params'])
      out[key] = losses.flow_nll(params, x, c)
    return out

  out = run(img, pts)
  nll, aux = out['glow']
  np.testing.assert_allclose(np.sort(aux['eps'], axis=1), np.sort((img - 0.5).reshape(3, -1), axis=1), atol=1e-6)
  np.testing.assert_allclose(nll, -stats.norm.logpdf(np.asarray(img, np.float64) - 0.5).sum((1, 2, 3)), rtol=1e-5)
  nll, _ = out['nice']
  np.testing.assert_allclose(nll, -stats.logistic.logpdf(np.asarray(pts, np.float64)).sum(1), rtol=1e-5)


@pytest.mark.parametrize('name,shape', [('glow', (8, 8, 1)), ('realnvp', (8, 8, 1)), ('nice', (8, 8, 1)),
                                        ('spline', (2,)), ('realnvp', (2,))])
def test_layer_labels_name_every_finiteness_flag(name, shape):
  c = tiny.config(name, shape)
  x = tiny.batch(shape)['image' if len(shape) == 3 else 'x']
  flow = models.get_model(c)
  _, _, finite = jax.eval_shape(lambda x: flow.apply(flow.init(jax.random.key(0), x), x), x)
  labels = flows.layer_labels(flow)
  assert finite.shape == (len(labels),) and len(set(labels)) == len(labels)
  assert labels[0].startswith('pre-transform')


def test_first_nonfinite():
  assert float(losses.first_nonfinite(jnp.array([True, True, True]))) == -1
  assert float(losses.first_nonfinite(jnp.array([True, False, False]))) == 1
