"""Sampler specs and the speed-vs-quality measurement that the diffusion studies share.

A *spec* names a sampler and its settings on one line: ``name[:steps][:key=value,...]`` with name
ddpm | ddim (discrete time) or pc | em | ode (score SDEs), e.g. ``ddim:25:eta=0.5``, ``pc:200:snr=0.1``,
``ode:rtol=1e-3,atol=1e-3``; keys are ``config.sample`` fields. ``run_study`` draws samples for each
spec in compiled batches, times them, and scores them with ``gen_jax.studies`` (feature-space metrics
as ``--mode=eval`` computes them for image datasets with a project classifier, feature-free scores
for every dataset). Used by ``experiments/diffusion/study_samplers.py``, ``study_schedules.py`` and
``study_guidance.py``.
"""
import time
from typing import Any, Callable

import jax
import numpy as np

from gen_jax import studies
from gen_jax.core.state import eval_params
from gen_jax.families.diffusion import sampling as sample_lib
from gen_jax.families.diffusion import sde as sde_lib
from gen_jax.families.diffusion import sde_samplers

DISCRETE_SPECS = ('ddpm', 'ddpm:100', 'ddim:10', 'ddim:25', 'ddim:50', 'ddim:50:eta=1')
SDE_SPECS = ('pc:100', 'pc:500', 'em:100', 'em:500', 'ode:rtol=1e-3,atol=1e-3', 'ode')
# the feature-space metrics of a study row: the --mode=eval names (value, and stderr where defined)
FEATURE_METRICS = ('fid', 'kid', 'precision', 'recall', 'class_entropy', 'conditional_accuracy')


def parse_spec(spec: str) -> dict[str, Any]:
  """``'ddim:25:eta=0.5'`` -> the ``config.sample`` overrides it stands for."""
  name, *rest = spec.split(':')
  out: dict[str, Any] = {'sampler': {'em': 'pc'}.get(name, name)}
  if name == 'em':
    out.update(predictor='euler_maruyama', corrector='none')
  for part in rest:
    for item in part.split(','):
      if '=' in item:
        k, v = item.split('=', 1)
        k = {'rtol': 'ode_rtol', 'atol': 'ode_atol'}.get(k, k)
        out[k] = float(v) if any(c in v for c in '.e') else int(v) if v.lstrip('-').isdigit() else v
      elif item:
        out['steps'] = int(item)
  return out


def spec_config(config: Any, spec: str) -> Any:
  """A copy of ``config`` whose ``config.sample`` is set by ``spec``."""
  cfg = config.copy_and_resolve_references()
  cfg.sample.update(parse_spec(spec))
  return cfg


def nfe_per_sample(config: Any, ode_steps: int = 0) -> int:
  """Network evaluations per sample of ``config.sample`` (x2 with classifier-free guidance); for the
  adaptive ODE, 6 per accepted Tsit5 / Dopri5 step (FSAL) plus the final denoising call."""
  n = sample_lib.network_calls(config) if config.sample.sampler != 'ode' else 6 * ode_steps + 1
  guided = float(config.sample.get('guidance_scale', 1.0)) != 1.0
  return n * (2 if guided else 1)


def ode_steps(config: Any, params: Any, rng: jax.Array, num: int = 8) -> int:
  """Accepted steps of the adaptive probability-flow ODE sampler of ``config`` on ``num`` prior draws."""
  sde = sde_lib.sde_from_config(config.diffusion)
  score = sde_lib.make_score_fn(sde, sample_lib.guided_model_fn(config, params, sample_lib.sample_labels(config, num)))
  x1 = sde.prior_sample(rng, (num,) + tuple(config.model.data_shape))
  s = config.sample
  _, n = sde_samplers.probability_flow(sde, score, x1, 1.0, float(s.t_eps), float(s.ode_rtol), float(s.ode_atol),
                                       s.ode_solver)
  return int(n)


def time_sampler(fn: Callable, params: Any, rng: jax.Array, num: int, batch: int) -> tuple[np.ndarray, float, float]:
  """Compiles ``fn(params, rng) -> [batch, ...]`` once, then draws ``num`` samples in batches (keys
  ``fold_in(rng, i)``). Returns (samples [num, ...], compile seconds, seconds per batch)."""
  t0 = time.perf_counter()
  compiled = jax.jit(fn).lower(params, rng).compile()
  t_compile = time.perf_counter() - t0
  out, t_run = [], 0.0
  for i in range(-(-num // batch)):
    t0 = time.perf_counter()
    x = jax.block_until_ready(compiled(params, jax.random.fold_in(rng, i)))
    t_run += time.perf_counter() - t0
    out.append(np.asarray(x))
  return np.concatenate(out)[:num], t_compile, t_run / len(out)


def run_study(config: Any, state: Any, data: np.ndarray, specs: list[str], num: int, seed: int = 0,
              batch: int = 0, on_samples: Callable | None = None) -> list[dict]:
  """One row per spec: NFE, timing and quality of ``num`` samples drawn in batches of ``batch``.

  Quality: the feature-space metrics of ``--mode=eval`` (``FEATURE_METRICS``, same names, against
  the eval split) for datasets with a project classifier, and ``studies.point_quality`` against
  ``data`` [N, ...] (held-out examples) for every dataset. A conditional model's samples cycle
  through the classes (0..K-1 in every batch), so ``conditional_accuracy`` scores the requested
  class. ``on_samples(spec, samples)`` sees each spec's samples (numpy, the data's scale).
  """
  rows = []
  params = eval_params(state)
  batch = min(batch or num, num)
  for spec in specs:
    cfg = spec_config(config, spec)
    batch_labels = sample_lib.sample_labels(cfg, batch)
    fn = lambda p, r, c=cfg, y=batch_labels: sample_lib.sample_with_params(p, r, batch, c, y)  # noqa: E731
    rng = jax.random.key(seed)
    x, t_compile, t_batch = time_sampler(fn, params, rng, num, batch)
    if on_samples is not None:
      on_samples(spec, x)
    n_ode = ode_steps(cfg, params, rng) if cfg.sample.sampler == 'ode' else 0
    row = {'spec': spec, 'nfe': nfe_per_sample(cfg, n_ode), 'compile_s': round(t_compile, 2), 'batch': batch,
           's_per_batch': round(t_batch, 3), 'samples_per_s': round(batch / t_batch, 1)}
    if studies.has_feature_net(cfg):
      labels = None if batch_labels is None else np.tile(np.asarray(batch_labels), -(-num // batch))[:num]
      quality = studies.sample_quality(cfg, x, labels)
      row.update(studies.flat({k: v for k, v in quality.items() if k in FEATURE_METRICS}))
    row.update(studies.point_quality(x, data, cfg.dataset.name))
    rows.append(row)
  return rows
