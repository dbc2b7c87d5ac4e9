"""``toy2d``: seeded 2-D densities for flows, GAN mode coverage and diffusion on points.

One tfds builder config per density; every config has ``train`` (50,000 points) and ``test``
(10,000 points), drawn i.i.d. with ``np.random.default_rng([CONFIG_SEEDS[name], SPLIT_SEEDS[split]])``
(so re-preparing gives identical data). Features (``tfds.features.Tensor`` only):
  x: float32 [2], the point.
  label: int64 scalar, the component the point was drawn from (see below).

Densities (all noise is isotropic Gaussian; N(0, s^2) means standard deviation s):
  moons        two interleaved half circles (sklearn ``make_moons`` geometry, FFJORD placement).
               label k ~ U{0,1}, angle t ~ U[0, pi]; k=0: (cos t, sin t), k=1: (1 - cos t,
               0.5 - sin t); plus N(0, 0.1^2) noise; then x -> 2 x + (-1, -0.2).
  8gaussians   8 Gaussians on a circle of radius 2 (unrolled GAN, Metz et al. 2017; VEEGAN's "2D
               ring"). label k ~ U{0..7}, center 2 (cos(2 pi k / 8), sin(2 pi k / 8)), std 0.02.
  25gaussians  25 Gaussians on the 5x5 grid {-4, -2, 0, 2, 4}^2 (VEEGAN / PacGAN "2D grid").
               label k ~ U{0..24}, center (-4 + 2 (k // 5), -4 + 2 (k % 5)), std 0.05.
  checkerboard uniform on the 8 dark squares of a 4x4 board of 2x2 squares covering [-4, 4]^2
               (FFJORD): x1 ~ U[-2, 2), x2 ~ U[0, 1) - 2 B (B ~ U{0,1}) + (floor(x1) mod 2), then
               x -> 2 (x1, x2). With col = floor(x1 / 2) + 2 and row = floor(x2 / 2) + 2 (both
               0..3, row + col even), label = (4 row + col) // 2 in 0..7.
  spirals      two spiral arms (FFJORD "2spirals"). label k ~ U{0,1}; n = sqrt(U) * 3 pi,
               d = (-cos(n) n + U'/2, sin(n) n + U''/2) with U, U', U'' ~ U[0, 1); arm 0 is d,
               arm 1 is -d; then x -> x / 3 + N(0, 0.1^2).
  rings        4 concentric circles (FFJORD "rings"). label k ~ U{0..3}, radius 0.75 (k + 1)
               (0.75, 1.5, 2.25, 3.0), angle ~ U[0, 2 pi), plus N(0, 0.08^2) noise.

``toy2d_modes(name)`` gives the mixture centers [K, 2] (index = label) of 8gaussians,
25gaussians and checkerboard (square centers); ``toy2d_mode_std(name)`` the component std of the
two Gaussian mixtures (for mode-coverage metrics: a sample within 3 std of a center "hits" it).
"""
import numpy as np
import tensorflow_datasets as tfds

from gen_jax.data.builders._common import SeededSplits, labelled_info

NAMES = ('moons', '8gaussians', '25gaussians', 'checkerboard', 'spirals', 'rings')
NUM_CLASSES = {'moons': 2, '8gaussians': 8, '25gaussians': 25, 'checkerboard': 8, 'spirals': 2,
               'rings': 4}
SPLIT_SIZES = {'train': 50_000, 'test': 10_000}
CONFIG_SEEDS = {name: 1000 + i for i, name in enumerate(NAMES)}
SPLIT_SEEDS = {'train': 0, 'test': 1}
_MODE_STD = {'8gaussians': 0.02, '25gaussians': 0.05}


def _check_name(name: str) -> None:
  if name not in NAMES:
    raise ValueError(f'unknown toy2d density {name!r}; allowed: {", ".join(NAMES)}.')


