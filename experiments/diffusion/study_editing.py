"""Inpainting and interpolation with a trained discrete-time diffusion model on images.

  ./launch.sh python experiments/diffusion/study_editing.py \
      --config=experiments/diffusion/ddpm_mnist5k.py --workdir=runs/ddpm_mnist5k

Inpainting: the first ``--num`` test images, each with two masks (the bottom half hidden, a centred
12x12 square hidden), filled in by replacement sampling (Song et al. 2021: the known pixels are
re-noised to the current step at every reverse step) and by RePaint (Lugmayr et al. 2022:
``--jump_length``/``--jump_n_sample`` resampling). Reported per mask and method: the project
classifier's accuracy on the completed images against the true digit (does the completion keep the
digit's identity?), the same accuracy of the masked input with the hole filled by the mean grey value
(the floor) and of the original images (the ceiling), the PSNR of the filled region against the
hidden pixels, and the mean absolute jump across the mask border relative to the original's (how
well the two regions are harmonised; 1 = as smooth as real images).

Interpolation: pairs of test images are DDIM-inverted (``--ddim_steps``, eta = 0) to their latents
x_T, which are slerped and decoded; the end points measure the inversion round trip (PSNR).

Writes ``inpainting.png``, ``interpolation.png`` and ``study_editing.json`` to ``--out`` (default
the workdir) and prints the table. Trains the run first when its workdir has no checkpoint (``--train``).
"""
import os
import time
from typing import Any

import jax
import numpy as np

from gen_jax import studies
from gen_jax.core.images import save_image_grid
from gen_jax.core.state import eval_params
from gen_jax.eval import harness
from gen_jax.eval.config_eval import feature_net_for_config
from gen_jax.families.diffusion import editing
from gen_jax.families.diffusion.models import variance_type
from gen_jax.families.diffusion.sampling import clip_denoised, guided_model_fn
from gen_jax.families.diffusion.schedules import schedule_from_config
from gen_jax.families.diffusion.step import formulation


