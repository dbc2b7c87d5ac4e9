"""The family contract for each code path the family ships (tests/contract.py), the train step's NaN
diagnostics, and config validation."""
import os

import jax
import numpy as np
import pytest

from gen_jax import train
from gen_jax.core.errors import ConfigError, NonFiniteLossError
from gen_jax.core.metrics import read_jsonl
from gen_jax.families import flows
from tests import contract, helpers
from tests.families.flows import tiny


@pytest.mark.parametrize('name,shape,fields', [
    ('glow', (8, 8, 1), {}),                                                  # squeeze, actnorm, LU conv, learned split
    ('realnvp', (8, 8, 1), {'scale_fn': 'sigmoid', 'dequantization': 'variational', 'deq_depth': 2,
                            'deq_hidden': 4}),                                # checkerboard + channel, logit, Flow++
    ('nice', (2,), {}),                                                       # MLP nets, scaling, logistic prior
], ids=['glow_image', 'realnvp_image', 'nice_points'])
def test_contract(name, shape, fields):
  c = tiny.config(name, shape, **fields)
  batch = tiny.batch(shape)
  info = tiny.image_info(shape) if len(shape) == 3 else tiny.POINTS_INFO
  state, ev = contract.check_contract(flows, c, batch, info)
  assert {'nll', 'bits_per_dim', 'recon_err'} <= set(ev)
  assert float(np.max(ev['recon_err'])) < 1e-4  # x -> z -> x in float32


def test_ffjord_contract_on_images():
  """FFJORD on images: logit pre-transform, convolutional ConcatSquash network, Rademacher trace, RNODE terms
  in the loss. (The exact trace, the adjoints and the NFE count are checked on closed forms in test_ffjord.py.)"""
  c = tiny.config('ffjord', (4, 4, 1), **{'ffjord.trace': 'rademacher', 'ffjord.solver': 'heun', 'ffjord.steps': 2,
                                          'ffjord.kinetic': 0.1, 'ffjord.jacobian': 0.1})
  batch = tiny.batch((4, 4, 1), n=4)
  state, ev = contract.check_contract(flows, c, batch, tiny.image_info((4, 4, 1)), steps=2, sample=False)
  np.testing.assert_allclose(ev['nfe'], 4.0)  # 2 Heun steps, 2 evaluations each
  assert float(np.max(ev['recon_err'])) < 0.05  # 2 fixed steps: the reverse solve is not an exact inverse


def test_nan_stops_the_run_naming_the_step_and_the_layer(tmp_path):
  """A config that overflows on purpose: a huge learning rate with unbounded (exp) affine scales blows the
  activations up after a few steps; the loop stops with the step, keeps the last finite checkpoint, and
  the message names the first bijector whose output was not finite. The finite steps before it are logged
  without the diagnostic (``_nonfinite_layer``, -1 on every finite step)."""
  c = helpers.load_config('experiments/flows/flows_toy2d.py', 'tiny,glow')
  c.model.scale_fn = 'exp'
  c.model.coupling = 'affine'
  c.optim.lr = 30.0
  c.optim.grad_clip = 0.0
  c.optim.schedule = 'constant'
  c.optim.warmup_steps = 0
  c.num_train_steps = 40
  c.checkpoint_every = 1
  c.log_every = 1
  c.eval_every = 0
  c.async_checkpointing = False
  with pytest.raises(NonFiniteLossError) as e:
    train.train_and_evaluate(c, str(tmp_path / 'w'))
  msg = str(e.value)
  assert 'at step' in msg and 'the last finite checkpoint' in msg, msg
  labels = flows.layer_labels(flows.get_model(c))
  assert any(f': {label}.' in msg for label in labels), msg
  step = int(msg.split('at step ')[1].split(';')[0])
  kept = sorted(int(d) for d in os.listdir(tmp_path / 'w' / 'checkpoints') if d.isdigit())
  assert kept[-1] == step - 1
  rows = read_jsonl(str(tmp_path / 'w' / 'metrics.jsonl'))
  assert [r['step'] for r in rows] == list(range(1, step)), rows
  assert all('train/loss' in r and not any('nonfinite' in k for k in r) for r in rows), rows


def test_describe_nonfinite_names_the_layer():
  c = tiny.config('glow', (8, 8, 1))
  labels = flows.layer_labels(flows.get_model(c))
  msg = flows.describe_nonfinite({'loss': float('nan'), '_nonfinite_layer': 3.0}, c)
  assert labels[3] in msg and f'bijector 3 of {len(labels)}' in msg
  assert 'prior term' in flows.describe_nonfinite({'loss': float('inf'), '_nonfinite_layer': -1.0}, c)
  f = tiny.config('ffjord', (2,))
  assert 'max_steps=1000' in flows.describe_nonfinite({'loss': float('nan'), 'solver_failed': 1.0, 'nfe': 6001.}, f)


