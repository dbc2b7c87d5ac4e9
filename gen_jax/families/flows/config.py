"""Config of the flow family: the defaults its experiments share, ``tiny``, and ``validate_config``.

``config.model`` fields (defaults in brackets; see ``models.py`` for the architectures):
  name            'nice' | 'realnvp' | 'glow' | 'spline' | 'ffjord'
  data_shape      (H, W, C) of the images or (D,) of the points
  depth           K: coupling layers (NICE), couplings per stage (RealNVP), steps per level (Glow, spline) [8]
  num_levels      L: levels of the multi-scale image flows (RealNVP, Glow, spline) [2]
  hidden          width of the coupling networks [64];  net_layers  hidden layers of the MLP nets (vectors) [2]
  coupling        'additive' | 'affine' | 'spline' [NICE additive, RealNVP / Glow affine, spline spline]
  scale_fn        affine scale: 'tanh' (bounded log-scale with a learned factor, RealNVP) | 'sigmoid'
                  (sigmoid(h + 2), Glow: contracts only) | 'exp' (unbounded) ['tanh': it trains faster here]
  permutation     invertible 1x1 convolution 'lu' | 'conv' (plain) ['lu']
  split_prior     prior of the factored-out channels 'learned' (Glow) | 'standard' (RealNVP) ['learned']
  learn_top       learned mean / std of the top latent [True for Glow and spline]
  preprocess      images: 'logit' (RealNVP) | 'shift' (by -1/2, Glow) ['logit': it trains faster here]
  logit_alpha     alpha of the logit pre-transform, in (0, 1/2) [0.05]
  actnorm_scale   standard deviation ActNorm initialises its output to (> 0) [1.0]
  prior           'gaussian' | 'logistic' [NICE 'logistic', else 'gaussian']
  spline_bins, spline_bound   K bins of the rational-quadratic splines on [-B, B] [8, 3.0]
  dtype           compute dtype of the networks 'float32' | 'bfloat16' (log-dets stay float32) ['float32']
  dequantization  images: 'uniform' (the pipeline's U[0, 1) noise) | 'variational' (a learned q(u | x),
                  Flow++; ``dequantization.py``) ['uniform'];  deq_depth, deq_hidden  its couplings [4, 32]
``config.ffjord`` (FFJORD only): see ``ffjord.py``. ``config.sample``: temperature (scale of the prior
for sampling) [1.0], num_visualize [36].

Images must be uniformly dequantized (``config.dataset.dequantize='uniform'``): a density of the
dequantized data gives bits/dim comparable with every other family (``gen_jax/eval/likelihood.py``).
Variants of the experiment files are parsed by ``gen_jax.core.config.Variants``.
"""
from typing import Any

import ml_collections

from gen_jax.core import checks
from gen_jax.core.config import base_config
from gen_jax.families.flows import bijectors as bj
from gen_jax.families.flows import ffjord
from gen_jax.families.flows.models import (MODELS, PERMUTATIONS, PRIORS, SPLIT_PRIORS, level_shapes, model_field,
                                           preprocess_mode, squeezes)
from gen_jax.nn.cnf import ESTIMATORS, ODE_SOLVERS

COUPLINGS_OF = {'nice': ('additive', 'affine'), 'realnvp': ('affine', 'additive'), 'glow': ('affine', 'additive'),
                'spline': ('spline',)}


def model_defaults(name: str) -> dict:
  """``config.model`` of a flow with every field at its default."""
  return dict(name=name, data_shape=(), dtype='float32', depth=8, num_levels=2, hidden=64, net_layers=2,
              coupling=None, scale_fn='tanh', permutation='lu', split_prior='learned', learn_top=None,
              preprocess=None, logit_alpha=0.05, actnorm_scale=1.0, prior=None, spline_bins=8, spline_bound=3.0)


def ffjord_defaults() -> dict:
  return dict(solver='tsit5', rtol=1e-5, atol=1e-5, steps=0, t1=1.0, train_t1=False, max_steps=1000, trace='exact',
              adjoint='checkpoint', kinetic=0.0, jacobian=0.0, hidden=64, layers=3, activation='softplus')


def flow_config(name: str) -> ml_collections.ConfigDict:
  """A ``base_config()`` with the flow family's fields (``config.model``, ``config.ffjord``, the sample
  temperature); the dataset is set by the experiment."""
  c = base_config()
  c.family = 'flows'
  c.model = ml_collections.ConfigDict(model_defaults(name))
  c.ffjord = ml_collections.ConfigDict(ffjord_defaults())
  c.sample.update(dict(temperature=1.0, num_visualize=36))
  return c


