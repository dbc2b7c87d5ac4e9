"""Preprocessing: scaling, binarization, dequantization, and option validation."""
import ml_collections
import numpy as np
import pytest

from gen_jax.data import DatasetError
from gen_jax.data.preprocess import parse_preprocessing, preprocess_images

PIXELS = np.tile(np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1), (64, 1, 1, 1))  # [64,16,16,1]
ROWS = np.arange(1000, 1064)
KEY = (7, 3)


def pp(kind='image', **fields):
  return parse_preprocessing(ml_collections.ConfigDict(fields), kind)


@pytest.mark.parametrize('scale,lo,hi', [('01', 0.0, 1.0), ('-11', -1.0, 1.0), ('none', 0.0, 255.0)])
def test_scale_ranges(scale, lo, hi):
  x = preprocess_images(PIXELS, ROWS, KEY, pp(scale=scale))
  assert x.dtype == np.float32 and x.shape == PIXELS.shape
  assert x.min() == lo and x.max() == hi
  np.testing.assert_allclose(x, lo + (hi - lo) * PIXELS / 255.0, rtol=1e-6, atol=1e-6)


def test_threshold_binarization():
  x = preprocess_images(PIXELS, ROWS, KEY, pp(binarize='threshold'))
  assert set(np.unique(x)) == {0.0, 1.0}
  np.testing.assert_array_equal(x, (PIXELS / 255.0 > 0.5).astype(np.float32))
  assert set(np.unique(preprocess_images(PIXELS, ROWS, KEY, pp(binarize='threshold', scale='-11')))) == {-1.0, 1.0}


def test_dynamic_binarization_is_bernoulli_and_seeded():
  p = pp(binarize='sample')
  x = preprocess_images(PIXELS, ROWS, KEY, p)
  assert set(np.unique(x)) <= {0.0, 1.0}
  np.testing.assert_array_equal(x, preprocess_images(PIXELS, ROWS, KEY, p))  # same (key, rows)
  assert not np.array_equal(x, preprocess_images(PIXELS, ROWS + 64, KEY, p))  # fresh draws elsewhere
  # row-wise: the draw of a row does not depend on the rest of the batch
  np.testing.assert_array_equal(x[5:6], preprocess_images(PIXELS[5:6], ROWS[5:6], KEY, p))
  mean = x.mean(axis=0).reshape(-1)  # 64 draws per intensity
  prob = np.arange(256) / 255.0
  assert np.all(np.abs(mean - prob) <= 5 * np.sqrt(prob * (1 - prob) / 64) + 1e-9)
  assert mean[0] == 0.0 and mean[255] == 1.0


@pytest.mark.parametrize('scale', ['01', '-11', 'none'])
def test_dequantization_bins(scale):
  x = preprocess_images(PIXELS, ROWS, KEY, pp(dequantize='uniform', scale=scale)).astype(np.float64)
  t = {'01': x, '-11': (x + 1) / 2, 'none': x / 256}[scale]
  k = PIXELS.astype(np.float64)
  assert np.all(t >= k / 256) and np.all(t < (k + 1) / 256)
  assert len(np.unique(x)) > 256 * 32  # continuous, not just the bin edges


def test_dequantization_rounding_edge(monkeypatch):
  """pixel 255 + u with u just below 1 rounds to 256 in float32; the result must stay below 1."""
  from gen_jax.data import preprocess
  monkeypatch.setattr(preprocess, 'uniform_rows',
                      lambda key, rows, shape: np.full((len(rows),) + shape, 1 - 2**-24, np.float32))
  x = preprocess.preprocess_images(PIXELS[:2], ROWS[:2], KEY, pp(dequantize='uniform'))
  assert x.max() < 1.0 and np.all(x >= PIXELS[:2] / 256)


@pytest.mark.parametrize('fields,kind,match', [
    (dict(binarize='sample', dequantize='uniform'), 'image', 'cannot be combined'),
    (dict(scale='0-1'), 'image', "allowed: '01', '-11', 'none'"),
    (dict(binarize=True), 'image', "allowed: 'none', 'threshold', 'sample'"),
    (dict(scale='01'), 'points', 'holds points'),
    (dict(dequantize='uniform', scale='none'), 'points', 'dequantize'),
])
def test_invalid_options(fields, kind, match):
  with pytest.raises(DatasetError, match=match):
    pp(kind, **fields)


def test_defaults():
  assert pp('image').scale == '01' and pp('points').scale == 'none' and pp('points', scale='').scale == 'none'
  assert pp('image').binarize == 'none' and pp('image').dequantize == 'none'


def test_center_crop_and_resize():
  """celeb_a-style 218x178 images to 64x64: the central square, then an antialiased bicubic resize
  (against PIL on the same crop); the fingerprint string and element spec follow; bad sizes refused."""
  from PIL import Image
  from gen_jax.data.preprocess import element_spec
  rng = np.random.default_rng(0)
  faces = rng.integers(0, 256, size=(3, 218, 178, 3), dtype=np.uint8)
  p = pp(center_crop=140, resize=64, scale='-11')
  x = preprocess_images(faces, np.arange(3), KEY, p)
  assert x.shape == (3, 64, 64, 3) and x.dtype == np.float32
  crop = faces[1, 39:179, 19:159]
  want = np.asarray(Image.fromarray(crop).resize((64, 64), Image.Resampling.BICUBIC)).astype(np.float32)
  np.testing.assert_allclose(x[1], want / 127.5 - 1, atol=1e-6)
  assert p.describe() == 'scale=-11,binarize=none,dequantize=none,center_crop=140,resize=64'
  assert pp().describe() == 'scale=01,binarize=none,dequantize=none'       # unchanged without the options
  assert element_spec(p, (218, 178, 3), True)['image'][0] == (64, 64, 3)
  assert element_spec(pp(center_crop=178), (218, 178, 3), False)['image'][0] == (178, 178, 3)
  grey = preprocess_images(PIXELS[:2], ROWS[:2], KEY, pp(resize=8))      # one channel, no crop
  assert grey.shape == (2, 8, 8, 1)
  with pytest.raises(DatasetError, match='center_crop=300 is larger than the'):
    element_spec(pp(center_crop=300), (218, 178, 3), False)
  with pytest.raises(DatasetError, match=r'config.dataset.resize=-1 must be an integer >= 0'):
    pp(resize=-1)
  with pytest.raises(DatasetError, match='resizes images'):
    pp('points', scale='none', resize=8)
