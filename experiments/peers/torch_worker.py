"""PyTorch side of the duel: mirrors of the gen_jax models (and the diffusers UNet peer), timed on request.

Same protocol as jax_worker.py ('run N', 'pipe N' (same as run for eager torch), 'quit').
Usage: python torch_worker.py MODEL   (vae | vae_bare | mlp | mlp_bare | unet | unet_projopt | gpt | dcgan | glow)
  gpt             : Hugging Face GPT2LMHeadModel, 4 layers, 4 heads, width 128, context 128, vocab 96, dropout 0.1
                    (its defaults), tied head, AdamW(lr 1e-3, wd 0.01) -- the peer named in issue 12
  dcgan           : mirror of experiments/gans/dcgan.py (G: dense to 7x7x64, BN, ReLU, 4x4 stride-2 transposed
                    convs 64->32->1 with BN+ReLU, tanh; D: 4x4 stride-2 convs 1->32->64, LeakyReLU 0.2, dense),
                    non-saturating loss, one D then one G update per step, Adam(2e-4, 0.5, 0.999), G EMA 0.999
  vae / mlp       : the project's default optimizer tail mirrored: clip_grad_norm_(1.0), Adam (warm-up+cosine
                    lr), EMA with decay min(0.999, (1+s)/(10+s)), grad-norm metric
  glow            : mirror of experiments/flows/flows_mnist5k.py (Glow: logit pre-transform, 2 levels x 8 steps of
                    ActNorm, LU 1x1 conv, affine coupling with tanh-bounded log-scale and a 64-wide conv net, learned
                    split and top priors), NLL per dimension, batch 64, the flows' tail: clip 50, Adam (warm-up +
                    cosine lr), EMA
  *_bare / unet   : plain Adam (as refs/bench_peers.py)
"""
import json
import math
import os
import statistics
import sys
import time

os.environ.setdefault('HF_HUB_OFFLINE', '1')
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import duel_data  # noqa: E402

torch.set_num_threads(int(os.environ.get('TORCH_THREADS', '2')))
CHANNELS_LAST = os.environ.get('TORCH_CHANNELS_LAST', '0') == '1'


def emit(obj):
  sys.stdout.write(json.dumps(obj) + '\n')
  sys.stdout.flush()


def gelu():
  return nn.GELU(approximate='tanh')  # flax.linen.gelu defaults to the tanh approximation


class ConvVAE(nn.Module):
  """Mirror of gen_jax ConvEncoder/ConvDecoder, features (16, 32), hidden 256, latent 32, 28x28x1.
  Flax 'SAME' padding of a 4x4 stride-2 conv on 28 pads 1 on each side -> torch padding=1."""

  def __init__(self, feats=(16, 32), hidden=256, latent=32):
    super().__init__()
    self.latent = latent
    f1, f2 = feats
    self.enc = nn.Sequential(
        nn.Conv2d(1, f1, 4, stride=2, padding=1), gelu(),
        nn.Conv2d(f1, f2, 4, stride=2, padding=1), gelu(),
        nn.Flatten(), nn.Linear(f2 * 7 * 7, hidden), gelu(), nn.Linear(hidden, 2 * latent))
    self.dec = nn.Sequential(
        nn.Linear(latent, hidden), gelu(), nn.Linear(hidden, 7 * 7 * f2), gelu(), nn.Unflatten(1, (f2, 7, 7)),
        nn.Conv2d(f2, 4 * f2, 3, padding=1), nn.PixelShuffle(2), gelu(),     # depth_to_space
        nn.Conv2d(f2, 4 * f1, 3, padding=1), nn.PixelShuffle(2), gelu(),
        nn.Conv2d(f1, 1, 3, padding=1))

  def forward(self, x):
    mu, logvar = self.enc(x).chunk(2, dim=1)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
    return self.dec(z), mu, logvar


