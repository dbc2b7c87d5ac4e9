"""The diffusion family through the real train loop: train, checkpoint, eval (bits/dim), sample."""
import os

import numpy as np
import pytest

from gen_jax import train
from tests import helpers


def test_toy2d_tiny_through_the_train_loop(tmp_path):
  config = helpers.load_config('experiments/diffusion/ddpm_toy2d.py', 'tiny,ddim')
  config.async_checkpointing = False
  config.eval_batch_size = 10_000
  w = str(tmp_path / 'w')
  out = train.train_and_evaluate(config, w)
  assert out['step'] == config.num_train_steps and np.isfinite(out['loss'])
  report = train.run_eval(config, w)
  m = report['metrics']
  assert {'loss', 'bits_per_dim', 'prior_bpd', 'decoder_bpd'} <= set(m)
  assert m['bits_per_dim']['num_samples'] == 10_000 and np.isfinite(m['bits_per_dim']['value'])
  path = train.run_sample(config, w)
  samples = np.load(path)
  assert samples.shape == (config.sample.num, 2) and np.isfinite(samples).all()
  assert os.path.isfile(os.path.join(w, 'eval.json'))


def test_study_samplers_runs_on_an_untrained_toy_model():
  import jax
  from gen_jax.families import diffusion as fam
  from gen_jax import studies
  from gen_jax.families.diffusion import sampler_study as study
  assert study.parse_spec('ddim:25:eta=0.5') == {'sampler': 'ddim', 'steps': 25, 'eta': 0.5}
  assert study.parse_spec('em:100') == {'sampler': 'pc', 'predictor': 'euler_maruyama', 'corrector': 'none',
                                        'steps': 100}
  config = helpers.load_config('experiments/diffusion/ddpm_toy2d.py', 'tiny,8gaussians')
  state = fam.init(jax.random.key(0), config, None)
  data = np.random.default_rng(0).normal(size=(300, 2))
  rows = study.run_study(config, state, data, ['ddpm', 'ddim:5'], num=200)
  assert [r['spec'] for r in rows] == ['ddpm', 'ddim:5'] and [r['nfe'] for r in rows] == [20, 5]
  assert all(np.isfinite(r['kid_raw']) and r['samples_per_s'] > 0 and 'modes_hit' in r for r in rows)
  assert 'fid' not in rows[0]  # no feature network for points
  assert studies.markdown(rows).count('\n') == 3


def test_study_samplers_scores_conditional_images_in_feature_space():
  import jax
  from gen_jax.families import diffusion as fam
  from gen_jax.families.diffusion import sampler_study as study
  config = helpers.load_config('experiments/diffusion/ddpm_mnist5k.py', 'tiny,cfg')
  state = fam.init(jax.random.key(0), config, None)
  data = np.random.default_rng(0).uniform(-1, 1, size=(30, 28, 28, 1))
  rows = study.run_study(config, state, data, ['ddim:3'], num=20, batch=8)
  (r,) = rows
  assert r['batch'] == 8 and r['nfe'] == 6  # 3 steps x 2 (guided: conditional + null pass)
  for k in ('fid', 'kid', 'precision', 'recall', 'class_entropy', 'conditional_accuracy', 'kid_raw'):
    assert np.isfinite(r[k]), k
  assert r['fid'] > 0 and 0 <= r['conditional_accuracy'] <= 1


def test_study_schedules_one_tiny_variant(tmp_path):
  study = helpers.load_script('experiments/diffusion/study_schedules.py')
  row = study.study_variant('experiments/diffusion/ddpm_toy2d.py', 'tiny', 'v', str(tmp_path / 'v'), 'ddim:5', 200)
  assert row['variant'] == 'v' and row['steps'] == 6
  assert np.isfinite(row['loss']) and np.isfinite(row['bits_per_dim']) and row['nfe'] == 5


def test_sample_takes_labels_for_conditional_models_only():
  """The contract's ``sample(state, rng, num, config, labels=None)``: a conditional model draws the
  given classes (what --mode=eval's conditional FID uses); an unconditional one refuses labels."""
  import jax
  import jax.numpy as jnp
  from gen_jax.families import diffusion as fam
  from gen_jax.core.state import eval_params
  config = helpers.load_config('experiments/diffusion/ddpm_mnist5k.py', 'tiny,cfg,ddim')
  state = fam.init(jax.random.key(0), config, None)
  rng = jax.random.key(1)
  labels = jnp.asarray([3, 3, 7, 7], jnp.int32)
  x = fam.sample(state, rng, 4, config, labels=labels)
  np.testing.assert_array_equal(np.asarray(x), np.asarray(
      fam.sample_with_params(eval_params(state), rng, 4, config, label=labels)))
  with pytest.raises(ValueError, match=r'shape \(4,\)'):
    fam.sample(state, rng, 4, config, labels=jnp.zeros((3,), jnp.int32))
  plain = helpers.load_config('experiments/diffusion/ddpm_mnist5k.py', 'tiny,ddim')
  with pytest.raises(ValueError, match='unconditional'):
    fam.sample(fam.init(jax.random.key(0), plain, None), rng, 4, plain, labels=labels)
