"""Sampling speed vs quality of the diffusion samplers on one trained run.

  .venv/bin/python experiments/diffusion/study_samplers.py \
      --config=experiments/diffusion/ddpm_toy2d.py:8gaussians --workdir=runs/ddpm_toy2d_8g
  .venv/bin/python experiments/diffusion/study_samplers.py --config=experiments/diffusion/ddpm_mnist5k.py \
      --workdir=runs/ddpm_mnist5k --specs=ddpm,ddim:10,ddim:50,ddim:50:eta=1 --num=500

Trains the run first when its workdir has no checkpoint (``--train``). Then, for every sampler spec,
draws ``--num`` samples from the EMA parameters in compiled calls of ``--batch`` samples and reports:
compile time (s), seconds per batch and samples/s, network evaluations per sample (NFE), and quality
against held-out data. For datasets with a project classifier (mnist5k, digits): FID, KID,
precision / recall and class entropy in its feature space, as ``--mode=eval`` computes them (plus
the accuracy of the requested class for a conditional model). For every dataset: KID on raw values
(``kid_raw``; a feature-free distance), the error of the per-dimension mean / std, and mode coverage
for the Gaussian-mixture toys. Writes ``<workdir>/study_samplers.json`` and prints a markdown table.

Specs: ``name[:steps][:key=value...]`` with name ddpm | ddim (discrete) or pc | em | ode (SDE);
``ddim:25:eta=0.5``, ``pc:200:snr=0.1``, ``ode:rtol=1e-3``. Keys are ``config.sample`` fields.
"""
import json
import os
import sys
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

DISCRETE_SPECS = ('ddpm', 'ddpm:100', 'ddim:10', 'ddim:25', 'ddim:50', 'ddim:50:eta=1')
SDE_SPECS = ('pc:100', 'pc:500', 'em:100', 'em:500', 'ode:rtol=1e-3,atol=1e-3', 'ode')


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


def nfe_per_sample(config: Any, overrides: dict[str, Any], ode_steps: int = 0) -> int:
  """Network evaluations per sample (x2 with classifier-free guidance); for the adaptive ODE, 6 per
  accepted Tsit5 / Dopri5 step (FSAL) plus the final denoising call."""
  from gen_jax.families.diffusion.sampling import network_calls
  cfg = config.copy_and_resolve_references()
  cfg.sample.update(overrides)
  n = network_calls(cfg) if overrides['sampler'] != 'ode' else 6 * ode_steps + 1
  guided = float(cfg.sample.get('guidance_scale', 1.0)) != 1.0
  return n * (2 if guided else 1)


def quality(samples, data, dataset_name: str) -> dict[str, float]:
  """Feature-free quality: KID on raw values, mean / std errors, and mode coverage for the
  Gaussian-mixture toys."""
  import numpy as np
  from gen_jax.eval import kid, mode_coverage
  x = np.asarray(samples, np.float64).reshape(len(samples), -1)
  y = np.asarray(data, np.float64).reshape(len(data), -1)
  k, k_std = kid(x, y, num_subsets=20, subset_size=min(1000, len(x), len(y)))
  out = {'kid_raw': float(k), 'kid_raw_std': float(k_std), 'mean_err': float(np.abs(x.mean(0) - y.mean(0)).mean()),
         'std_err': float(np.abs(x.std(0) - y.std(0)).mean())}
  if dataset_name.startswith('toy2d/'):
    from gen_jax.data import toy2d_mode_std, toy2d_modes
    density = dataset_name.split('/', 1)[1]
    try:
      cov = mode_coverage(x, toy2d_modes(density), toy2d_mode_std(density))
      out.update(modes_hit=int(cov['modes_hit']), high_quality=float(cov['high_quality_fraction']))
    except ValueError:  # not a Gaussian mixture
      pass
  return out


def has_feature_net(config: Any) -> bool:
  """True when the project has a feature classifier for the config's dataset (mnist5k, digits)."""
  from gen_jax.eval.feature_net import DATASETS
  return config.dataset.name in DATASETS


