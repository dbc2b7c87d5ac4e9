"""The GAN layers (``gen_jax.nn.equalized``, ``gen_jax.nn.normalization``, ``gen_jax.nn.resample``) and
the StyleGAN / ProGAN mechanics against independent computations: equalized learning rate scales by
He's constant, demodulation gives unit-variance outputs, minibatch std and pixel norm against NumPy,
spectral normalisation against ``numpy.linalg.svd``, truncation with psi = 0 returns the mean w, and
ProGAN's fade-in at alpha = 0 / 1 is the old / new path."""
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gen_jax.families.gans import models, networks, progan, stylegan
from gen_jax.nn.equalized import (
  EqualizedConv,
  EqualizedDense,
  ModulatedConv,
  he_constant,
)
from gen_jax.nn.normalization import minibatch_stddev, pixel_norm
from gen_jax.nn.resample import downsample2x, resize_average, resize_nearest, upsample2x
from tests.families.gans import tiny


def test_equalized_dense_and_conv_scale_by_he_constant():
  x = jnp.asarray(np.random.default_rng(0).normal(size=(3, 7)), jnp.float32)
  layer = EqualizedDense(4, bias_init=0.5)
  v = layer.init(jax.random.key(0), x)
  w, b = np.asarray(v['params']['kernel']), np.asarray(v['params']['bias'])
  assert he_constant(7) == pytest.approx(math.sqrt(2) / math.sqrt(7))
  np.testing.assert_allclose(layer.apply(v, x), np.asarray(x) @ (w * math.sqrt(2 / 7)) + b, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(b, 0.5)
  # the stored weight is N(0, 1) (checked on a big layer), the runtime weight has He's std
  big = EqualizedDense(512).init(jax.random.key(1), jnp.zeros((1, 512)))['params']['kernel']
  assert float(jnp.std(big)) == pytest.approx(1.0, abs=0.01)
  # a learning-rate multiplier stores N(0, 1 / lr_mul) and multiplies by lr_mul at run time (same forward)
  slow = EqualizedDense(4, lr_mul=0.01, bias_init=0.5)
  vs = slow.init(jax.random.key(0), x)
  np.testing.assert_allclose(vs['params']['kernel'], w / 0.01, rtol=1e-6)
  np.testing.assert_allclose(slow.apply(vs, x), layer.apply(v, x), rtol=1e-5, atol=1e-6)
  conv = EqualizedConv(2, 3, gain=1.0)
  xi = jnp.asarray(np.random.default_rng(2).normal(size=(1, 5, 5, 3)), jnp.float32)
  vc = conv.init(jax.random.key(3), xi)
  kernel = np.asarray(vc['params']['kernel']) / math.sqrt(27)
  y = np.asarray(conv.apply(vc, xi))
  patch = np.asarray(xi)[0, 1:4, 1:4, :]          # the 3x3 neighbourhood of pixel (2, 2)
  np.testing.assert_allclose(y[0, 2, 2], np.einsum('hwi,hwio->o', patch, kernel), rtol=1e-5, atol=1e-6)


def test_demodulation_gives_unit_variance_outputs():
  """Karras et al. 2020, eq. 3: for unit-variance i.i.d. inputs each output has variance
  sum_{k, i} (w'_{k i o})^2 = 1 after demodulation, whatever the styles."""
  rng = np.random.default_rng(0)
  layer = ModulatedConv(6, 3)
  w_lat = jnp.asarray(rng.normal(size=(4, 5)) * 3.0, jnp.float32)     # styles far from 1
  x = jnp.asarray(rng.normal(size=(4, 64, 64, 5)), jnp.float32)
  v = layer.init(jax.random.key(0), x, w_lat)
  y = np.asarray(layer.apply(v, x, w_lat))[:, 1:-1, 1:-1, :]          # interior: no zero padding
  var = y.reshape(4, -1, 6).var(axis=1)
  np.testing.assert_allclose(var, 1.0, atol=0.08)
  # without demodulation the variance is the (style-scaled) kernel's squared norm, far from 1
  plain = ModulatedConv(6, 3, demodulate=False)
  y2 = np.asarray(plain.apply(v, x, w_lat))[:, 1:-1, 1:-1, :]
  styles = np.asarray(EqualizedDense(5, gain=1.0, bias_init=1.0).apply({'params': v['params']['affine']}, w_lat))
  kernel = np.asarray(v['params']['kernel']) / math.sqrt(45)
  want = np.einsum('hwio,bi->bo', kernel ** 2, styles ** 2)
  np.testing.assert_allclose(y2.reshape(4, -1, 6).var(axis=1), want, rtol=0.1)
  assert np.abs(want - 1).max() > 0.5


def _minibatch_std_numpy(x, group):
  n, h, w, c = x.shape
  m = n // group
  out = np.empty((n, h, w, c + 1), np.float64)
  out[..., :c] = x
  for j in range(m):
    members = [j + k * m for k in range(group)]     # strided groups, as in StyleGAN2
    std = np.sqrt(np.var(x[members], axis=0) + 1e-8)
    for k in members:
      out[k, ..., c] = std.mean()
  return out


def test_minibatch_std_matches_numpy():
  x = np.random.default_rng(0).normal(size=(8, 3, 3, 5)).astype(np.float32)
  np.testing.assert_allclose(minibatch_stddev(jnp.asarray(x), 4), _minibatch_std_numpy(x, 4), rtol=1e-5)
  np.testing.assert_allclose(minibatch_stddev(jnp.asarray(x), 8), _minibatch_std_numpy(x, 8), rtol=1e-5)
  feats = x[:, 0, 0, :]
  np.testing.assert_allclose(minibatch_stddev(jnp.asarray(feats), 2),
                             _minibatch_std_numpy(feats[:, None, None, :], 2)[:, 0, 0, :], rtol=1e-5)
  with pytest.raises(ValueError, match='divisible'):
    minibatch_stddev(jnp.asarray(x[:6]), 4)


def test_pixel_norm_and_resampling():
  x = np.random.default_rng(1).normal(size=(2, 4, 4, 6)).astype(np.float32)
  want = x / np.sqrt(np.mean(x ** 2, axis=-1, keepdims=True) + 1e-8)
  np.testing.assert_allclose(pixel_norm(jnp.asarray(x)), want, rtol=1e-5)
  up = np.asarray(upsample2x(jnp.asarray(x)))
  np.testing.assert_array_equal(up[:, 2 * 1 + 1, 2 * 3, :], x[:, 1, 3, :])
  np.testing.assert_allclose(downsample2x(jnp.asarray(up)), x, rtol=1e-6)
  np.testing.assert_allclose(np.asarray(downsample2x(jnp.asarray(x)))[:, 1, 0], x[:, 2:4, 0:2].mean(axis=(1, 2)), rtol=1e-6)
  np.testing.assert_allclose(resize_average(resize_nearest(jnp.asarray(x), 16), 4), x, rtol=1e-6)


def test_spectral_norm_matches_svd():
  """After enough power iterations the normalised kernel (reshaped to [k k C_in, C_out]) has largest
  singular value 1 and the tracked sigma is numpy's."""
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 6, 6, 3)), jnp.float32)
  layer = models.SpectralNormed(nn.Conv(5, (3, 3), use_bias=False), True)
  v = layer.init(jax.random.key(0), x)
  for _ in range(60):
    _, upd = layer.apply(v, x, True, mutable=['spectral'])
    v = {'params': v['params'], 'spectral': upd['spectral']}
  kernel = np.asarray(v['params']['layer']['kernel'])
  sigma = np.linalg.svd(kernel.reshape(-1, 5), compute_uv=False)[0]
  tracked = [np.asarray(s) for path, s in jax.tree_util.tree_leaves_with_path(v['spectral'])
             if 'sigma' in jax.tree_util.keystr(path)]
  assert tracked and float(tracked[0]) == pytest.approx(sigma, rel=1e-4)
  y = np.asarray(layer.apply(v, x, False))
  y_plain = np.asarray(nn.Conv(5, (3, 3), use_bias=False).apply({'params': {'kernel': kernel / sigma}}, x))
  np.testing.assert_allclose(y, y_plain, rtol=1e-4, atol=1e-5)
  off = models.SpectralNormed(nn.Dense(3), False)
  assert 'spectral' not in off.init(jax.random.key(0), jnp.ones((1, 2)))