def mnist5k_config(name: str) -> ml_collections.ConfigDict:
  """The shared part of the mnist5k flow experiments: uniformly dequantized digits in [0, 1], batch 64,
  Adam 1e-3 with warm-up and cosine decay, EMA 0.999; ``--mode=eval`` reports test bits/dim,
  reconstruction error and FID/KID/precision/recall/classifier scores of 1,000 samples."""
  c = flow_config(name)
  c.batch_size = 64
  c.num_train_steps = 1000
  c.log_every = 100
  c.eval_every = 1000
  c.checkpoint_every = 500
  c.sample_every = 500
  c.eval_batch_size = 250
  c.dataset.name = 'mnist5k'
  c.dataset.scale = '01'
  c.dataset.dequantize = 'uniform'
  c.model.data_shape = (28, 28, 1)
  c.optim.lr = 1e-3
  c.optim.schedule = 'cosine'
  c.optim.warmup_steps = 100
  c.optim.end_lr_factor = 0.05
  c.optim.grad_clip = 50.0
  c.optim.ema_decay = 0.999
  c.eval.metrics = ('nll', 'fid', 'kid', 'precision_recall', 'classifier')
  c.eval.num_samples = 1000
  c.eval.sample_batch_size = 500
  return c


def toy2d_config(name: str, density: str) -> ml_collections.ConfigDict:
  """The shared part of the toy2d flow experiments: points of ``toy2d/<density>``, batch 512."""
  c = flow_config(name)
  c.batch_size = 512
  c.num_train_steps = 3000
  c.log_every = 250
  c.eval_every = 3000
  c.checkpoint_every = 1500
  c.sample_every = 0
  c.eval_batch_size = 2000
  c.dataset.name = f'toy2d/{density}'
  c.dataset.scale = 'none'
  c.model.data_shape = (2,)
  c.model.hidden = 64
  c.model.net_layers = 2
  c.optim.lr = 1e-3
  c.optim.schedule = 'cosine'
  c.optim.warmup_steps = 100
  c.optim.end_lr_factor = 0.05
  c.optim.grad_clip = 10.0
  c.sample.num = 2000
  return c


def shrink_to_tiny(c: Any) -> Any:
  """A seconds-long smoke test of the same model: a few steps of a narrow, shallow flow."""
  c.batch_size = 16 if len(c.model.data_shape) == 3 else 64
  c.num_train_steps = 4
  c.log_every = 2
  c.eval_every = 4
  c.checkpoint_every = 2
  c.sample_every = 4 if len(c.model.data_shape) == 3 else 0
  c.eval_batch_size = 500
  c.eval.metrics = ('nll',)
  c.model.depth = 2
  c.model.hidden = 8
  c.model.spline_bins = 4
  c.ffjord.hidden = 8
  c.ffjord.layers = 2
  c.ffjord.rtol = c.ffjord.atol = 1e-3
  c.optim.warmup_steps = 1
  c.sample.num = 16 if len(c.model.data_shape) == 3 else 256
  c.sample.num_visualize = 16
  return c


def validate_config(config: Any, info: Any) -> None:
  """Checks the flow against the dataset before anything compiles (ConfigError otherwise)."""
  m = config.model
  name = checks.choice(m.name, 'model.name', MODELS, what='a flow')
  checks.dtype(m.get('dtype', 'float32'))
  shape = checks.data_shape(m.get('data_shape', ()), info)
  ds = config.dataset
  deq = ds.get('dequantize', 'none')
  if info.kind == 'image':
    checks.require(deq == 'uniform' and ds.get('binarize', 'none') == 'none',
                   f'a flow is a density of continuous data: 8-bit images need config.dataset.dequantize="uniform" '
                   f'(and binarize="none"); got dequantize={deq!r}, binarize={ds.get("binarize", "none")!r}.')
  else:
    checks.require(deq == 'none', f'{info.name!r} holds real-valued points with no 8-bit grid: set '
                   f'config.dataset.dequantize="none" (it is {deq!r}); their bits/dim are the density\'s own.')
  if name == 'ffjord':
    _validate_ffjord(config, info, shape)
  else:
    _validate_discrete(config, info, shape)
  deq = checks.choice(m.get('dequantization', 'uniform'), 'model.dequantization', ('uniform', 'variational'))
  if deq == 'variational':
    checks.require(len(shape) == 3 and name != 'ffjord', f'config.model.dequantization="variational" dequantizes '
                   f'8-bit images for a discrete flow; {name} on {info.name!r} needs "uniform".')
    checks.integer(m.get('deq_depth', 4), 'model.deq_depth')
    checks.integer(m.get('deq_hidden', 32), 'model.deq_hidden')
  if len(shape) == 3:
    pre = checks.choice(preprocess_mode(config), 'model.preprocess', ('logit', 'shift'))
    if pre == 'logit':
      checks.number(m.get('logit_alpha', 0.05), 'model.logit_alpha', 0.0, 0.5, low_open=True, high_open=True,
                    hint='alpha = 0 sends pixels at 0 to -inf and 1/2 collapses the data to a point')
  checks.number(config.sample.get('temperature', 1.0), 'sample.temperature', 0.0, hint='1 is the model itself')


