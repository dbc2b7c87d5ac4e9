"""Vectorised, deterministic preprocessing of raw batches (images, and points: 2-D toys, 1-D signals).

Images arrive as uint8 pixels in 0..255 and leave as float32. With ``t`` the intensity in [0, 1]:
  dequantize='uniform'   t = (pixel + u) / 256, u ~ U[0, 1)  -> t in [pixel/256, (pixel+1)/256)
  binarize='threshold'   t = 1 if pixel / 255 > 0.5 (i.e. pixel >= 128) else 0
  binarize='sample'      t ~ Bernoulli(pixel / 255), drawn afresh for every stream position
  (neither)              t = pixel / 255
and then ``scale``: '01' -> t, '-11' -> 2 t - 1, 'none' -> pixel units (pixel, or pixel + u when
dequantized; binarized values stay {0, 1}). Points ('x') are passed through unchanged.

Before all of that, images can be brought to a fixed square size (e.g. celeb_a's 218x178 faces to
64x64): ``center_crop`` = S crops the central S x S square (0: no crop), then ``resize`` = R resamples
the image to R x R with PIL's antialiased bicubic filter, rounded back to uint8 (0: no resize).
Both are deterministic and apply to train and eval batches alike.

Randomness is counter-based: row ``r`` of a batch draws from
``np.random.default_rng([*key, rows[r]])`` where ``rows[r]`` is its position in the (global)
example stream, so the result depends only on (key, position), never on the batch layout,
the number of processes or threads, or what was computed before.
"""
import dataclasses

import numpy as np

from gen_jax.data.errors import DatasetError

SCALES = ('01', '-11', 'none')
BINARIZE = ('none', 'threshold', 'sample')
DEQUANTIZE = ('none', 'uniform')


