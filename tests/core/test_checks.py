"""The shared config checks (gen_jax/core/checks.py) and the variant parser: each message names the field
as the user writes it, the value given, and what is allowed."""
import dataclasses

import numpy as np
import pytest

from gen_jax.core import checks
from gen_jax.core.config import Variants
from gen_jax.core.errors import ConfigError


@dataclasses.dataclass
class Info:  # the fields of gen_jax.data.DatasetInfo the checks read
  name: str = 'mnist5k'
  kind: str = 'image'
  element_spec: dict = dataclasses.field(default_factory=lambda: {'image': ((28, 28, 1), np.float32),
                                                                  'label': ((), np.int32)})
  num_classes: int | None = 10


POINTS = Info(name='toy2d/moons', kind='points', element_spec={'x': ((2,), np.float32)}, num_classes=None)


def _message(fn, *args, **kwargs) -> str:
  with pytest.raises(ConfigError) as e:
    fn(*args, **kwargs)
  return str(e.value)


def test_choice():
  assert checks.choice('adam', 'optim.name', ('adam', 'sgd')) == 'adam'
  assert _message(checks.choice, 'lion', 'optim.name', ('adam', 'sgd')) == \
      "config.optim.name='lion' is not allowed; allowed: adam, sgd."
  assert 'is not an autoencoder; allowed: a, b' in _message(checks.choice, 'x', 'model.name', 'ab', 'an autoencoder')


@pytest.mark.parametrize('value', [0, -3, 2.5, True, None, '4'])
def test_integer_refuses(value):
  assert _message(checks.integer, value, 'model.latent_dim') == \
      f'config.model.latent_dim={value!r} must be an integer >= 1.'


def test_integer_bounds_and_hint():
  assert checks.integer(0, 'eval.iwae_k', 0) == 0
  assert checks.integer(5, 'x', 1, 5) == 5
  assert _message(checks.integer, 6, 'x', 1, 5) == 'config.x=6 must be an integer in 1..5.'
  assert _message(checks.integer, -1, 'log_every', 0, hint='0 disables it') == \
      'config.log_every=-1 must be an integer >= 0 (0 disables it).'


def test_number_intervals():
  assert checks.number(0.5, 'p', 0.0, 1.0, high_open=True) == 0.5
  assert _message(checks.number, 1.0, 'p', 0.0, 1.0, high_open=True) == 'config.p=1.0 must be a number in [0.0, 1.0).'
  assert _message(checks.number, 0.0, 'tau', 0.0, low_open=True) == 'config.tau=0.0 must be a number > 0.0.'
  assert 'must be a number' in _message(checks.number, float('nan'), 'lr', 0.0)
  assert 'must be a number' in _message(checks.number, 'big', 'lr')


def test_dtype():
  assert checks.dtype('bfloat16') == 'bfloat16'
  assert _message(checks.dtype, 'float16') == "config.model.dtype='float16' is not allowed; allowed: float32, bfloat16."


def test_data_shape_and_kind():
  assert checks.data_shape((28, 28, 1), Info()) == (28, 28, 1)
  msg = _message(checks.data_shape, (32, 32, 1), Info())
  assert msg == ("config.model.data_shape=(32, 32, 1) does not match the images of 'mnist5k', which are (28, 28, 1); "
                 'set config.model.data_shape=(28, 28, 1).')
  assert 'points examples' in _message(checks.data_shape, (3,), POINTS)
  assert checks.image_data(Info(), 'GANs') == (28, 28, 1)
  assert _message(checks.image_data, POINTS, 'GANs') == \
      "the GANs need an image dataset; config.dataset.name='toy2d/moons' holds points."


def test_divisible():
  checks.divisible((28, 28, 1), 2, 'model.features', Info())
  msg = _message(checks.divisible, (28, 28, 1), 3, 'model.ch_mult', Info(), 'the UNet')
  assert msg.startswith('the UNet halves the image 3 times (set by config.model.ch_mult), so H and W must be '
                        'divisible by 8')


def test_class_labels():
  assert checks.class_labels(0, POINTS) == 0
  assert checks.class_labels(10, Info()) == 10
  assert _message(checks.class_labels, 10, POINTS) == \
      "config.model.num_classes=10 needs a labelled dataset, and 'toy2d/moons' has no labels; set config.model.num_classes=0."
  assert _message(checks.class_labels, 7, Info()) == \
      "config.model.num_classes=7 must equal the 10 classes of 'mnist5k'; set config.model.num_classes=10."
  assert 'a conditional VAE needs a labelled dataset' in _message(checks.class_labels, 10, POINTS,
                                                                   needed_by='a conditional VAE')


def test_label_values():
  assert checks.label_values((0, 9), Info(), 'model.exclude_labels') == (0, 9)
  assert checks.label_values((), POINTS, 'model.exclude_labels') == ()
  assert _message(checks.label_values, (3, 10), Info(), 'model.exclude_labels') == \
      "config.model.exclude_labels has [10]; labels of 'mnist5k' lie in 0..9."


def test_variants_parse_pick_and_refuse():
  v = Variants('tiny', 'linear', 'cosine', 'mlp', exclusive=[('linear', 'cosine')])
  chosen = v.parse(' mlp, tiny ')
  assert chosen == {'mlp', 'tiny'} and chosen.pick('linear', 'cosine', default='linear') == 'linear'
  assert v.parse('cosine').pick('linear', 'cosine') == 'cosine' and v.parse(None) == frozenset()
  assert _message(v.parse, 'cosine,tiny,linear') == \
      'config variants linear and cosine exclude each other; pick one of linear, cosine.'
  assert "unknown config variant(s) 'quad'; allowed: tiny, linear, cosine, mlp" in _message(v.parse, 'tiny,quad')
  with pytest.raises(ValueError):
    Variants('a', 'b', exclusive=[('a', 'c')])
