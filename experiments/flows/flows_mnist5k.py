"""Normalizing flows on the embedded mnist5k digits (28x28, uniformly dequantized, in [0, 1]).

Variants (comma-separated, e.g. ``:glow,tiny``):
  nice | realnvp | glow | spline | ffjord    the flow (default glow)
  additive                                  additive instead of affine couplings (RealNVP, Glow; NICE's own)
  sigmoid | exp                             affine scale: Glow's sigmoid(h + 2) or unbounded exp (default:
                                            RealNVP's tanh-bounded log-scale, which trains faster here)
  plain                                     plain 1x1 convolutions instead of LU-decomposed ones (Glow, spline)
  logit | shift                             the pre-transform (default logit; shift: by -1/2, as in Glow)
  rnode                                     FFJORD with kinetic-energy and Jacobian-norm regularisation
  vardeq                                    variational dequantization (Flow++): a learned q(u | x)
  tiny                                      seconds on CPU: a smoke test
  ./launch.sh --config=experiments/flows/flows_mnist5k.py:glow,tiny --workdir=/tmp/glow_tiny
  ./launch.sh --config=experiments/flows/flows_mnist5k.py:realnvp --workdir=runs/realnvp_mnist5k
  ./launch.sh --config=experiments/flows/flows_mnist5k.py:realnvp --workdir=runs/realnvp_mnist5k --mode=eval
``--mode=eval`` reports test bits/dim (exact; converted like every family's, ``docs/evaluation.md``), the
x -> z -> x reconstruction error and FID/KID/precision/recall of 1,000 samples at
``config.sample.temperature``.
"""
from gen_jax.core.config import Variants
from gen_jax.families.flows.config import mnist5k_config, shrink_to_tiny

MODELS = ('nice', 'realnvp', 'glow', 'spline', 'ffjord')
SCALES = ('sigmoid', 'exp')
PRE = ('logit', 'shift')
VARIANTS = Variants('tiny', *MODELS, 'additive', *SCALES, 'plain', *PRE, 'rnode', 'vardeq',
                    exclusive=[MODELS, SCALES, PRE])


def get_config(arg: str | None = None):
  v = VARIANTS.parse(arg)
  name = v.pick(*MODELS, default='glow')
  c = mnist5k_config(name)
  m = c.model
  # CPU budgets: each run is a few minutes of one core (docs/flows.md gives the measured wall times on a
  # machine shared by several jobs); the architectures are the papers', narrowed and shortened
  if name == 'nice':
    m.depth = 4
    m.hidden = 256
    m.net_layers = 3
    c.num_train_steps = 20000  # MLP couplings: about 80 steps/s on CPU
    c.log_every = 1000
    c.eval_every = c.checkpoint_every = c.sample_every = 5000
  elif name == 'realnvp':
    m.depth = 2
    m.num_levels = 2
    m.hidden = 32
    c.num_train_steps = 1000
  elif name == 'glow':
    m.depth = 8
    m.num_levels = 2
    m.hidden = 64
    c.num_train_steps = 2500
  elif name == 'spline':  # Glow's architecture with spline couplings
    m.depth = 2
    m.num_levels = 2
    m.hidden = 32
    m.spline_bins = 8
    m.spline_bound = 4.0
    c.num_train_steps = 600
  else:  # ffjord: one CNF on the logit-transformed image, Hutchinson trace
    c.ffjord.trace = 'rademacher'
    c.ffjord.hidden = 32
    c.ffjord.layers = 3
    c.ffjord.rtol = c.ffjord.atol = 1e-4
    c.num_train_steps = 150
    c.batch_size = 32
    c.eval_batch_size = 100
    c.optim.warmup_steps = 15
    c.log_every = 5  # the NFE of every logged step is the curve to watch
  if 'additive' in v:
    m.coupling = 'additive'
  m.scale_fn = v.pick(*SCALES, default=m.scale_fn)
  if 'plain' in v:
    m.permutation = 'conv'
  m.preprocess = v.pick(*PRE, default=m.preprocess)
  if 'vardeq' in v:
    m.dequantization = 'variational'
    m.deq_depth = 4
    m.deq_hidden = 32
  if 'rnode' in v:
    c.ffjord.kinetic = 0.01
    c.ffjord.jacobian = 0.01
  if 'tiny' in v:
    shrink_to_tiny(c)
    m.num_levels = 2
    if name == 'nice':
      m.hidden = 16
  return c
