"""Normalizing flows on a 2-D toy density (default toy2d/moons).

Variants (comma-separated, e.g. ``:spline,checkerboard``):
  nice | realnvp | glow | spline | ffjord                         the flow (default realnvp)
  moons | 8gaussians | 25gaussians | checkerboard | spirals | rings  the density (default moons)
  rnode                                                         FFJORD with RNODE regularisation
  hutchinson                                                    FFJORD with a Rademacher trace estimate
  tanh                                                          FFJORD's own toy network: tanh, end time learned from 0.5
  tiny                                                          seconds on CPU
  ./launch.sh --config=experiments/flows/flows_toy2d.py:spline,checkerboard --workdir=runs/spline_cb
Samples are written as .npy by --mode=sample; ``study_toy2d.py`` draws the density grids.
"""
from gen_jax.core.config import Variants
from gen_jax.families.flows.config import shrink_to_tiny, toy2d_config

MODELS = ('nice', 'realnvp', 'glow', 'spline', 'ffjord')
DENSITIES = ('moons', '8gaussians', '25gaussians', 'checkerboard', 'spirals', 'rings')
VARIANTS = Variants('tiny', *MODELS, *DENSITIES, 'rnode', 'hutchinson', 'tanh', exclusive=[MODELS, DENSITIES])


def get_config(arg: str | None = None):
  v = VARIANTS.parse(arg)
  name = v.pick(*MODELS, default='realnvp')
  c = toy2d_config(name, v.pick(*DENSITIES, default='moons'))
  m = c.model
  m.depth = {'nice': 8, 'realnvp': 8, 'glow': 8, 'spline': 4, 'ffjord': 1}[name]
  m.hidden = 128 if name != 'spline' else 64
  if name == 'spline':
    m.spline_bins = 16
    m.spline_bound = 4.0
  if name == 'ffjord':
    c.ffjord.hidden = 64
    c.ffjord.layers = 4
    c.ffjord.rtol = c.ffjord.atol = 1e-5
    c.batch_size = 256
    c.num_train_steps = 2500
    # A CNF first fits a Gaussian of the data's scale and sits there until it breaks out (rings: ~2,500
    # steps at a constant lr 1e-3, ~500 at 5e-3); a cosine decay from the start keeps it there for the whole
    # run (docs/flows.md, "FFJORD on rings"). A constant 5e-3 gets out early; the EMA averages the end.
    c.optim.lr = 5e-3
    c.optim.schedule = 'constant'
    c.optim.warmup_steps = 0
    c.log_every = 25              # NFE curves: how the dynamics' cost grows during training
  if 'rnode' in v:
    c.ffjord.kinetic = 0.05
    c.ffjord.jacobian = 0.05
  if 'hutchinson' in v:
    c.ffjord.trace = 'rademacher'
  if 'tanh' in v:  # rtqichen/ffjord train_toy.py: tanh, T = 0.5 trained (softplus and a fixed T = 1 by default)
    c.ffjord.activation = 'tanh'
    c.ffjord.t1 = 0.5
    c.ffjord.train_t1 = True
  if 'tiny' in v:
    shrink_to_tiny(c)
  return c