def make_masks(h: int, w: int) -> dict:
  """Known-pixel masks [H, W, 1] (1 = known): 'bottom_half' hides rows H/2.., 'center' a centred square."""
  bottom = np.ones((h, w, 1), np.float32)
  bottom[h // 2:] = 0.0
  center = np.ones((h, w, 1), np.float32)
  s = (3 * min(h, w)) // 7  # 12 for 28x28
  r0, c0 = (h - s) // 2, (w - s) // 2
  center[r0:r0 + s, c0:c0 + s] = 0.0
  return {'bottom_half': bottom, 'center': center}


def border_jump(x, mask) -> float:
  """Mean |difference| between horizontally / vertically adjacent pixels that straddle the mask border."""
  x = np.asarray(x, np.float64)[..., 0]
  m = np.asarray(mask)[..., 0] > 0.5
  dv = np.abs(x[:, 1:, :] - x[:, :-1, :])[:, m[1:, :] != m[:-1, :]]
  dh = np.abs(x[:, :, 1:] - x[:, :, :-1])[:, m[:, 1:] != m[:, :-1]]
  return float(np.concatenate([dv.reshape(len(x), -1), dh.reshape(len(x), -1)], axis=1).mean())


def psnr_region(x, ref, mask, data_range: float = 2.0) -> float:
  """PSNR (dB) of ``x`` against ``ref`` over the unknown pixels (mask == 0), images in [-1, 1]."""
  unknown = np.broadcast_to(np.asarray(mask) < 0.5, np.shape(x))
  mse = float(np.mean((np.asarray(x, np.float64) - np.asarray(ref, np.float64))[unknown] ** 2))
  return float(10.0 * np.log10(data_range ** 2 / max(mse, 1e-12)))


def classify(images, config: Any):
  """The project classifier's predicted classes of images in [-1, 1]."""
  net = feature_net_for_config(config)
  _, logits = harness.make_feature_extractor(net, 250)(np.asarray(images, np.float32), '-11')
  return np.argmax(logits, axis=-1)


def run_inpainting(config: Any, state: Any, images, labels, jump_length: int, jump_n_sample: int,
                   seed: int = 0, batch: int = 250) -> tuple[list[dict], dict]:
  """Rows of the inpainting table and {(mask, method): completed images} for the figure."""
  masks = make_masks(*images.shape[1:3])
  methods = {'replacement': (1, 1), 'repaint': (jump_length, jump_n_sample)}
  base = config.copy_and_resolve_references()
  rows, outputs = [], {}
  acc_orig = float(np.mean(classify(images, config) == labels))
  for mask_name, mask in masks.items():
    filled = images * mask  # [-1, 1] data: 0 is the mean grey
    acc_floor = float(np.mean(classify(filled, config) == labels))
    jump_ref = border_jump(images, mask)
    for method, (jl, jn) in methods.items():
      cfg = base.copy_and_resolve_references()
      cfg.sample.repaint_jump_length, cfg.sample.repaint_jump_n_sample = jl, jn
      fn = jax.jit(lambda s, x, r, c=cfg, m=mask: editing.inpaint_with_state(s, c, x, m, r))
      out, t_run, t0 = [], 0.0, time.perf_counter()
      for i in range(0, len(images), batch):
        chunk = images[i:i + batch]
        n = len(chunk)
        if n < batch:  # keep one compiled shape
          chunk = np.concatenate([chunk, np.zeros((batch - n,) + chunk.shape[1:], chunk.dtype)])
        t1 = time.perf_counter()
        out.append(np.asarray(jax.block_until_ready(fn(state, chunk, jax.random.fold_in(jax.random.key(seed), i))))[:n])
        t_run += time.perf_counter() - t1
      x = np.concatenate(out)
      outputs[(mask_name, method)] = x
      nfe = int(np.sum(np.diff(editing.repaint_schedule(cfg.diffusion.num_timesteps, jl, jn)) < 0))
      rows.append({'mask': mask_name, 'method': method, 'nfe': nfe,
                   'accuracy': float(np.mean(classify(x, config) == labels)),
                   'accuracy_masked_input': acc_floor, 'accuracy_original': acc_orig,
                   'psnr_hidden_db': round(psnr_region(x, images, mask), 2),
                   'border_jump_rel': round(border_jump(x, mask) / max(jump_ref, 1e-12), 3),
                   'seconds': round(time.perf_counter() - t0, 1), 'seconds_sampling': round(t_run, 1)})
  return rows, outputs


def run_interpolation(config: Any, state: Any, images, pairs: int, points: int, ddim_steps: int):
  """[pairs, points, H, W, C] interpolations and the inversion round-trip PSNR of the end points."""
  fn = guided_model_fn(config, eval_params(state), None)
  s = schedule_from_config(config.diffusion)
  interp = jax.jit(lambda a, b: editing.interpolate(
      fn, s, a, b, points, config.diffusion.get('parameterization', 'eps'), ddim_steps, variance_type(config),
      clip_denoised(config)))
  rows = np.stack([np.asarray(interp(images[2 * i], images[2 * i + 1])) for i in range(pairs)])
  ends = np.concatenate([rows[:, 0], rows[:, -1]])
  refs = np.concatenate([images[0:2 * pairs:2], images[1:2 * pairs:2]])
  mse = float(np.mean((ends.astype(np.float64) - refs) ** 2))
  return rows, float(10.0 * np.log10(4.0 / max(mse, 1e-12)))


def main(argv):
  del argv
  config = FLAGS.config
  if formulation(config) != 'discrete' or len(tuple(config.model.data_shape)) != 3:
    raise SystemExit('study_editing needs a discrete-time (DDPM) model of images, e.g. '
                     'experiments/diffusion/ddpm_mnist5k.py.')
  if int(config.model.get('num_classes', 0) or 0):
    config.sample.guidance_scale = 1.0  # unconditional editing of a conditional model: labels cycle
  workdir, out_dir = FLAGS.workdir, FLAGS.out or FLAGS.workdir
  _, state = studies.trained_state(config, workdir, FLAGS.train)
  step = int(np.asarray(state.step))
  num = max(FLAGS.num, 2 * FLAGS.pairs, 8)
  test = studies.load_split(config, num=num)
  images, labels = test['image'], test['label']
  rows, outputs = run_inpainting(config, state, images[:FLAGS.num], labels[:FLAGS.num], FLAGS.jump_length,
                                 FLAGS.jump_n_sample, batch=min(FLAGS.batch, FLAGS.num))
  ddim_steps = min(FLAGS.ddim_steps, int(config.diffusion.num_timesteps))
  interp, inv_psnr = run_interpolation(config, state, images, FLAGS.pairs, FLAGS.points, ddim_steps)
  os.makedirs(out_dir, exist_ok=True)
  k = min(8, FLAGS.num)
  unit = lambda x: np.clip((np.asarray(x) + 1.0) / 2.0, 0.0, 1.0)  # noqa: E731
  grid = []
  for mask_name, mask in make_masks(*images.shape[1:3]).items():
    shown = images[:k] * mask + (1.0 - mask) * 0.4  # hidden pixels shown as light grey
    grid += [images[:k], shown, outputs[(mask_name, 'replacement')][:k], outputs[(mask_name, 'repaint')][:k]]
  save_image_grid(unit(np.concatenate(grid)), os.path.join(out_dir, 'inpainting.png'), ncols=k, scale=3)
  save_image_grid(unit(interp.reshape((-1,) + interp.shape[2:])), os.path.join(out_dir, 'interpolation.png'),
                  ncols=FLAGS.points, scale=3)
  print(studies.markdown(rows))
  print(f'DDIM-{ddim_steps} inversion round trip of {2 * FLAGS.pairs} images: {inv_psnr:.2f} dB PSNR')
  result = {'workdir': workdir, 'checkpoint_step': step, 'num_images': FLAGS.num,
            'jump_length': FLAGS.jump_length, 'jump_n_sample': FLAGS.jump_n_sample, 'inpainting': rows,
            'interpolation': {'pairs': FLAGS.pairs, 'points': FLAGS.points, 'ddim_steps': ddim_steps,
                              'inversion_psnr_db': round(inv_psnr, 2)},
            'figures': {'inpainting': 'inpainting.png (per mask: original, masked, replacement, RePaint)',
                        'interpolation': 'interpolation.png (one pair per row)'}}
  studies.save_json(os.path.join(out_dir, 'study_editing.json'), result)
  print(f'Wrote {out_dir}/inpainting.png, interpolation.png and study_editing.json.')


if __name__ == '__main__':
  from absl import app, flags
  from ml_collections import config_flags
  config_flags.DEFINE_config_file('config', os.path.join(os.path.dirname(__file__), 'ddpm_mnist5k.py'),
                                  'Experiment config[:variant] (a discrete-time image model).', lock_config=False)
  flags.DEFINE_string('workdir', 'runs/ddpm_mnist5k', 'A trained run of that config.')
  flags.DEFINE_string('out', '', 'Where figures and JSON go (default: the workdir).')
  flags.DEFINE_integer('num', 200, 'Test images to inpaint (per mask and method).')
  flags.DEFINE_integer('batch', 200, 'Images per compiled inpainting call.')
  flags.DEFINE_integer('jump_length', 10, 'RePaint: steps jumped back each time.')
  flags.DEFINE_integer('jump_n_sample', 10, 'RePaint: resamplings per jump point (1 = replacement).')
  flags.DEFINE_integer('pairs', 4, 'Interpolated pairs (rows of interpolation.png).')
  flags.DEFINE_integer('points', 10, 'Points per interpolation, end points included.')
  flags.DEFINE_integer('ddim_steps', 50, 'DDIM steps of the inversion and decoding.')
  flags.DEFINE_bool('train', False, 'Train the run first when the workdir has no checkpoint.')
  FLAGS = flags.FLAGS
  app.run(main)