@dataclasses.dataclass(frozen=True)
class Preprocessing:
  """Validated preprocessing options (see the module docstring)."""
  kind: str           # 'image' | 'points'
  scale: str
  binarize: str
  dequantize: str
  center_crop: int = 0
  resize: int = 0

  @property
  def is_random(self) -> bool:
    return self.binarize == 'sample' or self.dequantize == 'uniform'

  def describe(self) -> str:
    """The options as one string (a data-stream fingerprint); crop and resize appear only when set, so
    the string of a pipeline without them is unchanged."""
    out = f'scale={self.scale},binarize={self.binarize},dequantize={self.dequantize}'
    if self.center_crop:
      out += f',center_crop={self.center_crop}'
    if self.resize:
      out += f',resize={self.resize}'
    return out

  def image_shape(self, raw_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of one preprocessed image of raw shape (H, W, C)."""
    h, w, c = raw_shape
    if self.center_crop:
      h = w = self.center_crop
    if self.resize:
      h = w = self.resize
    return (h, w, c)


def _option(dataset_config, field: str, allowed: tuple[str, ...], default: str) -> str:
  value = dataset_config.get(field, default)
  value = default if value is None or value == '' else value
  if not isinstance(value, str) or value not in allowed:
    raise DatasetError(f'config.dataset.{field}={value!r} is not allowed; allowed: '
                       f'{", ".join(repr(a) for a in allowed)}.')
  return value


def parse_preprocessing(dataset_config, kind: str, name: str = '') -> Preprocessing:
  """Reads and validates ``scale``/``binarize``/``dequantize`` of ``config.dataset`` for ``kind``.

  Missing (or None / '') fields get defaults: scale '01' for images and 'none' for points;
  binarize and dequantize 'none'. Raises DatasetError for unknown values and impossible combinations.
  """
  scale = _option(dataset_config, 'scale', SCALES, '01' if kind == 'image' else 'none')
  binarize = _option(dataset_config, 'binarize', BINARIZE, 'none')
  dequantize = _option(dataset_config, 'dequantize', DEQUANTIZE, 'none')
  if kind == 'points':
    bad = [f'{f}={v!r}' for f, v in (('scale', scale), ('binarize', binarize), ('dequantize', dequantize))
           if v != 'none']
    if bad:
      raise DatasetError(f'{name or "this dataset"} holds points (float vectors, not images), but image '
                         f'preprocessing was requested ({", ".join(bad)}); set config.dataset.scale, .binarize and .dequantize to "none".')
  if binarize != 'none' and dequantize != 'none':
    raise DatasetError(f'config.dataset.binarize={binarize!r} cannot be combined with '
                       f'dequantize={dequantize!r}: binary data has nothing to dequantize; set one to "none".')
  sizes = {}
  for field in ('center_crop', 'resize'):
    value = dataset_config.get(field, 0)
    value = 0 if value is None else value
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
      raise DatasetError(f'config.dataset.{field}={value!r} must be an integer >= 0 (0: off).')
    if value and kind != 'image':
      raise DatasetError(f'config.dataset.{field}={value} resizes images; {name or "this dataset"} holds {kind}.')
    sizes[field] = int(value)
  return Preprocessing(kind, scale, binarize, dequantize, **sizes)


def check_image_size(pp: Preprocessing, raw_shape: tuple[int, ...], name: str = '') -> None:
  """DatasetError unless ``center_crop`` fits the raw images (H, W, C)."""
  if pp.center_crop and pp.center_crop > min(raw_shape[:2]):
    raise DatasetError(f'config.dataset.center_crop={pp.center_crop} is larger than the {tuple(raw_shape[:2])} '
                       f'images of {name or "this dataset"}; use at most {min(raw_shape[:2])}.')


def crop_and_resize(pixels: np.ndarray, pp: Preprocessing) -> np.ndarray:
  """uint8 [n, H, W, C] -> uint8 [n, H', W', C]: the central ``center_crop`` square, resized to ``resize``."""
  if not pp.center_crop and not pp.resize:
    return pixels
  n, h, w, c = pixels.shape
  if pp.center_crop:
    top, left = (h - pp.center_crop) // 2, (w - pp.center_crop) // 2
    pixels = pixels[:, top:top + pp.center_crop, left:left + pp.center_crop]
  if not pp.resize or pixels.shape[1:3] == (pp.resize, pp.resize):
    return np.ascontiguousarray(pixels)
  from PIL import Image  # pylint: disable=g-import-not-at-top
  out = np.empty((n, pp.resize, pp.resize, c), np.uint8)
  for i in range(n):
    img = Image.fromarray(pixels[i, ..., 0] if c == 1 else pixels[i])
    out[i] = np.asarray(img.resize((pp.resize, pp.resize), Image.Resampling.BICUBIC)).reshape(pp.resize, pp.resize, c)
  return out


def uniform_rows(key: tuple[int, ...], rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
  """float32 [len(rows), *shape] in [0, 1); row r comes from ``default_rng([*key, rows[r]])``."""
  out = np.empty((len(rows),) + tuple(shape), np.float32)
  for r, pos in enumerate(rows):
    out[r] = np.random.default_rng([*key, int(pos)]).random(shape, dtype=np.float32)
  return out


def preprocess_images(pixels: np.ndarray, rows: np.ndarray, key: tuple[int, ...],
                      pp: Preprocessing) -> np.ndarray:
  """uint8 pixels [n, H, W, C] (0..255) -> float32 [n, H', W', C] per ``pp`` (H' = W' = the crop or
  resize size when set, else H, W).

  ``rows`` int [n] are the stream positions of the examples and ``key`` a tuple of non-negative
  ints; together they seed the random draws of dynamic binarization and dequantization.
  """
  pixels = crop_and_resize(pixels, pp)
  pix = pixels.astype(np.float32)
  if pp.dequantize == 'uniform':
    noisy = pix + uniform_rows(key, rows, pixels.shape[1:])
    # pix + u can round up to pix + 1 in float32 (e.g. 255 + (1 - 2**-24)); keep it below.
    noisy = np.minimum(noisy, np.nextafter(pix + 1, np.float32(0)))
    if pp.scale == 'none':
      return noisy
    t = noisy / np.float32(256)  # exact: division by a power of two
  elif pp.binarize == 'threshold':
    t = (pixels >= 128).astype(np.float32)
  elif pp.binarize == 'sample':
    t = (uniform_rows(key, rows, pixels.shape[1:]) < pix / np.float32(255)).astype(np.float32)
  else:
    if pp.scale == 'none':
      return pix
    t = pix / np.float32(255)
  if pp.scale == '-11':
    return 2 * t - 1
  return t


def preprocess_batch(raw: dict[str, np.ndarray], rows: np.ndarray, key: tuple[int, ...],
                     pp: Preprocessing) -> dict[str, np.ndarray]:
  """A raw batch {'image' uint8 | 'x' float32, ['label']} -> model inputs (float32, label int32)."""
  out = {}
  if pp.kind == 'image':
    out['image'] = preprocess_images(raw['image'], rows, key, pp)
  else:
    out['x'] = np.asarray(raw['x'], np.float32)
  if 'label' in raw:
    out['label'] = np.asarray(raw['label']).astype(np.int32)
  return out


def element_spec(pp: Preprocessing, raw_shape: tuple[int, ...], has_label: bool) -> dict:
  """key -> (shape, np.dtype) of ONE preprocessed example (no batch dimension)."""
  if pp.kind == 'image':
    check_image_size(pp, tuple(raw_shape))
  shape = pp.image_shape(tuple(raw_shape)) if pp.kind == 'image' else tuple(raw_shape)
  spec = {('image' if pp.kind == 'image' else 'x'): (shape, np.dtype(np.float32))}
  if has_label:
    spec['label'] = ((), np.dtype(np.int32))
  return spec
