"""Super-resolution of mnist5k digits (use case 6): an SRGAN-style generator against bicubic upsampling
and the same generator trained with the L1 content loss only.

  ./launch.sh python experiments/gans/study_super_resolution.py --workdir=runs/gan_superres            # x2: 14 -> 28
  ./launch.sh python experiments/gans/study_super_resolution.py --scale=4 --workdir=runs/gan_superres4  # x4: 7 -> 28
  ./launch.sh python experiments/gans/study_super_resolution.py --tiny      # seconds: a smoke test

The model is ``gen_jax/families/gans/superres.py`` (why it is not a ``config.model.name``: see its
docstring): a residual generator with sub-pixel upsampling on top of the bicubic upsampling, trained on
the train split's high-resolution digits in [0, 1] with their ``scale`` x ``scale`` block means as input,
``--steps`` updates of batch 32 (default 2,000), Adam(2e-4, 0.9, 0.999). Two generators with the same
architecture, initialisation and batches: ``l1`` (content loss only) and ``srgan`` (L1 + ``--adv_weight``
x the non-saturating adversarial loss of a DCGAN discriminator). Trained generators are kept under
``--models_dir`` (named by a hash of their config) and reused.

Scored on the 1,000 test digits: PSNR and SSIM against the true 28x28 image (mean and standard error
over the digits; ``gen_jax.eval.task_metrics``, data range 1), and FID / KID / precision / recall of the
super-resolved set against the test digits in the project classifier's feature space (as ``--mode=eval``
computes them; ``gen_jax.studies.sample_quality``). Writes ``super_resolution.json`` and
``super_resolution.png`` (rows: low-res | bicubic | L1 | SRGAN | high-res, 12 test digits).
"""
import hashlib
import json
import os
import time

import flax.serialization
import jax
import numpy as np
from absl import app, flags

from gen_jax import studies
from gen_jax.families.gans import superres
from gen_jax.families.gans.config import mnist5k_config

METHODS = ('bicubic', 'l1', 'srgan')
NUM_SHOWN = 12


def data_config():
  """The mnist5k config the study reads (images in [0, 1]) and scores with (FID etc. of [0, 1] images)."""
  c = mnist5k_config('dcgan')
  c.dataset.scale = '01'
  c.eval.metrics = ('fid', 'kid', 'precision_recall')
  return c


def model_config(scale: int, adv_weight: float, steps: int, tiny: bool):
  c = superres.sr_config(scale)
  c.adv_weight = float(adv_weight)
  if steps:
    c.num_steps = int(steps)
  if tiny:
    c.features, c.num_blocks, c.d_features, c.batch_size = 8, 1, (8, 8), 8
    c.num_steps = steps or 4
  superres.validate_sr_config(c)
  return c


