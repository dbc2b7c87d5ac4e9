"""The experiment files' tfds catalog variants (cifar10, celeb_a at 64x64) train, evaluate and sample end to
end on ``tfds.testing.mock_data`` (random examples with the real datasets' features; no download)."""
import numpy as np
import pytest
import tensorflow_datasets as tfds

from gen_jax import train
from tests import helpers


@pytest.mark.parametrize('path,variants,shape', [
    ('experiments/gans/dcgan.py', 'cifar10,cgan,tiny', (32, 32, 3)),
    ('experiments/gans/dcgan.py', 'celeb_a,tiny', (64, 64, 3)),
])
@pytest.mark.slow   # ~50 s with an empty compilation cache (new shapes: train, eval and sample compiles) each
def test_catalog_variant_end_to_end(path, variants, shape, tmp_path):
  config = helpers.load_config(path, variants)
  config.async_checkpointing = False
  config.eval_batch_size = 40
  config.dataset.data_dir = str(tmp_path / 'tfds')
  w = str(tmp_path / 'w')
  with tfds.testing.mock_data(num_examples=80, policy=tfds.testing.MockPolicy.USE_CODE):
    assert tuple(config.model.data_shape) == shape
    out = train.train_and_evaluate(config, w)
    assert out['step'] == config.num_train_steps and np.isfinite(out['loss'])
    report = train.run_eval(config, w)
    assert set(report['metrics']) == {'d_real', 'd_fake', 'd_loss', 'g_loss'}
    assert train.run_sample(config, w).endswith('.png')
