"""Config checks shared by every family's ``validate_config`` (DESIGN.md section 4).

Each check raises ``ConfigError`` with one message shape: the field as the user writes it on the
command line (``config.model.dtype``), the value that was given, and what is allowed, e.g.

  config.model.dtype='float16' is not allowed; allowed: float32, bfloat16.
  config.model.latent_dim=0 must be an integer >= 1.
  config.model.data_shape=(28, 28) does not match the images of 'mnist5k', which are (28, 28, 1); ...

Fields are given without the ``config.`` prefix (``'model.dtype'``); checks return the value so
that a family can write ``k = checks.integer(m.get('k', 3), 'model.k')``.
"""
from collections.abc import Sequence
from typing import Any

from gen_jax.core.errors import ConfigError

DTYPES = ('float32', 'bfloat16')


def _show(values: Sequence[Any]) -> str:
  return ', '.join(str(v) for v in values)


def choice(value: Any, field: str, allowed: Sequence[Any], what: str = '') -> Any:
  """``value`` if it is one of ``allowed``; ``what`` names the kind ('an autoencoder') in the message."""
  if value not in tuple(allowed):
    kind = f'is not {what}' if what else 'is not allowed'
    raise ConfigError(f'config.{field}={value!r} {kind}; allowed: {_show(allowed)}.')
  return value


def integer(value: Any, field: str, minimum: int = 1, maximum: int | None = None, hint: str = '') -> int:
  """``value`` if it is an int (not a bool) in ``[minimum, maximum]``; ``hint`` says what 0 means etc."""
  ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
  ok = ok and (maximum is None or value <= maximum)
  if not ok:
    bound = f'>= {minimum}' if maximum is None else f'in {minimum}..{maximum}'
    raise ConfigError(f'config.{field}={value!r} must be an integer {bound}{f" ({hint})" if hint else ""}.')
  return value


def number(value: Any, field: str, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False, hint: str = '') -> float:
  """``float(value)`` if it is a real number in the interval; ``*_open`` excludes that end."""
  ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value  # not NaN
  if ok and low is not None:
    ok = value > low if low_open else value >= low
  if ok and high is not None:
    ok = value < high if high_open else value <= high
  if not ok:
    if low is not None and high is not None:
      where = f'in {"(" if low_open else "["}{low}, {high}{")" if high_open else "]"}'
    elif low is not None:
      where = f'{">" if low_open else ">="} {low}'
    elif high is not None:
      where = f'{"<" if high_open else "<="} {high}'
    else:
      where = 'a real number'
    raise ConfigError(f'config.{field}={value!r} must be a number {where}{f" ({hint})" if hint else ""}.')
  return float(value)


def dtype(value: Any, field: str = 'model.dtype') -> str:
  """The compute dtype: float32, or bfloat16 (parameters stay float32; DESIGN.md section 3)."""
  return choice(value, field, DTYPES)


def data_shape(value: Any, info: Any, field: str = 'model.data_shape') -> tuple[int, ...]:
  """The shape of one example named in the config, checked against the dataset's.

  ``info`` is the dataset's ``DatasetInfo``: images are ``(H, W, C)`` under the feature ``image``,
  points and signals ``(D,)`` under ``x``. Returns the dataset's shape.
  """
  key = data_key(info)
  shape = tuple(info.element_spec[key][0])
  given = tuple(value or ())
  if given != shape:
    what = 'images' if key == 'image' else f'{info.kind} examples'
    raise ConfigError(f'config.{field}={given} does not match the {what} of {info.name!r}, which are {shape}; '
                      f'set config.{field}={shape}.')
  return shape


def data_key(info: Any) -> str:
  """The batch key of the data a model generates: 'image' for image datasets, 'x' for points/signals."""
  key = 'image' if info.kind == 'image' else 'x'
  if key not in info.element_spec:
    raise ConfigError(f'dataset {info.name!r} ({info.kind}) has no {key!r} feature; it has '
                      f'{", ".join(info.element_spec)}.')
  return key


def image_data(info: Any, family: str) -> tuple[int, int, int]:
  """``(H, W, C)`` of an image dataset; ConfigError naming ``family`` for any other kind."""
  if info.kind != 'image' or 'image' not in info.element_spec:
    raise ConfigError(f'the {family} need an image dataset; config.dataset.name={info.name!r} holds {info.kind}.')
  return tuple(info.element_spec['image'][0])


def divisible(shape: Sequence[int], halvings: int, field: str, info: Any, what: str = 'the network') -> None:
  """H and W of ``shape`` must be divisible by ``2 ** halvings`` (``what`` halves the image that often,
  set by ``config.<field>``)."""
  factor = 2 ** halvings
  if shape[0] % factor or shape[1] % factor:
    raise ConfigError(f'{what} halves the image {halvings} times (set by config.{field}), so H and W must be '
                      f'divisible by {factor}; {info.name!r} images are {tuple(shape[:2])}. Halve fewer times.')


def class_labels(num_classes: Any, info: Any, field: str = 'model.num_classes', needed_by: str = '') -> int:
  """A conditional model's class count: 0 (unconditional), or exactly the dataset's number of classes.

  ``needed_by`` names what makes the model conditional when that is not ``num_classes`` itself
  (e.g. 'a conditional VAE'); then 0 is refused too.
  """
  k = integer(num_classes or 0, field, 0)
  if not k and not needed_by:
    return 0
  who = needed_by or f'config.{field}={k}'
  if not info.num_classes or 'label' not in info.element_spec:
    fix = f'; set config.{field}=0' if not needed_by else ''
    raise ConfigError(f'{who} needs a labelled dataset, and {info.name!r} has no labels{fix}.')
  if k != info.num_classes:
    raise ConfigError(f'config.{field}={k} must equal the {info.num_classes} classes of {info.name!r}; '
                      f'set config.{field}={info.num_classes}.')
  return k


def label_values(values: Sequence[Any], info: Any, field: str) -> tuple[int, ...]:
  """A tuple of class labels of a labelled dataset (each in 0..num_classes - 1)."""
  values = tuple(values or ())
  if not values:
    return values
  if not info.num_classes or 'label' not in info.element_spec:
    raise ConfigError(f'config.{field}={values} needs a labelled dataset, and {info.name!r} has no labels.')
  bad = [v for v in values if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < info.num_classes]
  if bad:
    raise ConfigError(f'config.{field} has {bad}; labels of {info.name!r} lie in 0..{info.num_classes - 1}.')
  return values


def require(condition: bool, message: str) -> None:
  """A check that fits none of the above: ``message`` must say what is wrong and what to set."""
  if not condition:
    raise ConfigError(message)
