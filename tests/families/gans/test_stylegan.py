"""StyleGAN's upsampling against independent computations: ``upsample2x_linear`` against NumPy's
linear interpolation, and the skip generator's RGB path, which must add the low resolutions' images
upsampled bilinearly (StyleGAN2's low-pass filter), not as blocks of copied pixels."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gen_jax.core.errors import ConfigError
from gen_jax.families import gans
from gen_jax.families.gans import stylegan
from gen_jax.nn.resample import upsample2x_linear
from tests.families.gans import tiny


def bilinear_numpy(x: np.ndarray) -> np.ndarray:
  """[B, H, W, C] -> [B, 2H, 2W, C] with np.interp: output pixel o sits at input coordinate
  (o + 0.5) / 2 - 0.5 (half-pixel centres), clamped to the edge pixels."""
  def along(a: np.ndarray, axis: int) -> np.ndarray:
    n = a.shape[axis]
    coords = (np.arange(2 * n) + 0.5) / 2 - 0.5
    moved = np.moveaxis(a, axis, -1)
    out = np.apply_along_axis(lambda v: np.interp(coords, np.arange(n), v), -1, moved)
    return np.moveaxis(out, -1, axis)
  return along(along(x, 1), 2)


def test_upsample2x_linear_matches_numpy_interpolation():
  x = np.random.default_rng(0).normal(size=(2, 4, 4, 3)).astype(np.float32)
  np.testing.assert_allclose(upsample2x_linear(jnp.asarray(x)), bilinear_numpy(x), rtol=1e-5, atol=1e-6)
  const = np.full((1, 4, 4, 1), 0.7, np.float32)             # a constant image stays constant (no edge darkening)
  np.testing.assert_allclose(upsample2x_linear(jnp.asarray(const)), np.full((1, 8, 8, 1), 0.7), rtol=1e-6)


@pytest.mark.parametrize('mode', ['linear', 'nearest'])
def test_skip_generator_adds_the_low_resolution_rgb_upsampled(mode):
  """With the 8x8 RGB layer silenced, the 4 -> 8 generator's image is its 4x4 image upsampled."""
  w_dim, b = 6, 3
  net8 = stylegan.SynthesisNetwork((4, 4), 1, mode)
  net4 = stylegan.SynthesisNetwork((4,), 1, mode)
  ws = jax.random.normal(jax.random.key(1), (b, stylegan.num_ws((4, 4)), w_dim))
  params = net8.init(jax.random.key(0), ws, None, 'none')['params']
  rgb8 = params['b8_torgb']
  params = {**params, 'b8_torgb': {**rgb8, 'bias': jnp.zeros_like(rgb8['bias']),
                                   'conv': {**rgb8['conv'], 'kernel': jnp.zeros_like(rgb8['conv']['kernel'])}}}
  low = np.asarray(net4.apply({'params': {k: params[k] for k in ('const', 'b4_conv0', 'b4_torgb')}},
                              ws[:, :2], None, 'none'))
  out = np.asarray(net8.apply({'params': params}, ws, None, 'none'))
  want = bilinear_numpy(low) if mode == 'linear' else low.repeat(2, axis=1).repeat(2, axis=2)
  np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
  assert np.abs(low).max() > 0.1


def test_default_generator_upsampling_is_linear_and_bad_modes_are_refused():
  assert stylegan.StyleGenerator((4, 4)).upsample_mode == 'linear'
  assert gans.networks.get_networks(tiny.config('stylegan')).g.upsample_mode == 'linear'
  with pytest.raises(ValueError, match='allowed: linear, nearest'):
    stylegan.upsampler('bicubic')
  with pytest.raises(ConfigError, match=r"config.model.upsample='transpose' is not allowed; allowed: linear, nearest"):
    gans.validate_config(tiny.config('stylegan', **{'model.upsample': 'transpose'}), tiny.Info())
