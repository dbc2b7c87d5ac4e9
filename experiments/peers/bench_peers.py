#!/usr/bin/env python
"""Training-step throughput of PyTorch peer models on this CPU.

Run inside the reference venv (see setup.sh beside this file):

    /tmp/peervenv/bin/python experiments/peers/bench_peers.py                    # all three peers
    /tmp/peervenv/bin/python experiments/peers/bench_peers.py --only vae gpt2    # a subset
    /tmp/peervenv/bin/python experiments/peers/bench_peers.py --out results.jsonl

Each peer prints ONE JSON line:
    {name, config, steps, median_step_seconds, throughput, unit, params, ...}
`params` is the exact trainable-parameter count, so a JAX re-implementation can match model size.
Protocol: torch.set_num_threads(2); 3 untimed warm-up steps; then >= 10 timed steps (more while the
timed phase is under --budget seconds, default 25, at most 1000); median of per-step wall times.
A "step" = forward + loss + backward + optimizer.step() on a fresh synthetic batch that was created
before timing (data generation is not timed). All fp32, model in train() mode.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch
import torch.nn as nn
import torch.nn.functional as F

THREADS = 2
torch.set_num_threads(THREADS)
PARAM_SHAPES: dict = {}


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def bench(name, config, model, make_batches, step, units_per_step, unit, args, out_lines):
    """make_batches(k) -> list of k batches; step(batch) runs one full training step."""
    batches = make_batches(4)  # rotated; all synthetic
    for i in range(3):  # warm-up
        step(batches[i % len(batches)])
    times: list[float] = []
    t_start = time.perf_counter()
    while len(times) < args.min_steps or (
        len(times) < args.max_steps and time.perf_counter() - t_start < args.budget
    ):
        b = batches[len(times) % len(batches)]
        t0 = time.perf_counter()
        loss = step(b)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    rec = dict(
        name=name,
        config=config,
        steps=len(times),
        median_step_seconds=round(med, 6),
        throughput=round(units_per_step / med, 3),
        unit=unit,
        params=n_params(model),
        mean_step_seconds=round(statistics.fmean(times), 6),
        min_step_seconds=round(min(times), 6),
        p90_step_seconds=round(sorted(times)[int(0.9 * (len(times) - 1))], 6),
        max_step_seconds=round(max(times), 6),
        final_loss=round(float(loss), 6),
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        cpu=cpu_name(),
    )
    line = json.dumps(rec)
    print(line, flush=True)
    out_lines.append(line)
    if args.dump_params:
        PARAM_SHAPES[name] = dict(total=n_params(model),
                                  tensors={k: list(v.shape) for k, v in model.named_parameters()})


# ----------------------------------------------------------------------------- (i) GPT-2
def bench_gpt2(args, out):
    from transformers import GPT2Config, GPT2LMHeadModel

    B, T, V = 16, 128, 96
    cfg = GPT2Config(n_layer=4, n_head=4, n_embd=128, n_positions=128, vocab_size=V,
                     bos_token_id=0, eos_token_id=0)  # default 50256 would be outside the vocab; no effect on training
    torch.manual_seed(0)
    model = GPT2LMHeadModel(cfg).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    g = torch.Generator().manual_seed(0)

    def make(k):
        return [torch.randint(0, V, (B, T), generator=g) for _ in range(k)]

    def step(ids):
        opt.zero_grad(set_to_none=True)
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        return loss.detach()

    config = dict(model="transformers.GPT2LMHeadModel", n_layer=4, n_head=4, n_embd=128, n_positions=128,
                  vocab_size=V, batch=B, seq_len=T, optimizer="AdamW(lr=3e-4, wd=0.01)", dtype="float32",
                  dropout="HF defaults 0.1 (resid/embd/attn), train mode", tied_lm_head=True,
                  attn_implementation=model.config._attn_implementation,
                  loss="next-token cross-entropy over all 127 shifted positions")
    bench("hf_gpt2_lm", config, model, make, step, B * T, "tokens/s", args, out)


# ----------------------------------------------------------------------------- (ii) UNet DDPM
def bench_unet(args, out):
    from diffusers import DDPMScheduler, UNet2DModel

    B = 32
    torch.manual_seed(0)
    unet_kwargs = dict(
        sample_size=32, in_channels=1, out_channels=1, block_out_channels=(32, 64, 64), layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D", "UpBlock2D"),
        mid_block_type="UNetMidBlock2D", add_attention=True,  # the single attention block: mid block at 8x8
        attention_head_dim=8, norm_num_groups=32, act_fn="silu", time_embedding_type="positional",
    )
    model = UNet2DModel(**unet_kwargs).train()
    sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)

    def make(k):
        out_ = []
        for _ in range(k):
            x0 = torch.rand(B, 1, 32, 32, generator=g) * 2 - 1
            noise = torch.randn(B, 1, 32, 32, generator=g)
            t = torch.randint(0, 1000, (B,), generator=g)
            out_.append((x0, noise, t))
        return out_

    def step(batch):
        x0, noise, t = batch
        opt.zero_grad(set_to_none=True)
        xt = sched.add_noise(x0, noise, t)
        loss = F.mse_loss(model(xt, t).sample, noise)
        loss.backward()
        opt.step()
        return loss.detach()

    n_attn = sum(1 for m in model.modules() if m.__class__.__name__ == "Attention")
    config = dict(model="diffusers.UNet2DModel", **{k: (list(v) if isinstance(v, tuple) else v) for k, v in unet_kwargs.items()},
                  attention_layers=n_attn, attention_resolution="8x8 (mid block)", batch=B,
                  loss="DDPM epsilon-prediction MSE, t~U{0..999}, linear betas 1e-4..0.02",
                  optimizer="Adam(lr=1e-4)", dtype="float32")
    bench("diffusers_unet2d_ddpm", config, model, make, step, B, "images/s", args, out)


# ----------------------------------------------------------------------------- (iii) Conv VAE
class ConvVAE(nn.Module):
    """28x28x1 conv VAE: enc Conv(1->32,3,s2,p1)-ReLU-Conv(32->64,3,s2,p1)-ReLU-Flatten-Linear(3136->2*16);
    dec Linear(16->3136)-ReLU-(64,7,7)-ConvT(64->32,3,s2,p1,op1)-ReLU-ConvT(32->1,3,s2,p1,op1) -> Bernoulli logits."""

    def __init__(self, latent=16):
        super().__init__()
        self.latent = latent
        self.enc = nn.Sequential(
            nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 2 * latent),
        )
        self.dec = nn.Sequential(
            nn.Linear(latent, 64 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 3, stride=2, padding=1, output_padding=1),
        )

    def forward(self, x):
        mu, logvar = self.enc(x).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.dec(z), mu, logvar


def bench_vae(args, out):
    B = 128
    torch.manual_seed(0)
    model = ConvVAE(16).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)

    def make(k):
        return [(torch.rand(B, 1, 28, 28, generator=g) < 0.3).float() for _ in range(k)]

    def step(x):
        opt.zero_grad(set_to_none=True)
        logits, mu, logvar = model(x)
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / B
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / B
        loss = rec + kl
        loss.backward()
        opt.step()
        return loss.detach()

    config = dict(model="plain PyTorch ConvVAE", input="28x28x1 binary (synthetic Bernoulli(0.3))", latent=16,
                  encoder="Conv2d(1,32,3,s2,p1)-ReLU-Conv2d(32,64,3,s2,p1)-ReLU-Flatten-Linear(3136,32)->(mu,logvar)",
                  decoder="Linear(16,3136)-ReLU-reshape(64,7,7)-ConvT(64,32,3,s2,p1,op1)-ReLU-ConvT(32,1,3,s2,p1,op1)->logits",
                  likelihood="Bernoulli (BCE-with-logits summed over pixels)", loss="negative ELBO, mean over batch",
                  batch=B, optimizer="Adam(lr=1e-3)", dtype="float32")
    bench("torch_conv_vae", config, model, make, step, B, "images/s", args, out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", choices=["gpt2", "unet", "vae"], default=None)
    ap.add_argument("--min-steps", type=int, default=10)
    ap.add_argument("--max-steps", type=int, default=1000)
    ap.add_argument("--budget", type=float, default=25.0, help="seconds of timed steps per peer after the first min-steps")
    ap.add_argument("--out", default=None, help="also write the JSON lines to this file")
    ap.add_argument("--dump-params", default=None, help="write every peer's named parameter shapes to this JSON file")
    args = ap.parse_args()
    out: list[str] = []
    todo = dict(gpt2=bench_gpt2, unet=bench_unet, vae=bench_vae)
    for k, fn in todo.items():
        if args.only is None or k in args.only:
            fn(args, out)
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(out) + "\n")
    if args.dump_params:
        with open(args.dump_params, "w") as f:
            json.dump(PARAM_SHAPES, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
