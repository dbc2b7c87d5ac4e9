"""Every bijector against independent computations: its log-det equals ``slogdet(jax.jacfwd(...))`` of the
map it applies, its inverse undoes it to float32 precision and returns the negative log-det; plus the
closed forms of ActNorm's data-dependent initialisation, the LU 1x1 convolution and the splines."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gen_jax.families.flows import bijectors as bj
from gen_jax.families.flows import splines


def _perturbed(variables, seed=3, scale=0.3):
  """Parameters moved away from their (often identity-like, zero-initialised) initial values."""
  leaves, tree = jax.tree.flatten(variables)
  keys = jax.random.split(jax.random.key(seed), len(leaves))
  return jax.tree.unflatten(tree, [p + scale * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)])


def _brute_force(layer, x, scale=0.3, **call):
  """(y, log-det, inverse of y, the inverse's log-det, slogdet of the Jacobian) of one bijector with
  perturbed parameters on a batch ``x`` (traceable)."""
  v = _perturbed(layer.init(jax.random.key(0), x, **call), scale=scale)
  y, ld = layer.apply(v, x, **call)
  back, ld_inv = layer.apply(v, y, reverse=True, **call)
  one = lambda xi, ci: layer.apply(v, xi[None], **{k: c[None] for k, c in ci.items()})[0][0]  # noqa: E731
  jac = jax.vmap(jax.jacfwd(one))(x, call)  # per example (with its own conditioning input)
  d = int(np.prod(x.shape[1:]))
  return y, ld, back, ld_inv, jnp.linalg.slogdet(jac.reshape(x.shape[0], d, d))


def _assert_bijector(name, x, y, ld, back, ld_inv, sld, atol_ld=2e-4):
  sign, logabs = sld
  assert ld.shape == (x.shape[0],) and np.isfinite(np.asarray(ld)).all(), name
  assert np.all(np.asarray(sign) != 0), name
  np.testing.assert_allclose(ld, logabs, atol=atol_ld, rtol=1e-5, err_msg=f'{name}: log-det vs slogdet(jacfwd)')
  np.testing.assert_allclose(back, x, atol=2e-5, rtol=1e-5, err_msg=f'{name}: inverse(forward(x))')
  np.testing.assert_allclose(ld_inv, -ld, atol=atol_ld, rtol=1e-5, err_msg=f'{name}: inverse log-det')


def _images(shape=(3, 4, 4, 2), seed=0):
  return jax.random.normal(jax.random.key(seed), shape)


def _unit(shape, low=0.0, high=1.0):
  return jax.random.uniform(jax.random.key(1), shape, minval=low, maxval=high)


SIMPLE = {  # name: (bijector, input, call kwargs); checked in one compiled function
    'logit [0, 1]': (bj.Preprocess('logit', 0.05, 0.0, 1.0), _unit((3, 2, 2, 2)), {}),
    'shift [0, 256]': (bj.Preprocess('shift', 0.05, 0.0, 256.0), _unit((3, 2, 2, 2), 0.0, 256.0), {}),
    'actnorm': (bj.ActNorm(), _images(), {}),
    'plain 1x1 conv': (bj.InvConv1x1(lu=False), _images(), {}),
    'LU 1x1 conv': (bj.InvConv1x1(lu=True), _images(), {}),
    'squeeze': (bj.Squeeze(), _images(), {}),
    'NICE scaling': (bj.Scaling(), _images((3, 6)), {}),
    'learned top prior': (bj.LearnedPrior(), _images(), {}),
    'learned split prior': (bj.SplitPrior(learned=True), _images((3, 2, 2, 2), 1), {'cond': _images((3, 2, 2, 2), 2)}),
    'standard split prior': (bj.SplitPrior(learned=False), _images((3, 2, 2, 2), 1),
                             {'cond': _images((3, 2, 2, 2), 2)}),
}


def test_log_det_and_inverse_of_the_non_coupling_bijectors():
  out = jax.jit(lambda: {k: _brute_force(layer, x, **call) for k, (layer, x, call) in SIMPLE.items()})()
  for name, (_, x, _) in SIMPLE.items():
    _assert_bijector(name, x, *out[name])


@pytest.mark.parametrize('layer,x,scale', [
    (bj.Coupling('additive', 'interleave', 1, hidden=8), _images((3, 5)), 0.3),
    (bj.Coupling('affine', 'half', 0, hidden=8, scale_fn='exp'), _images((3, 5)), 0.3),
    (bj.Coupling('affine', 'channel', 1, hidden=8, scale_fn='sigmoid'), _images(), 0.3),
    (bj.Coupling('affine', 'checkerboard', 1, hidden=8, scale_fn='tanh'), _images(), 0.3),
    # smaller parameters: steep random splines amplify float32 rounding in the inverse (x error = y error / slope)
    (bj.Coupling('spline', 'channel', 0, hidden=8, bins=5, bound=2.0), 2 * _images(), 0.1),
], ids=['additive_interleave', 'affine_half_exp', 'affine_channel_sigmoid', 'affine_checkerboard_tanh',
        'spline_channel'])
def test_log_det_and_inverse_of_couplings(layer, x, scale):
  _assert_bijector(str(layer.kind), x, *jax.jit(lambda x: _brute_force(layer, x, scale))(x))


def test_squeeze_is_the_space_to_depth_permutation():
  x = jnp.arange(2 * 4 * 4 * 3, dtype=jnp.float32).reshape(2, 4, 4, 3)
  y, ld = bj.Squeeze().apply({}, x)
  assert y.shape == (2, 2, 2, 12) and not np.any(ld)
  np.testing.assert_array_equal(np.sort(np.asarray(y).ravel()), np.asarray(x).ravel())
  np.testing.assert_array_equal(y[0, 0, 1, :3], x[0, 0, 2, :])  # block (0, 1) starts at pixel (0, 2)


def test_actnorm_data_dependent_init_normalises_the_first_batch():
  x = 3.0 + 2.5 * jax.random.normal(jax.random.key(0), (16, 5, 5, 4)) * jnp.arange(1, 5)

  @jax.jit
  def run(x):
    return [layer.apply(layer.init(jax.random.key(0), x), x)[0] for layer in (bj.ActNorm(1.0), bj.ActNorm(0.5))]

  y, y2 = run(x)
  np.testing.assert_allclose(np.mean(y, axis=(0, 1, 2)), 0.0, atol=1e-5)
  np.testing.assert_allclose(np.std(y, axis=(0, 1, 2)), 1.0, rtol=1e-4)
  np.testing.assert_allclose(np.std(y2, axis=(0, 1, 2)), 0.5, rtol=1e-4)


def test_lu_conv_log_det_is_slogdet_of_its_weight_and_starts_orthogonal():
  x = _images((2, 3, 3, 6))
  layer = bj.InvConv1x1(lu=True)

  @jax.jit
  def run(x):
    v0 = layer.init(jax.random.key(4), x)
    v = _perturbed(v0, scale=0.5)
    return bj.conv_weight(v0['params'], lu=True)[0], bj.conv_weight(v['params'], lu=True), layer.apply(v, x)

  w0, (w, logdet), (y, ld) = run(x)
  np.testing.assert_allclose(w0 @ w0.T, np.eye(6), atol=1e-5)  # a rotation at initialisation (Glow)
  np.testing.assert_allclose(logdet, np.linalg.slogdet(np.asarray(w, np.float64))[1], atol=1e-5)
  np.testing.assert_allclose(ld, 9 * logdet, rtol=1e-6)  # H * W positions share W
  np.testing.assert_allclose(y, np.einsum('bhwi,ij->bhwj', x, w), atol=1e-5)


def test_logit_pre_transform_against_its_formula():
  u = jnp.array([[0.1, 0.5, 0.9]])
  y, ld = jax.jit(lambda u: bj.Preprocess('logit', 0.05).apply({}, u))(u)
  p = 0.05 + 0.9 * np.asarray(u, np.float64)
  np.testing.assert_allclose(y, np.log(p / (1 - p)), rtol=1e-6)
  np.testing.assert_allclose(ld, np.sum(np.log(0.9 / (p * (1 - p)))), rtol=1e-6)


# ------------------------------------------------------------------------------------------ splines


def _spline_case(seed=0, k=5, n=400, bound=2.0):
  params = 1.5 * jax.random.normal(jax.random.key(seed), (n, splines.num_params(k)))
  x = jnp.linspace(-2.5 * bound / 2, 2.5 * bound / 2, n)
  return x, params, bound


def test_spline_is_monotone_c1_identity_outside_and_inverts():
  x, params, bound = _spline_case()
  p = params[:1].repeat(len(x), 0)  # one spline on a dense grid

  @jax.jit
  def run(x, p):
    y, ld = splines.rational_quadratic_spline(x, p, bound)
    _, ld_edge = splines.rational_quadratic_spline(jnp.array([-bound, bound - 1e-6]), p[:2], bound)
    back, ld_inv = splines.rational_quadratic_spline(y, p, bound, inverse=True)
    grad = jax.vmap(jax.grad(lambda xi, pi: splines.rational_quadratic_spline(xi, pi, bound)[0]))(x, p)
    return y, ld, ld_edge, back, ld_inv, grad

  y, ld, ld_edge, back, ld_inv, grad = (np.asarray(a) for a in run(x, p))
  x = np.asarray(x)
  assert np.all(np.diff(y) > 0)
  outside = np.abs(x) > bound
  np.testing.assert_array_equal(y[outside], x[outside])
  np.testing.assert_array_equal(ld[outside], 0.0)
  np.testing.assert_allclose(ld_edge, 0.0, atol=1e-4)  # slope 1 where the linear tails meet the spline
  # float32 precision: a rounding of y (a few ulps) moves x by that over the slope (down to ~0.01 here)
  ulps = 4 * np.finfo(np.float32).eps * (1 + np.abs(y)) / np.exp(ld)
  assert np.all(np.abs(back - x) <= 1e-6 + ulps)
  np.testing.assert_allclose(ld_inv, -ld, atol=1e-4, rtol=1e-4)
  np.testing.assert_allclose(ld, np.log(grad), atol=1e-4)  # the log-derivative of the map (autodiff of y(x))


def test_spline_passes_through_its_knots_with_their_derivatives():
  k, bound = 4, 3.0
  params = jax.random.normal(jax.random.key(1), (splines.num_params(k),))

  @jax.jit
  def run(params):
    _, xk, _, yk, derivs = splines.spline_params(params, bound)
    y, ld = splines.rational_quadratic_spline(xk[:-1], jnp.broadcast_to(params, (k, params.size)), bound)
    return xk, yk, derivs, y, ld

  xk, yk, derivs, y, ld = run(params)
  np.testing.assert_allclose(y, yk[:-1], atol=1e-5)
  np.testing.assert_allclose(np.exp(ld), derivs[:-1], rtol=1e-4)
  np.testing.assert_allclose([xk[0], xk[-1], yk[0], yk[-1]], [-bound, bound, -bound, bound])


def test_spline_with_equal_bins_and_unit_derivatives_is_the_identity():
  k = 6
  d_unit = math.log(math.expm1(1.0 - splines.MIN_DERIVATIVE))  # softplus^-1 (1 - min_derivative)
  params = jnp.concatenate([jnp.zeros(2 * k), jnp.full((k - 1,), d_unit)])
  x = jnp.linspace(-2.9, 2.9, 50)
  y, ld = jax.jit(splines.rational_quadratic_spline, static_argnums=2)(x, jnp.broadcast_to(params, (50, params.size)),
                                                                       3.0)
  np.testing.assert_allclose(y, x, atol=1e-5)
  np.testing.assert_allclose(ld, 0.0, atol=1e-5)


# ------------------------------------------------------------------------ variational dequantization


def test_variational_dequantizer_density_is_the_change_of_variables_of_its_noise():
  """log q(u | x) = log N(eps) - log |det du / d eps| (brute-force Jacobian of eps -> u at fixed pixels), and
  u lies in (0, 1)."""
  from gen_jax.families.flows.dequantization import VariationalDequantizer
  deq = VariationalDequantizer(depth=2, hidden=4)
  pixels = jnp.floor(255 * _unit((3, 2, 2, 1)))
  eps = _images((3, 2, 2, 1), 5)

  @jax.jit
  def run(pixels, eps):
    v = _perturbed(deq.init(jax.random.key(0), pixels, eps), scale=0.3)
    u, log_q = deq.apply(v, pixels, eps)
    jac = jax.vmap(jax.jacfwd(lambda e, p: deq.apply(v, p[None], e[None])[0][0]))(eps, pixels)
    return u, log_q, jnp.linalg.slogdet(jac.reshape(3, 4, 4))[1]

  u, log_q, logabs = run(pixels, eps)
  assert np.all((np.asarray(u) > 0) & (np.asarray(u) < 1))
  log_n = -0.5 * np.sum(np.asarray(eps, np.float64) ** 2 + np.log(2 * np.pi), axis=(1, 2, 3))
  np.testing.assert_allclose(log_q, log_n - logabs, atol=2e-4, rtol=1e-5)


def test_pixels_of_recovers_the_pipelines_pixels():
  from gen_jax.data.preprocess import Preprocessing, preprocess_images
  from gen_jax.families.flows.dequantization import pixels_of
  pixels = np.random.default_rng(0).integers(0, 256, (50, 4, 4, 1)).astype(np.uint8)
  pixels[0] = 255
  for scale, (lo, hi) in (('01', (0.0, 1.0)), ('-11', (-1.0, 1.0)), ('none', (0.0, 256.0))):
    y = preprocess_images(pixels, np.arange(50), (7,), Preprocessing('image', scale, 'none', 'uniform'))
    np.testing.assert_array_equal(pixels_of(jnp.asarray(y), lo, hi), pixels.astype(np.float32))