class MLPVAE(nn.Module):
  """Mirror of gen_jax MLPEncoder/MLPDecoder, hidden (512, 256), latent 32."""

  def __init__(self, hidden=(512, 256), latent=32, d=784):
    super().__init__()
    h1, h2 = hidden
    self.enc = nn.Sequential(nn.Flatten(), nn.Linear(d, h1), gelu(), nn.Linear(h1, h2), gelu(),
                             nn.Linear(h2, 2 * latent))
    self.dec = nn.Sequential(nn.Linear(latent, h2), gelu(), nn.Linear(h2, h1), gelu(), nn.Linear(h1, d),
                             nn.Unflatten(1, (1, 28, 28)))

  def forward(self, x):
    mu, logvar = self.enc(x).chunk(2, dim=1)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
    return self.dec(z), mu, logvar


class DCGANGenerator(nn.Module):
  """Mirror of gen_jax DCGANGenerator(features=(64, 32), upsample='transpose', norm='batch', tanh); flax's
  'SAME' 4x4 stride-2 transposed convolution 7 -> 14 -> 28 is torch's padding=1. BatchNorm momentum 0.9 (flax)
  is torch's 0.1."""

  def __init__(self, z=64, feats=(64, 32)):
    super().__init__()
    f0, f1 = feats
    self.fc = nn.Linear(z, 7 * 7 * f0)
    self.f0 = f0
    self.net = nn.Sequential(
        nn.BatchNorm2d(f0, momentum=0.1), nn.ReLU(),
        nn.ConvTranspose2d(f0, f1, 4, stride=2, padding=1), nn.BatchNorm2d(f1, momentum=0.1), nn.ReLU(),
        nn.ConvTranspose2d(f1, 1, 4, stride=2, padding=1), nn.Tanh())

  def forward(self, z):
    return self.net(self.fc(z).view(z.shape[0], self.f0, 7, 7))


