"""``signals1d``: seeded sums of sines with noise, 1-D signals for diffusion on non-image data.

Every example is a signal of ``LENGTH = 64`` samples at ``t = n / 64`` (n = 0..63) made of K
sinusoids plus white noise::

    x[n] = sum_{j<K} a_j sin(2 pi f_j n / 64 + phi_j) + sigma e[n],   e[n] ~ N(0, 1)

  K       number of components, uniform on {1, 2, 3}; ``label = K - 1`` (3 classes).
  f_j     K DISTINCT integer frequencies (cycles per window) drawn without replacement from
          1..MAX_FREQ = 12, so each component falls exactly on one FFT bin (no leakage) and the
          number of components can be read off the spectrum (``count_spectral_peaks``).
  a_j     amplitude, uniform on [0.5, 1.0).
  phi_j   phase, uniform on [0, 2 pi).
  sigma   NOISE_STD = 0.05.

``train`` has 20,000 and ``test`` 2,000 examples, drawn i.i.d. with
``np.random.default_rng([SEED, SPLIT_SEEDS[split]])`` (re-preparing gives identical data; the
two splits come from different streams). Features (``tfds.features.Tensor`` only):
  x: float32 [64], the signal (mean 0; per-sample std about 0.75 over the dataset).
  label: int64 scalar, K - 1 in {0, 1, 2}.
"""
import numpy as np
import tensorflow_datasets as tfds

from gen_jax.data.builders._common import SeededSplits, labelled_info

LENGTH = 64
MAX_COMPONENTS = 3
NUM_CLASSES = MAX_COMPONENTS
MAX_FREQ = 12
AMPLITUDE_RANGE = (0.5, 1.0)
NOISE_STD = 0.05
SPLIT_SIZES = {'train': 20_000, 'test': 2_000}
SEED = 2000
SPLIT_SEEDS = {'train': 0, 'test': 1}
# A bin is a "dominant peak" when its amplitude estimate 2 |X_k| / L exceeds half the smallest
# component amplitude: every real component passes (0.5 >> noise), and the noise floor
# (2 sigma / sqrt(L) ~ 0.0125 per bin) never does.
PEAK_THRESHOLD = AMPLITUDE_RANGE[0] / 2


def sample_signals(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
  """``n`` i.i.d. signals and their parameters (module docstring).

  Returns {'x': float32 [n, 64], 'label': int64 [n] (K - 1), 'freqs': int64 [n, 3],
  'amplitudes': float64 [n, 3], 'phases': float64 [n, 3]}; unused components (j >= K) have
  frequency 0 and amplitude 0.
  """
  k = rng.integers(1, MAX_COMPONENTS + 1, size=n)
  # K distinct frequencies per example: the first K entries of a random permutation of 1..MAX_FREQ
  perm = np.argsort(rng.random((n, MAX_FREQ)), axis=1)[:, :MAX_COMPONENTS] + 1
  amps = rng.uniform(*AMPLITUDE_RANGE, size=(n, MAX_COMPONENTS))
  phases = rng.uniform(0.0, 2 * np.pi, size=(n, MAX_COMPONENTS))
  used = np.arange(MAX_COMPONENTS)[None, :] < k[:, None]
  freqs = np.where(used, perm, 0)
  amps = np.where(used, amps, 0.0)
  phases = np.where(used, phases, 0.0)
  t = np.arange(LENGTH) / LENGTH
  waves = amps[..., None] * np.sin(2 * np.pi * freqs[..., None] * t + phases[..., None])  # [n, 3, L]
  x = waves.sum(axis=1) + NOISE_STD * rng.standard_normal((n, LENGTH))
  return {'x': x.astype(np.float32), 'label': (k - 1).astype(np.int64), 'freqs': freqs.astype(np.int64),
          'amplitudes': amps, 'phases': phases}


def split_data(split: str) -> tuple[np.ndarray, np.ndarray]:
  """The exact signals stored in ``signals1d``'s ``split``: x float32 [n, 64], label int64 [n]."""
  if split not in SPLIT_SIZES:
    raise ValueError(f'unknown signals1d split {split!r}; allowed: {", ".join(SPLIT_SIZES)}.')
  d = sample_signals(SPLIT_SIZES[split], np.random.default_rng([SEED, SPLIT_SEEDS[split]]))
  return d['x'], d['label']


def amplitude_spectrum(x: np.ndarray) -> np.ndarray:
  """Per-bin amplitude estimate ``2 |rfft(x)| / L`` float64 [n, L/2 + 1] of signals ``x`` [n, L]
  (a pure sine of amplitude a on integer frequency f gives a at bin f)."""
  x = np.asarray(x, np.float64)
  return 2.0 * np.abs(np.fft.rfft(x, axis=-1)) / x.shape[-1]


def count_spectral_peaks(x: np.ndarray, threshold: float = PEAK_THRESHOLD) -> np.ndarray:
  """Number of dominant spectral peaks int64 [n] of signals ``x`` [n, L]: the non-DC bins whose
  amplitude estimate (``amplitude_spectrum``) exceeds ``threshold``. For this dataset it equals
  the number of components, ``label + 1``."""
  return np.sum(amplitude_spectrum(x)[:, 1:] > threshold, axis=-1).astype(np.int64)


class Signals1d(SeededSplits, tfds.core.GeneratorBasedBuilder):
  """Seeded sums of 1..3 sines plus noise: 20,000 train / 2,000 test float32 [64] signals."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}

  SPLIT_NAMES = tuple(SPLIT_SIZES)

  def _info(self) -> tfds.core.DatasetInfo:
    return labelled_info(self, 'x', (LENGTH,), np.float32, __doc__)

  def split_data(self, split: str) -> tuple[np.ndarray, np.ndarray]:
    return split_data(split)