def feature_quality(samples, config: Any, labels=None) -> dict[str, float]:
  """FID, KID (± stderr over subsets), precision / recall, class entropy and, for labelled samples,
  the classifier's accuracy on the requested class -- all in the project classifier's feature
  space against the eval split (the reference of ``--mode=eval``; see ``gen_jax/eval``).

  Args:
    samples: images [N, H, W, C] in ``config.dataset.scale``.
    config: the experiment config (``config.eval`` sizes are used).
    labels: optional [N] requested classes of conditional samples.
  """
  import numpy as np
  from gen_jax.eval import config_eval, harness
  metrics = ('fid', 'kid', 'precision_recall', 'classifier')
  cfg = config.copy_and_resolve_references()
  cfg.eval.metrics = metrics
  st = config_eval.eval_settings(cfg)
  net = config_eval.feature_net_for_config(cfg)
  extract = harness.make_feature_extractor(net, st['sample_batch_size'])
  ref = config_eval.reference_for_config(cfg, net, extract)
  samples = np.asarray(samples, np.float32)
  b = st['sample_batch_size']
  batches = ({'image': samples[i:i + b], **({} if labels is None else {'label': np.asarray(labels)[i:i + b]})}
             for i in range(0, len(samples), b))
  gen = harness.reference_features(batches, extract, net, metrics=metrics, scale=cfg.dataset.get('scale', '01'))
  res = harness.compare_feature_sets(gen, ref, metrics, kid_subsets=st['kid_subsets'],
                                     kid_subset_size=st['kid_subset_size'], pr_k=st['pr_k'])
  out = {'fid': res['fid']['value'], 'kid': res['kid']['value'], 'kid_se': res['kid']['stderr'],
         'precision': res['precision']['value'], 'recall': res['recall']['value'],
         'class_entropy': res['class_entropy']['value']}
  if 'conditional_accuracy' in res:
    out['accuracy'] = res['conditional_accuracy']['value']
  return {k: None if v is None else float(v) for k, v in out.items()}  # kid_se: None when undefined


def time_sampler(fn, params, rng, num: int, batch: int):
  """Compiles ``fn(params, rng) -> [batch, ...]`` once, then draws ``num`` samples in batches
  (keys ``fold_in(rng, i)``). Returns (samples [num, ...], compile seconds, seconds per batch)."""
  import jax
  import numpy as np
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