class DCGANDiscriminator(nn.Module):
  """Mirror of gen_jax DCGANDiscriminator(features=(32, 64), norm='none') + DiscriminatorHead (dense to 1)."""

  def __init__(self, feats=(32, 64)):
    super().__init__()
    f0, f1 = feats
    self.net = nn.Sequential(
        nn.Conv2d(1, f0, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(f0, f1, 4, stride=2, padding=1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(f1 * 7 * 7, 1))

  def forward(self, x):
    return self.net(x)[:, 0]


def build_dcgan():
  g, d = DCGANGenerator().train(), DCGANDiscriminator().train()
  opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
  opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
  g_params = list(g.parameters())
  ema = [p.detach().clone() for p in g_params]
  batches = [tuple(torch.from_numpy(b[k]) for k in ('x', 'z_d', 'z_g')) for b in duel_data.gan_batches()]

  def step(batch):
    x, z_d, z_g = batch
    with torch.no_grad():
      fake = g(z_d)
    opt_d.zero_grad(set_to_none=True)
    d_loss = F.softplus(-d(x)).mean() + F.softplus(d(fake)).mean()
    d_loss.backward()
    opt_d.step()
    opt_g.zero_grad(set_to_none=True)
    g_loss = F.softplus(-d(g(z_g))).mean()
    g_loss.backward()                 # (D's gradients from this pass are never used: zeroed before D's next step)
    opt_g.step()
    with torch.no_grad():
      torch._foreach_lerp_(ema, g_params, 1 - 0.999)
    return (d_loss + g_loss).detach()

  def fwd_only(batch):
    return g(batch[1])

  class Both(nn.Module):
    def __init__(self):
      super().__init__()
      self.g, self.d = g, d
  return Both(), step, fwd_only, batches


def glow_squeeze(x):
  """gen_jax.nn.layers.space_to_depth in NCHW: output channel (2 i + j) C + c holds pixel (2 h + i, 2 w + j) of
  channel c (torch's pixel_unshuffle orders them c * 4 + 2 i + j; the couplings split channels, so it matters)."""
  b, c, h, w = x.shape
  x = x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4)
  return x.reshape(b, 4 * c, h // 2, w // 2)


class GlowActNorm(nn.Module):
  def __init__(self, c):
    super().__init__()
    self.loc = nn.Parameter(torch.zeros(1, c, 1, 1))
    self.log_scale = nn.Parameter(torch.zeros(1, c, 1, 1))

  def forward(self, x):
    return (x + self.loc) * self.log_scale.exp(), x.shape[2] * x.shape[3] * self.log_scale.sum()


class GlowInvConv(nn.Module):
  """LU-decomposed invertible 1x1 convolution, W = (tril(L, -1) + I)(triu(U, 1) + diag(exp(log_s))), y = x W."""

  def __init__(self, c):
    super().__init__()
    w0 = torch.linalg.qr(torch.randn(c, c))[0]
    p, lo, up = torch.linalg.lu(w0)
    s = torch.diagonal(up)
    self.lower = nn.Parameter(lo)
    self.upper = nn.Parameter(torch.triu(up * torch.sign(s)[None, :], 1))
    self.log_s = nn.Parameter(s.abs().log())
    self.register_buffer('eye', torch.eye(c))

  def forward(self, x):
    w = (torch.tril(self.lower, -1) + self.eye) @ (torch.triu(self.upper, 1) + torch.diag(self.log_s.exp()))
    return F.conv2d(x, w.t()[:, :, None, None]), x.shape[2] * x.shape[3] * self.log_s.sum()


class GlowCoupling(nn.Module):
  """Affine channel coupling, tanh-bounded log-scale with a learned factor (gen_jax's default scale_fn)."""

  def __init__(self, c, hidden):
    super().__init__()
    self.n = c - c // 2
    self.net = nn.Sequential(nn.Conv2d(c // 2, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, hidden, 1),
                             nn.ReLU(), nn.Conv2d(hidden, 2 * self.n, 3, padding=1))
    nn.init.zeros_(self.net[-1].weight)
    nn.init.zeros_(self.net[-1].bias)
    self.factor = nn.Parameter(torch.ones(1, self.n, 1, 1))

  def forward(self, x):
    a, b = x[:, :x.shape[1] // 2], x[:, x.shape[1] // 2:]
    h = self.net(a)
    ls = self.factor * torch.tanh(h[:, :self.n])
    yb = b * ls.exp() + h[:, self.n:]
    return torch.cat([a, yb], 1), ls.flatten(1).sum(1)


class GlowSplitPrior(nn.Module):
  def __init__(self, c_keep, c_out):
    super().__init__()
    self.conv = nn.Conv2d(c_keep, 2 * c_out, 3, padding=1)
    nn.init.zeros_(self.conv.weight)
    nn.init.zeros_(self.conv.bias)
    self.logs = nn.Parameter(torch.zeros(1, 2 * c_out, 1, 1))

  def forward(self, z, cond):
    h = self.conv(cond) * (3 * self.logs).exp()
    mu, log_sigma = h[:, 0::2], h[:, 1::2]
    return (z - mu) * (-log_sigma).exp(), -log_sigma.flatten(1).sum(1)


class Glow(nn.Module):
  """Mirror of experiments/flows/flows_mnist5k.py (glow): logit pre-transform (alpha 0.05), L = 2 levels of
  (squeeze, K = 8 steps of ActNorm, LU 1x1 conv, affine coupling with a 64-wide conv net), a learned split prior
  and a learned top prior; loss = mean NLL in nats per dimension under a standard normal."""

  def __init__(self, depth=8, levels=2, hidden=64, shape=(1, 28, 28), alpha=0.05):
    super().__init__()
    self.alpha, self.d = alpha, shape[0] * shape[1] * shape[2]
    c, h, w = shape
    self.levels, self.splits = nn.ModuleList(), nn.ModuleList()
    for i in range(levels):
      c, h, w = 4 * c, h // 2, w // 2
      steps = nn.ModuleList()
      for _ in range(depth):
        steps.extend([GlowActNorm(c), GlowInvConv(c), GlowCoupling(c, hidden)])
      self.levels.append(steps)
      if i < levels - 1:
        self.splits.append(GlowSplitPrior(c // 2, c - c // 2))
        c = c // 2
    self.top_mu = nn.Parameter(torch.zeros(1, c, h, w))
    self.top_log_sigma = nn.Parameter(torch.zeros(1, c, h, w))

  def forward(self, x):
    p = self.alpha + (1 - 2 * self.alpha) * x
    y = p.log() - (-p).log1p()
    ld = self.d * math.log(1 - 2 * self.alpha) - (p.log() + (-p).log1p()).flatten(1).sum(1)
    eps = []
    for i, steps in enumerate(self.levels):
      y = glow_squeeze(y)
      for layer in steps:
        y, layer_ld = layer(y)
        ld = ld + layer_ld
      if i < len(self.levels) - 1:
        keep = y.shape[1] // 2
        e, split_ld = self.splits[i](y[:, keep:], y[:, :keep])
        ld = ld + split_ld
        eps.append(e.flatten(1))
        y = y[:, :keep]
    eps.append(((y - self.top_mu) * (-self.top_log_sigma).exp()).flatten(1))
    ld = ld - self.top_log_sigma.sum()
    eps = torch.cat(eps, 1)
    log_prior = -0.5 * (eps * eps + math.log(2 * math.pi)).sum(1)
    return -(log_prior + ld)          # NLL per example, nats


def project_lr(step, lr=1e-3, warmup=100, total=2000, end_factor=0.05):
  """optax join(linear warm-up 0 -> lr, cosine decay to end_factor * lr) as gen_jax.core.optim builds it."""
  if step < warmup:
    return lr * step / warmup
  s = min(step - warmup, total - warmup) / (total - warmup)
  return lr * (end_factor + (1 - end_factor) * 0.5 * (1 + math.cos(math.pi * s)))


def build(model):
  torch.manual_seed(0)
  if model == 'dcgan':
    return build_dcgan()
  if model.startswith('unet'):
    from diffusers import DDPMScheduler, UNet2DModel
    net = UNet2DModel(
        sample_size=32, in_channels=1, out_channels=1, block_out_channels=(32, 64, 64), layers_per_block=1,
        down_block_types=('DownBlock2D',) * 3, up_block_types=('UpBlock2D',) * 3, mid_block_type='UNetMidBlock2D',
        add_attention=True, attention_head_dim=8, norm_num_groups=32, act_fn='silu',
        time_embedding_type='positional').train()
    sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule='linear', beta_start=1e-4, beta_end=0.02)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    fmt = torch.channels_last if CHANNELS_LAST else torch.contiguous_format
    if CHANNELS_LAST:
      net = net.to(memory_format=torch.channels_last)
    batches = [(torch.from_numpy(b['x0']).contiguous(memory_format=fmt),
                torch.from_numpy(b['noise']).contiguous(memory_format=fmt), torch.from_numpy(b['t']))
               for b in duel_data.unet_batches()]

    def fwd_loss(batch):
      x0, noise, t = batch
      xt = sched.add_noise(x0, noise, t)
      return F.mse_loss(net(xt, t).sample, noise)

    def fwd_only(batch):
      x0, noise, t = batch
      return net(x0, t).sample
    extras = model == 'unet_projopt'
  elif model == 'gpt':
    os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
    from transformers import GPT2Config, GPT2LMHeadModel
    cfg = GPT2Config(n_layer=4, n_head=4, n_embd=128, n_positions=duel_data.GPT_T, vocab_size=duel_data.GPT_V,
                     bos_token_id=0, eos_token_id=0)
    attn = os.environ.get('TORCH_GPT_ATTN')  # default: transformers' own choice (sdpa), as bench_peers.py
    net = GPT2LMHeadModel(cfg, **({'attn_implementation': attn} if attn else {})).train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    batches = [torch.from_numpy(b['tokens']).long() for b in duel_data.gpt_batches()]

    def fwd_loss(tokens):
      logits = net(tokens[:, :-1]).logits
      return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))

    def fwd_only(tokens):
      return net(tokens[:, :-1]).logits
    extras = False
  elif model == 'glow':
    net = Glow().train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    batches = [torch.from_numpy(b['x']) for b in duel_data.flow_batches()]

    def fwd_loss(x):
      return net(x).mean() / net.d

    def fwd_only(x):
      return net(x)
    extras = True
  else:
    net = (ConvVAE() if model.startswith('vae') else MLPVAE()).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    batches = [torch.from_numpy(b['x']) for b in duel_data.vae_batches()]

    def fwd_loss(x):
      logits, mu, logvar = net(x)
      B = x.shape[0]
      rec = F.binary_cross_entropy_with_logits(logits, x, reduction='sum') / B
      kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / B
      return rec + kl

    def fwd_only(x):
      return net(x)[0]
    extras = not model.endswith('_bare')

  params = [p for p in net.parameters() if p.requires_grad]
  ema = [p.detach().clone() for p in params] if extras else None
  state = {'step': 0}

  def step(batch):
    opt.zero_grad(set_to_none=True)
    loss = fwd_loss(batch)
    loss.backward()
    if extras:  # the project's default tail: clip (1.0; the flows 50.0), scheduled lr, EMA with warm-up
      torch.nn.utils.clip_grad_norm_(params, 50.0 if model == 'glow' else 1.0)
      for g in opt.param_groups:
        g['lr'] = project_lr(state['step'], total=2500 if model == 'glow' else 2000)
    opt.step()
    if extras:
      s = state['step']
      d = min(0.999, (1 + s) / (10 + s))
      with torch.no_grad():
        torch._foreach_lerp_(ema, params, 1 - d)
    state['step'] += 1
    return loss.detach()

  return net, step, fwd_only, batches


def measure_peak(n=2048, reps=20):
  g = torch.Generator().manual_seed(0)
  a = torch.randn(n, n, generator=g)
  b = torch.randn(n, n, generator=g)
  torch.mm(a, b)
  ts = []
  for _ in range(reps):
    t = time.perf_counter()
    torch.mm(a, b)
    ts.append(time.perf_counter() - t)
  return 2.0 * n ** 3 / statistics.median(ts), 2.0 * n ** 3 / min(ts)


def main():
  model = sys.argv[1]
  net, step, fwd_only, batches = build(model)
  B = batches[0][0].shape[0] if isinstance(batches[0], tuple) else batches[0].shape[0]
  nparams = sum(p.numel() for p in net.parameters() if p.requires_grad)  # shared (tied) tensors counted once
  t = time.perf_counter()
  step(batches[0])
  first_step_s = time.perf_counter() - t
  with FlopCounterMode(display=False) as fc:
    with torch.no_grad():
      fwd_only(batches[0])
  fwd = fc.get_total_flops()
  with FlopCounterMode(display=False) as fc2:
    step(batches[1])
  step_flops = fc2.get_total_flops()
  peak_med, peak_best = measure_peak()
  attn = getattr(getattr(net, 'config', None), '_attn_implementation', None)
  emit(dict(side='torch', model=model, ready=True, attn_implementation=attn, torch=torch.__version__,
            threads=torch.get_num_threads(),
            channels_last=CHANNELS_LAST, batch=int(B), params=int(nparams), first_step_s=round(first_step_s, 3),
            torch_fwd_flops_per_image=fwd / B, torch_step_flops=step_flops,
            peak_matmul_flops_median=peak_med, peak_matmul_flops_best=peak_best))
  step(batches[2])
  for line in sys.stdin:
    cmd = line.split()
    if not cmd or cmd[0] == 'quit':
      break
    n = int(cmd[1])
    ts = []
    for i in range(n):
      b = batches[i % 4]
      t = time.perf_counter()
      loss = step(b)
      ts.append(time.perf_counter() - t)
    if cmd[0] == 'pipe':
      ts = [sum(ts) / n]
    emit(dict(side='torch', model=model, mode=cmd[0], times=ts, loss=float(loss)))


if __name__ == '__main__':
  main()