def _info(shape):
  return tiny.image_info(shape) if len(shape) == 3 else tiny.POINTS_INFO


@pytest.mark.parametrize('name,shape,fields,dataset,message', [
    ('glow', (8, 8, 1), {'num_levels': 4}, {}, 'divisible by 16'),
    ('realnvp', (8, 8, 1), {'num_levels': 5}, {}, 'divisible by 16'),
    ('glow', (28, 28, 1), {}, {}, 'does not match'),
    ('nice', (1,), {}, {}, 'couplings need D >= 2'),
    ('glow', (8, 8, 1), {}, {'dequantize': 'none'}, 'dequantize="uniform"'),
    ('glow', (8, 8, 1), {}, {'binarize': 'threshold', 'dequantize': 'none'}, 'binarize="none"'),
    ('realnvp', (2,), {}, {'dequantize': 'uniform'}, 'no 8-bit grid'),
    ('glow', (8, 8, 1), {'actnorm_scale': 0.0}, {}, 'not invertible'),
    ('realnvp', (8, 8, 1), {'logit_alpha': 0.5}, {}, 'logit_alpha=0.5 must be a number in (0.0, 0.5)'),
    ('realnvp', (8, 8, 1), {'logit_alpha': 0.0}, {}, 'logit_alpha=0.0'),
    ('glow', (8, 8, 1), {'coupling': 'spline'}, {}, 'is not a coupling of glow'),
    ('glow', (8, 8, 1), {'scale_fn': 'softplus'}, {}, "scale_fn='softplus'"),
    ('spline', (2,), {'spline_bins': 1}, {}, 'spline_bins=1'),
    ('glow', (8, 8, 1), {'permutation': 'shuffle'}, {}, "permutation='shuffle'"),
    ('maf', (2,), {}, {}, "'maf' is not a flow"),
    ('ffjord', (2,), {'ffjord.rtol': 0.0}, {}, 'ffjord.rtol=0.0 must be a number > 0.0'),
    ('ffjord', (2,), {'ffjord.atol': -1e-5}, {}, 'ffjord.atol=-1e-05'),
    ('ffjord', (2,), {'ffjord.solver': 'rk4'}, {}, "ffjord.solver='rk4'"),
    ('ffjord', (2,), {'ffjord.solver': 'euler'}, {}, 'no error estimate'),
    ('ffjord', (2,), {'ffjord.t1': 0.0}, {}, 'ffjord.t1=0.0'),
    ('ffjord', (2,), {'ffjord.trace': 'skilling'}, {}, "ffjord.trace='skilling'"),
    ('ffjord', (2,), {'ffjord.adjoint': 'interpolated'}, {}, "ffjord.adjoint='interpolated'"),
    ('ffjord', (2,), {'ffjord.activation': 'relu'}, {}, "ffjord.activation='relu'"),
    ('realnvp', (2,), {'dequantization': 'variational'}, {}, 'dequantizes 8-bit images'),
    ('ffjord', (8, 8, 1), {'dequantization': 'variational'}, {}, 'dequantizes 8-bit images'),
    ('glow', (8, 8, 1), {'dequantization': 'learned'}, {}, "dequantization='learned'"),
])
def test_validate_config_errors(name, shape, fields, dataset, message):
  c = tiny.config('glow' if name == 'maf' else name, shape, **fields)
  c.model.name = name
  c.dataset.update(dataset)
  info = _info(shape if name != 'glow' or shape != (28, 28, 1) else (8, 8, 1))
  if shape == (1,):
    info = tiny.POINTS_INFO.__class__('line', 'points', {'x': ((1,), np.float32)}, 10, 10, None)
  with pytest.raises(ConfigError) as e:
    flows.validate_config(c, info)
  assert message in str(e.value) and '\n' not in str(e.value), str(e.value)


def test_validate_config_accepts_the_tiny_configs():
  for name, shape in [('glow', (8, 8, 1)), ('realnvp', (8, 8, 1)), ('nice', (8, 8, 1)), ('spline', (8, 8, 1)),
                      ('ffjord', (8, 8, 1)), ('nice', (2,)), ('ffjord', (2,))]:
    flows.validate_config(tiny.config(name, shape), _info(shape))


def test_unconditional_sample_refuses_labels():
  c = tiny.config('nice', (2,))
  state = tiny.init(c, tiny.batch((2,)))
  with pytest.raises(ValueError, match='unconditional'):
    flows.sample(state, jax.random.key(0), 4, c, labels=np.zeros(4, np.int32))
