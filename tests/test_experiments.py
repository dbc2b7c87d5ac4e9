"""Every experiment's `tiny` variant runs end to end: train, checkpoint, eval, sample."""
import json
import os

import pytest
from PIL import Image

from gen_jax import families, train
from tests import helpers


@pytest.mark.parametrize('path', helpers.experiment_files())
def test_tiny_variant_end_to_end(path, tmp_path):
  config = helpers.load_config(path, 'tiny')
  config.async_checkpointing = False
  config.eval_every = 0  # run_eval below evaluates; the loop's periodic eval is checked in test_multidevice.py
  w = str(tmp_path / 'w')
  out = train.train_and_evaluate(config, w)
  assert out['step'] == config.num_train_steps
  steps = sorted(int(d) for d in os.listdir(os.path.join(w, 'checkpoints')) if d.isdigit())
  assert steps[-1] == config.num_train_steps
  report = train.run_eval(config, w)
  with open(os.path.join(w, 'eval.json')) as f:
    assert json.load(f) == json.loads(json.dumps(report))
  assert report['checkpoint_step'] == config.num_train_steps
  for v in report['metrics'].values():
    assert v['num_samples'] > 0 and (v['stderr'] is None or v['stderr'] >= 0)
  path = train.run_sample(config, w)
  if path.endswith('.png'):
    assert Image.open(path).size[0] > 0
  images = os.listdir(os.path.join(w, 'images')) if os.path.isdir(os.path.join(w, 'images')) else []
  if config.sample_every:
    assert images, 'training wrote no sample/reconstruction grids'


@pytest.mark.parametrize('path', helpers.experiment_files())
def test_variants_declared_and_conflicts_refused(path):
  """Every experiment declares its variants with the one parser (``gen_jax.core.config.Variants``): each
  variant builds a config, an unknown one is refused with the list, and two variants of one exclusive
  group are refused with a message naming both, before any config is built."""
  import itertools
  from gen_jax.core.config import Variants
  from gen_jax.core.errors import ConfigError
  module = helpers.load_script(path)
  variants = module.VARIANTS
  assert isinstance(variants, Variants) and 'tiny' in variants.names
  for name in variants.names:
    assert module.get_config(name).family
  with pytest.raises(ConfigError, match='allowed: ' + ', '.join(variants.names)):
    module.get_config('tiny,no_such_variant')
  for group in variants.exclusive:
    for a, b in itertools.combinations(group, 2):
      with pytest.raises(ConfigError) as e:
        module.get_config(f'tiny,{b},{a}')
      assert f'{a} and {b}' in str(e.value) and 'exclude each other' in str(e.value)


def test_every_family_has_the_contract_and_a_default_experiment():
  """Each registered family exports the contract's functions and ``DEFAULT_EXPERIMENT``, an experiment file of
  its own (what ``./launch.sh bench`` measures by default)."""
  from gen_jax import families
  files = helpers.experiment_files()
  for name in families.FAMILIES:
    family = families.get_family(name)        # TypeError if a REQUIRED function is missing
    default = getattr(family, 'DEFAULT_EXPERIMENT', None)
    assert default in files and default.startswith(f'experiments/{name}/'), (name, default)


def test_only_family_directories_hold_experiments():
  """experiments/peers/ (the PyTorch side-by-side kit) and experiments/benchmark.py are scripts, not configs."""
  from gen_jax.main import is_experiment_config, list_experiments
  assert list_experiments() == helpers.experiment_files()
  assert {f.split('/')[1] for f in list_experiments()} == set(families.FAMILIES)
  assert not is_experiment_config('experiments/peers/duel.py')
  assert not is_experiment_config('experiments/gans/study_augmentation.py')