def trained_generator(config, images: np.ndarray, models_dir: str) -> tuple[dict, dict]:
  """(generator params, info) of ``config`` trained on ``images``, or reused from ``models_dir``."""
  blob = json.dumps({'config': config.to_dict(), 'num_images': len(images)}, sort_keys=True)
  d = os.path.join(models_dir, 'srgan-' + hashlib.sha1(blob.encode()).hexdigest()[:8])
  path, record = os.path.join(d, 'generator.msgpack'), os.path.join(d, 'train.json')
  template = superres.init(jax.random.key(0), config).params['g']
  if os.path.isfile(path) and os.path.isfile(record):
    with open(path, 'rb') as f:
      params = flax.serialization.from_bytes(template, f.read())
    with open(record, encoding='utf-8') as f:
      return params, json.load(f)
  t0 = time.perf_counter()
  state, log = superres.train(config, images, log_every=max(1, config.num_steps // 4))
  info = {'train_wall_s': round(time.perf_counter() - t0, 1), 'steps': config.num_steps, 'log': log,
          'config': config.to_dict()}
  os.makedirs(d, exist_ok=True)
  with open(path, 'wb') as f:
    f.write(flax.serialization.to_bytes(jax.device_get(state.params['g'])))
  studies.save_json(record, info)
  return state.params['g'], info


def _mean_stderr(x: np.ndarray) -> tuple[float, float]:
  x = np.asarray(x, np.float64)
  return round(float(x.mean()), 4), round(float(x.std(ddof=1) / np.sqrt(len(x))), 4)


def run(workdir: str, scale: int = 2, adv_weight: float = 0.01, models_dir: str = '', tiny: bool = False,
        steps: int = 0) -> dict:
  configs = {'l1': model_config(scale, 0.0, steps, tiny), 'srgan': model_config(scale, adv_weight, steps, tiny)}
  models_dir = models_dir or os.path.join(workdir, 'models')
  dc = data_config()
  train = studies.load_split(dc, 'train', 256 if tiny else None)['image']
  test = studies.load_split(dc, 'test', 100 if tiny else None)['image']
  lr = np.asarray(superres.downsample(test, scale))
  outputs = {'bicubic': np.clip(np.asarray(superres.bicubic(lr, scale)), 0.0, 1.0)}
  rows, infos = [], {}
  for name in ('l1', 'srgan'):
    cfg = configs[name]
    params, info = trained_generator(cfg, train, models_dir)
    infos[name] = {k: info[k] for k in ('train_wall_s', 'steps', 'log', 'config')}
    sr_fn = jax.jit(superres.make_super_resolve(cfg))
    outputs[name] = studies.map_batches(lambda x, p=params, f=sr_fn: f(p, x), lr)
  for name in METHODS:
    s = {k: np.asarray(v) for k, v in superres.image_scores(outputs[name], test).items()}
    q = studies.flat(studies.sample_quality(dc, outputs[name]), 4)
    (p, p_se), (ss, ss_se) = _mean_stderr(s['psnr']), _mean_stderr(s['ssim'])
    rows.append({'method': name, 'psnr': p, 'psnr_stderr': p_se, 'ssim': ss, 'ssim_stderr': ss_se,
                 **{k: q.get(k) for k in ('fid', 'kid', 'kid_stderr', 'precision', 'recall')},
                 'train_wall_s': infos.get(name, {}).get('train_wall_s')})
    print(f'{name:8s} PSNR {p:.2f} ± {p_se:.2f} dB  SSIM {ss:.4f} ± {ss_se:.4f}  FID {rows[-1]["fid"]}', flush=True)
  figure(outputs, lr, test, scale, os.path.join(workdir, 'super_resolution.png'))
  result = {'scale': scale, 'lr_shape': list(lr.shape[1:]), 'hr_shape': list(test.shape[1:]),
            'num_train': len(train), 'num_test': len(test), 'adv_weight': adv_weight, 'device': studies.device_kind(),
            'table': rows, 'training': infos}
  studies.save_json(os.path.join(workdir, 'super_resolution.json'), result)
  with open(os.path.join(workdir, 'super_resolution.md'), 'w', encoding='utf-8') as f:
    f.write(studies.markdown(rows) + '\n')
  return result


def figure(outputs: dict, lr: np.ndarray, hr: np.ndarray, scale: int, path: str) -> str:
  """Rows low-res (shown with nearest-neighbour pixels) | bicubic | L1 | SRGAN | high-res; one test digit per column."""
  n = min(NUM_SHOWN, len(hr))
  blocky = np.repeat(np.repeat(lr[:n], scale, axis=1), scale, axis=2)
  panels = [(f'low-res {lr.shape[1]}x{lr.shape[2]}', blocky), ('bicubic', outputs['bicubic'][:n]),
            ('L1 only', outputs['l1'][:n]), ('SRGAN', outputs['srgan'][:n]), (f'high-res {hr.shape[1]}x{hr.shape[2]}', hr[:n])]
  plt = studies.pyplot()
  fig, axes = plt.subplots(len(panels), 1, figsize=(1.0 * n, 1.15 * len(panels)))
  for ax, (title, imgs) in zip(axes, panels):
    ax.imshow(np.concatenate(list(imgs[..., 0]), axis=1), cmap='gray', vmin=0, vmax=1, interpolation='nearest')
    ax.set_ylabel(title, rotation=0, ha='right', va='center', fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
  return studies.save_figure(fig, path, dpi=80)


def main(argv):
  del argv
  run(FLAGS.workdir, FLAGS.scale, FLAGS.adv_weight, FLAGS.models_dir, FLAGS.tiny, FLAGS.steps)


if __name__ == '__main__':
  FLAGS = flags.FLAGS
  studies.define_flags('runs/gan_superres')
  flags.DEFINE_integer('scale', 2, 'upsampling factor: 2 (14 -> 28) or 4 (7 -> 28)')
  flags.DEFINE_float('adv_weight', 0.01, "weight of the SRGAN generator's adversarial loss (the L1 model: 0)")
  app.run(main)