def _validate_discrete(config: Any, info: Any, shape: tuple[int, ...]) -> None:
  m = config.model
  name = m.name
  checks.integer(m.get('depth', 8), 'model.depth')
  checks.integer(m.get('hidden', 64), 'model.hidden')
  checks.integer(m.get('net_layers', 2), 'model.net_layers')
  kind = checks.choice(model_field(m, 'coupling', COUPLINGS_OF[name][0]), 'model.coupling', COUPLINGS_OF[name],
                       what=f'a coupling of {name}')
  if kind == 'affine':
    checks.choice(m.get('scale_fn', 'tanh'), 'model.scale_fn', bj.SCALE_FNS)
  if kind == 'spline':
    checks.integer(m.get('spline_bins', 8), 'model.spline_bins', 2)
    checks.number(m.get('spline_bound', 3.0), 'model.spline_bound', 0.0, low_open=True,
                  hint='the splines act on [-B, B], identity outside')
  checks.number(m.get('actnorm_scale', 1.0), 'model.actnorm_scale', 0.0, low_open=True,
                hint='a zero scale is not invertible')
  checks.choice(m.get('permutation', 'lu'), 'model.permutation', PERMUTATIONS)
  checks.choice(m.get('split_prior', 'learned'), 'model.split_prior', SPLIT_PRIORS)
  checks.choice(model_field(m, 'prior', 'gaussian'), 'model.prior', PRIORS)
  if len(shape) == 1:
    checks.require(shape[0] >= 2, f'a coupling splits the dimensions of each point in two, and {info.name!r} points '
                   f'have {shape[0]}; couplings need D >= 2.')
    return
  if name == 'nice':
    return
  levels = checks.integer(m.get('num_levels', 2), 'model.num_levels')
  checks.divisible(shape, squeezes(name, levels), 'model.num_levels', info,
                   f'{name} (a squeeze per level{" but the last" if name == "realnvp" else ""})')
  for i, (_, _, c) in enumerate(level_shapes(name, shape, levels)):
    checks.require(c % 2 == 0, f'level {i} of {name} has {c} channels, which a channel coupling cannot split in '
                   f'two halves; use an even channel count (a squeeze multiplies it by 4).')


def _validate_ffjord(config: Any, info: Any, shape: tuple[int, ...]) -> None:
  checks.require('ffjord' in config, 'FFJORD needs config.ffjord (solver, tolerances, trace, ...); see '
                 'experiments/flows/flows_toy2d.py.')
  f = config.ffjord
  solver = checks.choice(f.get('solver', 'tsit5'), 'ffjord.solver', ODE_SOLVERS)
  checks.number(f.get('rtol', 1e-5), 'ffjord.rtol', 0.0, low_open=True, hint='a relative tolerance')
  checks.number(f.get('atol', 1e-5), 'ffjord.atol', 0.0, low_open=True, hint='an absolute tolerance')
  steps = checks.integer(f.get('steps', 0), 'ffjord.steps', 0, hint='0: adaptive steps')
  checks.require(steps > 0 or solver != 'euler', 'config.ffjord.solver="euler" has no error estimate for adaptive '
                 'steps; set config.ffjord.steps > 0 or use tsit5, dopri5 or heun.')
  checks.number(f.get('t1', 1.0), 'ffjord.t1', 0.0, low_open=True, hint='the integration time')
  checks.integer(f.get('max_steps', 1000), 'ffjord.max_steps')
  checks.choice(f.get('trace', 'exact'), 'ffjord.trace', ESTIMATORS)
  checks.choice(f.get('adjoint', 'checkpoint'), 'ffjord.adjoint', ffjord.ADJOINTS)
  checks.number(f.get('kinetic', 0.0), 'ffjord.kinetic', 0.0, hint='RNODE weight lambda_K')
  checks.number(f.get('jacobian', 0.0), 'ffjord.jacobian', 0.0, hint='RNODE weight lambda_J')
  checks.integer(f.get('hidden', 64), 'ffjord.hidden')
  checks.integer(f.get('layers', 3), 'ffjord.layers', 2)
  checks.choice(f.get('activation', 'softplus'), 'ffjord.activation', tuple(ffjord.ACTIVATIONS))
