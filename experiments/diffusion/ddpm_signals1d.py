"""DDPM with an MLP denoiser on 1-D signals (``signals1d``: sums of 1-3 sines plus noise, length 64).

Shows the diffusion family on non-image data of more than two dimensions. The denoiser sees the
64 samples as one vector (no convolution); data are used as stored (mean 0, std about 0.75).
Variants (comma-separated): cosine (schedule), v (parameterization), cond (conditioned on the
number of components, label dropout 0.1, sampled without guidance), cfg (the same with
classifier-free guidance 2), ddim (25 DDIM steps), tiny (seconds).
Measured by study_signals1d.py (5,000 steps, 2,000 samples): the default (eps, linear) learns
the line spectra; 'v' matches the mean spectrum and KID but generates band-limited noise (no
lines); 'cosine' with eps diverges while sampling (points are not clipped); guidance 2 lowers the
fraction of samples with the requested number of sines below that of 'cond'.
  ./launch.sh --config=experiments/diffusion/ddpm_signals1d.py --workdir=runs/ddpm_signals1d
  ./launch.sh python experiments/diffusion/study_signals1d.py --workdir=runs/study_signals1d
Samples are written as .npy by --mode=sample; the study plots and scores them.
"""
from gen_jax.core.config import Variants, base_config
from gen_jax.families.diffusion.config import diffusion_config, tiny_mlp

VARIANTS = Variants('tiny', 'cosine', 'v', 'cond', 'cfg', 'ddim', exclusive=[('cond', 'cfg')])
LENGTH = 64
NUM_CLASSES = 3  # label = number of sine components - 1


def get_config(arg: str | None = None):
  v = VARIANTS.parse(arg)
  c = diffusion_config(base_config())
  c.batch_size = 256
  c.num_train_steps = 5000
  c.log_every = 250
  c.eval_every = 2500
  c.checkpoint_every = 2500
  c.sample_every = 0           # not images: no sample grids (use --mode=sample or the study)
  c.eval_batch_size = 1000
  c.dataset.name = 'signals1d'
  c.dataset.scale = 'none'
  c.model.name = 'mlp'
  c.model.data_shape = (LENGTH,)
  c.model.hidden = 256
  c.model.num_layers = 4
  c.model.num_classes = 0
  c.diffusion.num_timesteps = 200
  c.diffusion.schedule = 'cosine' if 'cosine' in v else 'linear'
  c.diffusion.vlb_timesteps = 0
  c.optim.lr = 1e-3
  c.optim.schedule = 'cosine'
  c.optim.warmup_steps = 200
  c.optim.ema_decay = 0.999
  c.sample.num = 2000
  if 'v' in v:
    c.diffusion.parameterization = 'v'
  if 'cond' in v or 'cfg' in v:
    c.model.num_classes = NUM_CLASSES
    c.sample.guidance_scale = 2.0 if 'cfg' in v else 1.0
  if 'ddim' in v:
    c.sample.sampler = 'ddim'
    c.sample.steps = 25
  if 'tiny' in v:
    tiny_mlp(c)
    c.eval_batch_size = 500
  return c
