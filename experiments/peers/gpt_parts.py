"""Where the GPT peer's time goes: the parts of one block timed alone, gen_jax (JAX) against PyTorch (eager).

  python3 experiments/peers/gpt_parts.py [--reps 40]      # from the project root, after setup.sh

The shapes of the duel's GPT (batch 16, 128 tokens, width 128, 4 heads of 32, MLP 512, dropout 0.1), forward
and backward of a sum of squares, each side in its own venv, alternating its variants step by step:
  attention  the attention core: scores (q k^T / sqrt(d)), causal mask, softmax, dropout on the weights,
             weighted sum of v; JAX as gen_jax.nn.attention computes it, torch as HF GPT-2's eager path
             ('attention') and as its default, F.scaled_dot_product_attention ('attention_sdpa')
  block      the rest of a pre-LN block: layer norm, the q/k/v projection, the output projection, residual
             dropout, layer norm, GELU (tanh) MLP, residual dropout; JAX with gen_jax.nn.dropout's masks
  bmm_qk     the batched score matmul alone, [64, 128, 32] x [64, 32, 128]
Prints the median milliseconds of each part on each side (one JSON line per side).
"""
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
JAX_PY = os.environ.get('JAX_PY', os.path.join(ROOT, '.venv/bin/python'))
TORCH_PY = os.environ.get('TORCH_PY', os.path.join(os.environ.get('PEERVENV', '/tmp/peervenv'), 'bin/python'))
B, L, W, H = 16, 128, 128, 4
D = W // H


def _time(fns: dict, reps: int, sync) -> dict:
  for f in fns.values():
    sync(f())
  ts = {k: [] for k in fns}
  for _ in range(reps):
    for k, f in fns.items():
      t = time.perf_counter()
      sync(f())
      ts[k].append(time.perf_counter() - t)
  return {k: round(1e3 * statistics.median(v), 2) for k, v in ts.items()}


def jax_side(reps: int):
  sys.path.insert(0, ROOT)
  from gen_jax.core import xla_flags
  xla_flags.apply()
  import jax
  import jax.numpy as jnp

  from gen_jax.nn import dropout as dl
  from gen_jax.nn.attention import dot_product_attention

  def ln(x, g, b):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) * jax.lax.rsqrt(v + 1e-5) * g + b

  def drop(x, rng):
    return jnp.where(dl.bernoulli(rng, 0.9, x.shape), x / 0.9, 0.0)

  def block(p, x, rng):
    r = jax.random.split(rng, 2)
    h = ln(x, p['g1'], p['b1']) @ p['wqkv'] + p['bqkv']
    x = x + drop(h[..., :W] @ p['wo'] + p['bo'], r[0])
    h = jax.nn.gelu(ln(x, p['g2'], p['b2']) @ p['w1'] + p['c1'], approximate=True) @ p['w2'] + p['c2']
    return x + drop(h, r[1])

  shapes = dict(g1=(W,), b1=(W,), wqkv=(W, 3 * W), bqkv=(3 * W,), wo=(W, W), bo=(W,), g2=(W,), b2=(W,),
                w1=(W, 4 * W), c1=(4 * W,), w2=(4 * W, W), c2=(W,))
  p = {n: 0.02 * jax.random.normal(jax.random.key(i), s) for i, (n, s) in enumerate(shapes.items())}
  x = jax.random.normal(jax.random.key(99), (B, L, W))
  q, k, v = (jax.random.normal(jax.random.key(i), (B, L, H, D)) for i in range(3))
  rng = jax.random.key(5)
  attn = jax.jit(jax.grad(lambda q, k, v: jnp.sum(dot_product_attention(
      q, k, v, causal=True, dropout_rate=0.1, dropout_rng=rng, deterministic=False) ** 2), argnums=(0, 1, 2)))
  blk = jax.jit(jax.grad(lambda p, x: jnp.sum(block(p, x, rng) ** 2), argnums=(0, 1)))
  qh, kh = jnp.transpose(q, (0, 2, 1, 3)).reshape(B * H, L, D), jnp.transpose(k, (0, 2, 1, 3)).reshape(B * H, L, D)
  bmm = jax.jit(lambda a, b: jnp.einsum('bqd,bkd->bqk', a, b))
  res = _time(dict(attention=lambda: attn(q, k, v), block=lambda: blk(p, x), bmm_qk=lambda: bmm(qh, kh)), reps,
              jax.block_until_ready)
  print(json.dumps(dict(side='jax', jax=jax.__version__, **res)))


def torch_side(reps: int):
  import torch
  import torch.nn as nn
  import torch.nn.functional as F
  torch.set_num_threads(int(os.environ.get('TORCH_THREADS', '2')))
  torch.manual_seed(0)
  q, k, v = (torch.randn(B, H, L, D, requires_grad=True) for _ in range(3))
  mask = torch.tril(torch.ones(L, L, dtype=torch.bool))

  def attention():
    s = (q @ k.transpose(-1, -2)) / D ** 0.5
    p = F.dropout(torch.softmax(s.masked_fill(~mask, torch.finfo(s.dtype).min), -1), 0.1)
    ((p @ v) ** 2).sum().backward()

  class Block(nn.Module):
    def __init__(self):
      super().__init__()
      self.ln1, self.qkv, self.o = nn.LayerNorm(W), nn.Linear(W, 3 * W), nn.Linear(W, W)
      self.ln2, self.fc, self.pr = nn.LayerNorm(W), nn.Linear(W, 4 * W), nn.Linear(4 * W, W)

    def forward(self, x):
      x = x + F.dropout(self.o(self.qkv(self.ln1(x))[..., :W]), 0.1)
      return x + F.dropout(self.pr(F.gelu(self.fc(self.ln2(x)), approximate='tanh')), 0.1)

  def attention_sdpa():  # what HF GPT-2 runs by default (attn_implementation='sdpa')
    o = F.scaled_dot_product_attention(q, k, v, dropout_p=0.1, is_causal=True)
    (o ** 2).sum().backward()

  blk = Block()
  x = torch.randn(B, L, W, requires_grad=True)
  qh, kh = q.detach().reshape(B * H, L, D), k.detach().reshape(B * H, L, D)
  res = _time(dict(attention=attention, attention_sdpa=attention_sdpa, block=lambda: (blk(x) ** 2).sum().backward(),
                   bmm_qk=lambda: torch.bmm(qh, kh.transpose(1, 2))), reps, lambda _: None)
  print(json.dumps(dict(side='torch', torch=torch.__version__, threads=torch.get_num_threads(), **res)))


if __name__ == '__main__':
  reps = int(sys.argv[sys.argv.index('--reps') + 1]) if '--reps' in sys.argv else 40
  if '--jax' in sys.argv:
    jax_side(reps)
  elif '--torch' in sys.argv:
    torch_side(reps)
  else:
    for py, flag in ((JAX_PY, '--jax'), (TORCH_PY, '--torch')):
      subprocess.run([py, __file__, flag, '--reps', str(reps)], check=True)