def run_study(config: Any, state: Any, data, specs: list[str], num: int, seed: int = 0,
              batch: int = 0, on_samples=None) -> list[dict]:
  """One row per spec: timing, NFE and quality of ``num`` samples drawn in batches of ``batch``
  (0: all at once) -- feature-space FID/KID for datasets with a project classifier, raw-value KID
  otherwise -- against ``data`` [N, ...] (held-out examples). ``on_samples(spec, samples)`` sees
  each spec's samples (numpy, the data's scale)."""
  import jax
  from gen_jax.families.diffusion import sampling as sample_lib
  from gen_jax.families.diffusion import sde as sde_lib
  from gen_jax.families.diffusion import sde_samplers
  from gen_jax.families.diffusion.step import eval_params
  rows = []
  params = eval_params(state)
  batch = min(batch or num, num)
  for spec in specs:
    over = parse_spec(spec)
    cfg = config.copy_and_resolve_references()
    cfg.sample.update(over)
    labels = sample_lib.sample_labels(cfg, num)
    fn = lambda p, r, c=cfg: sample_lib.sample_with_params(  # noqa: E731
        p, r, batch, c, None if labels is None else sample_lib.sample_labels(c, batch))
    rng = jax.random.key(seed)
    x, t_compile, t_batch = time_sampler(fn, params, rng, num, batch)
    if on_samples is not None:
      on_samples(spec, x)
    ode_steps = 0
    if over['sampler'] == 'ode':  # count the adaptive solver's steps once
      sde = sde_lib.sde_from_config(cfg.diffusion)
      score = sde_lib.make_score_fn(sde, sample_lib.guided_model_fn(cfg, params, sample_lib.sample_labels(cfg, 8)))
      x1 = sde.prior_sample(rng, (8,) + tuple(cfg.model.data_shape))
      _, n = sde_samplers.probability_flow(sde, score, x1, 1.0, float(cfg.sample.t_eps), float(cfg.sample.ode_rtol),
                                           float(cfg.sample.ode_atol), cfg.sample.ode_solver)
      ode_steps = int(n)
    row = {'spec': spec, 'nfe': nfe_per_sample(cfg, over, ode_steps), 'compile_s': round(t_compile, 2),
           'batch': batch, 's_per_batch': round(t_batch, 3), 'samples_per_s': round(batch / t_batch, 1)}
    if has_feature_net(cfg):
      row.update(feature_quality(x, cfg, None if labels is None else jax.device_get(
          jax.numpy.tile(sample_lib.sample_labels(cfg, batch), -(-num // batch))[:num])))
    row.update(quality(x, data, cfg.dataset.name))
    rows.append(row)
  return rows


def markdown(rows: list[dict]) -> str:
  keys = list(dict.fromkeys(k for r in rows for k in r))
  fmt = lambda v: f'{v:.4g}' if isinstance(v, float) else str(v)  # noqa: E731
  lines = ['| ' + ' | '.join(keys) + ' |', '|' + '---|' * len(keys)]
  lines += ['| ' + ' | '.join(fmt(r.get(k, '')) for k in keys) + ' |' for r in rows]
  return '\n'.join(lines)


def main(argv):
  del argv
  import jax
  import numpy as np
  from gen_jax import families, train
  from gen_jax import data as data_lib
  from gen_jax.core.config import config_to_dict
  config = FLAGS.config
  workdir = FLAGS.workdir
  if 'diffusion' not in families.FAMILIES:  # until the family is registered
    families.FAMILIES = families.FAMILIES + ('diffusion',)
  _, state = train.trained_state(config, workdir, FLAGS.train)
  data = []
  for batch in data_lib.make_eval_iterator(config):
    key = 'image' if 'image' in batch else 'x'
    data.append(np.asarray(batch[key])[np.asarray(batch['mask']) > 0])
    if sum(len(d) for d in data) >= FLAGS.num:
      break
  data = np.concatenate(data)[:max(FLAGS.num, 1000)]
  specs = FLAGS.specs or list(DISCRETE_SPECS if config.diffusion.formulation == 'discrete' else SDE_SPECS)
  rows = run_study(config, state, data, specs, FLAGS.num, batch=FLAGS.batch)
  print(markdown(rows))
  with open(os.path.join(workdir, 'study_samplers.json'), 'w', encoding='utf-8') as f:
    json.dump({'config': config_to_dict(config), 'device': jax.devices()[0].device_kind, 'num': FLAGS.num,
               'rows': rows}, f, indent=2)
  print(f'Wrote {os.path.join(workdir, "study_samplers.json")}.')


if __name__ == '__main__':
  from absl import app, flags
  from ml_collections import config_flags
  config_flags.DEFINE_config_file('config', os.path.join(ROOT, 'experiments/diffusion/ddpm_toy2d.py'),
                                  'Experiment config[:variant].', lock_config=False)
  flags.DEFINE_string('workdir', 'runs/study_samplers', 'A trained run of that config (trained here if empty).')
  flags.DEFINE_list('specs', [], 'Sampler specs (default: all for the formulation).')
  flags.DEFINE_integer('num', 1000, 'Samples per sampler.')
  flags.DEFINE_integer('batch', 500, 'Samples per sampler call (the timed unit; 0: all --num at once).')
  flags.DEFINE_bool('train', True, 'Train the run first when the workdir has no checkpoint.')
  FLAGS = flags.FLAGS
  app.run(main)
