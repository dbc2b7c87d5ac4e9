"""Learning (slow): the MLP GAN of experiments/gans/mlp_gan.py with R1 learns the 8-Gaussian ring, which its
untrained generator does not cover (study_mode_collapse.py measured 7 and 8 modes for seeds 0 and 1 at
2,000 steps)."""
import pytest

from gen_jax import studies
from gen_jax.core.config import load_experiment
from gen_jax.families.gans import seeds as seeds_lib


@pytest.mark.slow
def test_mlp_gan_covers_the_eight_gaussians():
  c = load_experiment('experiments/gans/mlp_gan.py', '8gaussians,r1')
  data = studies.load_split(c, 'train')
  test = studies.load_split(c, 'test')['x']
  untrained, _ = seeds_lib.train_seeds(c, data, [0], 1, chunk=1)
  trained, info = seeds_lib.train_seeds(c, data, [0], 2000, chunk=500)
  assert not info['diverged'].any()
  before = studies.point_quality(seeds_lib.sample_seeds(untrained, c, 2500)[0], test, c.dataset.name)
  after = studies.point_quality(seeds_lib.sample_seeds(trained, c, 2500)[0], test, c.dataset.name)
  assert before['modes_hit'] <= 1 and before['high_quality'] < 0.05, before
  assert after['modes_hit'] >= 6 and after['high_quality'] > 0.2, after
