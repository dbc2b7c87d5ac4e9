"""The family registry and the family contract (DESIGN.md section 2).

``config.family`` names a package ``gen_jax/families/<name>/`` that exports::

  init(rng, config, example_batch) -> TrainState
      Parameters and optimizer state; ``example_batch`` is a real global batch (data-dependent
      initialisation such as Glow's actnorm may use it).
  make_train_step(config) -> train_step(state, batch, rng) -> (state, metrics)
      Pure and jit-able, any sharding of its inputs; folds ``state.step`` into ``rng``; metrics are
      a flat dict of scalars with at least 'loss' and 'grad_norm'.
  make_eval_step(config) -> eval_step(state, batch, rng) -> {name: [B] per-example values}
      The loop reduces them over the eval split to mean +- standard error (padding rows masked).
  sample(state, rng, num, config, labels=None) -> samples [num, ...] in the data's scale
      Pure and jit-able (``num`` static). ``labels`` [num] int: the classes a conditional model
      draws (the default cycles 0..K-1); an unconditional model raises ValueError for labels.
  validate_config(config, dataset_info) -> None
      Raises ConfigError (``gen_jax.core.checks``) before anything compiles.

and optionally::

  visualize(state, batch, rng, config) -> {name: images [N, H, W, C] in [0, 1]}
      PNG grids written during training (image datasets).
  sampler_cost(state, num, config) -> (fn, args, calls) | None
      For samplers that loop (``lax.scan``): ``fn(*args)`` is one iteration's network call and
      ``calls`` their number, so the benchmark counts FLOPs as cost(fn) x calls (XLA's cost analysis
      counts a loop body once). None when the count is data-dependent (adaptive solvers).
  save_samples(samples, path_stem, config) -> path
      How ``--mode=sample`` writes samples (host numpy) when a PNG grid or .npy is not right, e.g.
      token ids decoded to text; ``path_stem`` has no extension.
  describe_nonfinite(metrics, config) -> str
      One sentence added to the loop's message when the loss becomes NaN/inf, from the step's host
      metrics (e.g. the layer where a flow's activations first overflowed). Train metrics whose names
      start with '_' are such diagnostics: the loop passes them here and never logs them.
  summarize_eval(results, config) -> {name: {'value', 'stderr', 'num_samples'}}
      Metrics of the whole eval split derived from the loop's per-example means (``results``, same
      shape), added to them, e.g. a corpus's exact bits/char as a ratio of two means.
  starts_pretrained(config) -> bool
      True when ``init`` loads pretrained weights (e.g. a Hugging Face checkpoint): ``--mode=eval`` and
      ``--mode=sample`` then work in a workdir without a checkpoint, from the initial state (step 0).

and the constant ``DEFAULT_EXPERIMENT`` (its headline experiment file, what ``./launch.sh bench`` measures
by default).

The loop (``gen_jax/train.py``), the evaluation (``gen_jax/eval``), the studies (``gen_jax/studies.py``)
and the benchmark use only these names: none of them names a family. ``docs/adding_a_family.md`` is
the recipe for a new one.
"""
import importlib
from types import ModuleType

from gen_jax.core.errors import ConfigError

FAMILIES = ('autoencoders', 'diffusion', 'gans', 'flows', 'transformers')
REQUIRED = ('init', 'make_train_step', 'make_eval_step', 'sample', 'validate_config')
OPTIONAL = ('visualize', 'sampler_cost', 'save_samples', 'describe_nonfinite', 'summarize_eval', 'starts_pretrained')


def get_family(name: str) -> ModuleType:
  """Imports the family module for ``config.family``; ConfigError if unknown."""
  if name not in FAMILIES:
    raise ConfigError(f'config.family={name!r} is not a family; allowed: {", ".join(FAMILIES)}.')
  module = importlib.import_module(f'gen_jax.families.{name}')
  missing = [f for f in REQUIRED if not hasattr(module, f)]
  if missing:
    raise TypeError(f'family {name!r} does not implement {missing} of the family contract.')
  return module