def _init(nets):
  return jax.jit(lambda r: networks.init_networks(nets, r))(jax.random.key(0))


def test_truncation_psi_zero_gives_the_mean_w():
  nets = networks.get_networks(tiny.config('stylegan'))
  params = _init(nets)[0]
  w_avg = jnp.asarray(np.random.default_rng(0).normal(size=(8,)), jnp.float32)
  z = jax.random.normal(jax.random.key(1), (5, 4))

  @jax.jit
  def run(params, w_avg, z):
    ws, _ = networks._stylegan_ws(nets, params, z, None, jax.random.key(2), False, 0.0, w_avg)
    ws1, w = networks._stylegan_ws(nets, params, z, None, jax.random.key(2), False, 1.0, w_avg)
    # with the noise inputs off, every psi = 0 sample is the image of the mean w
    x0 = networks.synthesize(nets, params, ws, None, 'none')
    mean_image = networks.synthesize(nets, params, jnp.broadcast_to(w_avg, (1,) + ws.shape[1:]), None, 'none')
    return ws, ws1, w, x0, mean_image

  ws, ws1, w, x0, mean_image = run(params, w_avg, z)
  np.testing.assert_allclose(ws, np.broadcast_to(np.asarray(w_avg), ws.shape), rtol=1e-6)
  np.testing.assert_allclose(ws1[:, 3], w, rtol=1e-6)
  np.testing.assert_allclose(stylegan.truncate(ws1, w_avg, 0.5), 0.5 * (np.asarray(ws1) + np.asarray(w_avg)),
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(x0, np.broadcast_to(np.asarray(mean_image), x0.shape), rtol=1e-5, atol=1e-6)
  assert x0.shape == (5, 8, 8, 1) and float(jnp.std(x0)) > 0


def test_style_mixing_crosses_over_once():
  n_ws = 4
  w1 = jnp.zeros((1000, 3))
  w2 = jnp.ones((1000, 3))
  ws = np.asarray(stylegan.mix_styles(w1, w2, jax.random.key(0), 0.9, n_ws))[..., 0]   # [B, n_ws]
  mixed = ws.max(axis=1) > 0
  assert 0.85 < mixed.mean() < 0.95
  assert np.all(ws[:, 0] == 0) and np.all(np.diff(ws, axis=1) >= 0)   # w1 first, then w2 from the crossover on


def test_progan_stage_schedule():
  # 3 stages, stable 4, fade 2: stage 0 on [0, 4); stage 1 fades on [4, 6), stable on [6, 10); stage 2 from 10
  got = [tuple(float(v) for v in progan.stage_and_alpha(s, 3, 4, 2)) for s in range(14)]
  want = [(0, 1)] * 4 + [(1, 0), (1, 0.5)] + [(1, 1)] * 4 + [(2, 0), (2, 0.5)] + [(2, 1)] * 2
  assert got == [(float(a), float(b)) for a, b in want]
  assert progan.growth_end(3, 4, 2) == 12


def test_progan_fade_in_at_alpha_0_and_1_is_the_old_and_the_new_path():
  c = tiny.config('progan', **{'model.channels': (8, 6, 4), 'model.resolution': 16})
  nets = networks.get_networks(c)
  pg, pd, _, _ = _init(nets)
  g, d = nets.g, nets.d
  z = jax.random.normal(jax.random.key(1), (4, 4))
  one, zero, quarter = jnp.ones(()), jnp.zeros(()), jnp.asarray(0.25)
  x16 = jnp.asarray(np.random.default_rng(0).normal(size=(4, 16, 16, 1)), jnp.float32)

  @jax.jit
  def paths(pg, pd, z, x16):
    out = {}
    for stage in (1, 2):
      x_s = resize_average(x16, 4 * 2 ** stage)
      out[f'stage{stage}'] = dict(
          new=g.apply({'params': pg}, z, None, stage, one), old=g.apply({'params': pg}, z, None, stage - 1, one),
          at0=g.apply({'params': pg}, z, None, stage, zero), mid=g.apply({'params': pg}, z, None, stage, quarter),
          d_at0=d.apply({'params': pd}, x16, None, stage, zero),
          d_old=d.apply({'params': pd}, resize_nearest(downsample2x(x_s), 16), None, stage - 1, one),
          real0=progan.real_at_stage(x16, stage, zero), real1=progan.real_at_stage(x16, stage, one),
          coarse=resize_nearest(downsample2x(x_s), 16), own=resize_nearest(x_s, 16))
    # the traced-stage paths used by the step (every stage computed, one kept) against each stage's own network
    a = jnp.asarray(0.3)
    for stage in range(3):
      out[f'g_grow{stage}'] = progan.growing_generator(g, 16)({'params': pg}, z, None, jnp.asarray(stage), a)
      out[f'g_static{stage}'] = resize_nearest(g.apply({'params': pg}, z, None, stage, a), 16)
      out[f'd_grow{stage}'], _ = progan.growing_discriminator(d, False)({'params': pd}, x16, None, jnp.asarray(stage), a,
                                                                         False)
      out[f'd_static{stage}'] = d.apply({'params': pd}, x16, None, stage, a)
      out[f'real_grow{stage}'] = progan.real_at_dynamic_stage(x16, jnp.asarray(stage), a, 3)
      out[f'real_static{stage}'] = progan.real_at_stage(x16, stage, a)
    return out

  out = paths(pg, pd, z, x16)
  tol = dict(rtol=1e-5, atol=1e-5)
  for stage in (1, 2):
    o = out[f'stage{stage}']
    # the generator: alpha = 0 is the previous stage's output upsampled, alpha = 1 the new block's
    np.testing.assert_allclose(o['at0'], upsample2x(o['old']), **tol)
    assert o['new'].shape[1] == 4 * 2 ** stage and not np.allclose(o['new'], upsample2x(o['old']), **tol)
    np.testing.assert_allclose(o['mid'], 0.75 * upsample2x(o['old']) + 0.25 * o['new'], **tol)
    # the discriminator: alpha = 0 reads the 2x downsampled image through the previous stage's path
    np.testing.assert_allclose(o['d_at0'], o['d_old'], **tol)
    # the real images fade the same way: alpha = 0 is the coarser image, alpha = 1 the stage's own
    np.testing.assert_allclose(o['real0'], o['coarse'], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(o['real1'], o['own'], rtol=1e-6, atol=1e-7)
  for stage in range(3):
    np.testing.assert_allclose(out[f'g_grow{stage}'], out[f'g_static{stage}'], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(out[f'd_grow{stage}'], out[f'd_static{stage}'], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[f'real_grow{stage}'], out[f'real_static{stage}'], rtol=1e-6, atol=1e-7)


def test_canvas_pads_with_the_background_and_crops_back():
  c = tiny.config('stylegan', **{'model.resolution': 32, 'model.channels': (4, 4, 4, 4), 'model.data_shape': (28, 28, 1)})
  nets = networks.get_networks(c)
  x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (2, 28, 28, 1)), jnp.float32)
  canvas = np.asarray(networks.to_canvas(x, nets))
  assert canvas.shape == (2, 32, 32, 1)
  np.testing.assert_array_equal(canvas[:, 2:30, 2:30], x)
  assert (canvas[:, :2] == -1).all() and (canvas[:, :, 30:] == -1).all()
  np.testing.assert_array_equal(networks.from_canvas(jnp.asarray(canvas), nets), x)
