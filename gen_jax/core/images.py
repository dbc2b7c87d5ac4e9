"""PNG image grids for samples and reconstructions."""
import math
import os

import numpy as np
from PIL import Image


def to_uint8(images: np.ndarray, value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
  """Maps float images in ``value_range`` to uint8 [0, 255] (clipped)."""
  lo, hi = value_range
  x = (np.asarray(images, np.float32) - lo) / (hi - lo)
  return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


def make_grid(images: np.ndarray, ncols: int | None = None, padding: int = 2, pad_value: int = 255,
              value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
  """Tiles ``images`` [N, H, W, C] (C in {1, 3}) into one uint8 image [rows*(H+p)+p, cols*(W+p)+p, C]."""
  images = np.asarray(images)
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ValueError(f'make_grid expects [N, H, W, 1 or 3] images, got shape {images.shape}.')
  if images.dtype != np.uint8:
    images = to_uint8(images, value_range)
  n, h, w, c = images.shape
  ncols = ncols or int(math.ceil(math.sqrt(n)))
  nrows = int(math.ceil(n / ncols))
  grid = np.full((nrows * (h + padding) + padding, ncols * (w + padding) + padding, c), pad_value, np.uint8)
  for i in range(n):
    r, col = divmod(i, ncols)
    y, x = padding + r * (h + padding), padding + col * (w + padding)
    grid[y:y + h, x:x + w] = images[i]
  return grid


def save_image_grid(images: np.ndarray, path: str, ncols: int | None = None, scale: int = 1,
                    value_range: tuple[float, float] = (0.0, 1.0)) -> str:
  """Writes a PNG grid of ``images`` [N, H, W, C]; ``scale`` enlarges small images (nearest)."""
  grid = make_grid(images, ncols=ncols, value_range=value_range)
  img = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
  if scale > 1:
    img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  img.save(path)
  return path