def toy2d_modes(name: str) -> np.ndarray:
  """Mode centers float64 [K, 2] of a toy2d density; row k is the center of label k.

  Defined for '8gaussians' [8, 2], '25gaussians' [25, 2] and 'checkerboard' [8, 2] (the
  centers of the occupied 2x2 squares); ValueError for the others.
  """
  _check_name(name)
  if name == '8gaussians':
    a = 2 * np.pi * np.arange(8) / 8
    return 2.0 * np.stack([np.cos(a), np.sin(a)], axis=1)
  if name == '25gaussians':
    k = np.arange(25)
    return np.stack([-4.0 + 2 * (k // 5), -4.0 + 2 * (k % 5)], axis=1)
  if name == 'checkerboard':
    squares = [(r, c) for r in range(4) for c in range(4) if (r + c) % 2 == 0]  # sorted by label
    return np.array([(2.0 * c - 3.0, 2.0 * r - 3.0) for r, c in squares])
  raise ValueError(f'toy2d {name!r} has no discrete modes; modes exist for 8gaussians, 25gaussians, '
                   'checkerboard.')


def toy2d_mode_std(name: str) -> float:
  """Standard deviation (per coordinate) of each component of a Gaussian-mixture toy2d density."""
  _check_name(name)
  if name not in _MODE_STD:
    raise ValueError(f'toy2d {name!r} is not a Gaussian mixture; std exists for '
                     f'{", ".join(_MODE_STD)}.')
  return _MODE_STD[name]


def toy2d_log_density(name: str, x: np.ndarray) -> np.ndarray:
  """Exact log density (nats) float64 [n] of points ``x`` [n, 2] under a Gaussian-mixture toy2d density
  (equal weights, isotropic components: '8gaussians', '25gaussians'); ValueError for the others."""
  centers, std = toy2d_modes(name), toy2d_mode_std(name)
  d2 = ((np.asarray(x, np.float64)[:, None, :] - centers[None]) ** 2).sum(-1)
  log_comp = -d2 / (2 * std ** 2) - np.log(2 * np.pi * std ** 2)
  top = log_comp.max(axis=1, keepdims=True)
  return (top[:, 0] + np.log(np.exp(log_comp - top).sum(axis=1))) - np.log(len(centers))


def sample_toy2d(name: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """``n`` i.i.d. points of density ``name``: x float32 [n, 2], label int64 [n] (module docstring)."""
  _check_name(name)
  k = rng.integers(0, NUM_CLASSES[name], size=n)
  if name == 'moons':
    t = rng.uniform(0.0, np.pi, size=n)
    x = np.where((k == 0)[:, None], np.stack([np.cos(t), np.sin(t)], 1),
                 np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1))
    x = 2 * (x + 0.1 * rng.standard_normal((n, 2))) + np.array([-1.0, -0.2])
  elif name in ('8gaussians', '25gaussians'):
    x = toy2d_modes(name)[k] + _MODE_STD[name] * rng.standard_normal((n, 2))
  elif name == 'checkerboard':
    x1 = rng.uniform(-2.0, 2.0, size=n)
    x2 = rng.uniform(0.0, 1.0, size=n) - 2 * rng.integers(0, 2, size=n) + np.floor(x1) % 2
    x = 2 * np.stack([x1, x2], 1)
    col, row = np.floor(x1).astype(np.int64) + 2, np.floor(x2).astype(np.int64) + 2
    k = (4 * row + col) // 2
  elif name == 'spirals':
    m = np.sqrt(rng.uniform(size=n)) * 3 * np.pi
    d = np.stack([-np.cos(m) * m + rng.uniform(size=n) / 2, np.sin(m) * m + rng.uniform(size=n) / 2], 1)
    x = np.where((k == 0)[:, None], d, -d) / 3 + 0.1 * rng.standard_normal((n, 2))
  else:  # rings
    a = rng.uniform(0.0, 2 * np.pi, size=n)
    x = 0.75 * (k + 1)[:, None] * np.stack([np.cos(a), np.sin(a)], 1) + 0.08 * rng.standard_normal((n, 2))
  return x.astype(np.float32), k.astype(np.int64)


def split_data(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
  """The exact points stored in ``toy2d/<name>``'s ``split``: x float32 [n, 2], label int64 [n]."""
  rng = np.random.default_rng([CONFIG_SEEDS[name], SPLIT_SEEDS[split]])
  return sample_toy2d(name, SPLIT_SIZES[split], rng)


class Toy2d(SeededSplits, tfds.core.GeneratorBasedBuilder):
  """Seeded 2-D toy densities (one builder config each): 50,000 train / 10,000 test points."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=n, description=f'toy2d density {n!r}') for n in NAMES]

  SPLIT_NAMES = tuple(SPLIT_SIZES)

  def _info(self) -> tfds.core.DatasetInfo:
    return labelled_info(self, 'x', (2,), np.float32, __doc__)

  def split_data(self, split: str) -> tuple[np.ndarray, np.ndarray]:
    return split_data(self.builder_config.name, split)
