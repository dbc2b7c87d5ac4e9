"""The torch Glow of the duel computes gen_jax's Glow: same parameters in, same NLL out.

  python3 experiments/peers/glow_parity.py        # from the project root, after setup.sh

Step 1 (project venv): gen_jax initialises experiments/flows/flows_mnist5k.py's Glow on a duel batch, perturbs
every parameter by N(0, 0.01^2) noise (so zero-initialised layers and identity ActNorms are exercised too), and
writes the parameters, the batch and its per-example NLL (nats) to an .npz. Step 2 (peer venv): torch_worker.Glow
loads them and computes the NLL of the same batch. Prints the largest difference; exits 1 if the parameter counts
differ or the NLLs differ by more than 1e-5 relative (float32 sums of ~800 terms).
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
JAX_PY = os.environ.get('JAX_PY', os.path.join(ROOT, '.venv/bin/python'))
TORCH_PY = os.environ.get('TORCH_PY', os.path.join(os.environ.get('PEERVENV', '/tmp/peervenv'), 'bin/python'))


def jax_side(out):
  sys.path.insert(0, ROOT)
  sys.path.insert(0, HERE)
  import jax
  import numpy as np

  import duel_data
  from gen_jax.core.config import load_experiment
  from gen_jax.families.flows import losses
  from gen_jax.families.flows.models import get_model
  c = load_experiment(os.path.join(ROOT, 'experiments/flows/flows_mnist5k.py'))
  x = np.transpose(duel_data.flow_batches()[0]['x'], (0, 2, 3, 1)).copy()
  params = get_model(c).init(jax.random.key(0), x)['params']
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(1), len(leaves))
  noisy = [p + 0.01 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys, strict=True)]
  params = jax.tree.unflatten(tree, noisy)
  nll, _ = losses.flow_nll(params, x, c)
  flat = {'/'.join(str(getattr(k, 'key', k)) for k in path): np.asarray(v)
          for path, v in jax.tree_util.tree_flatten_with_path(params)[0]}
  np.savez(out, x=x, nll=np.asarray(nll), **{f'p:{k}': v for k, v in flat.items()})


def torch_side(path):
  import numpy as np
  import torch
  sys.path.insert(0, HERE)
  import torch_worker as tw
  d = np.load(path)
  p = {k[2:]: torch.from_numpy(d[k]) for k in d.files if k.startswith('p:')}
  net = tw.Glow()
  used = set()

  def take(name):
    used.add(name)
    return p[name]

  def conv(m, prefix):  # flax kernel [kh, kw, in, out] -> torch [out, in, kh, kw]
    m.weight.data = take(f'{prefix}/kernel').permute(3, 2, 0, 1).contiguous()
    m.bias.data = take(f'{prefix}/bias')

  body = 'body'
  for i, steps in enumerate(net.levels):
    level = f'{body}/levels_{i}'
    for j in range(0, len(steps), 3):
      an, inv, cp = steps[j], steps[j + 1], steps[j + 2]
      k = j + 1  # layers_0 is the squeeze
      an.loc.data = take(f'{level}/layers_{k}/loc').view(1, -1, 1, 1)
      an.log_scale.data = take(f'{level}/layers_{k}/log_scale').view(1, -1, 1, 1)
      inv.lower.data = take(f'{level}/layers_{k + 1}/lower')
      inv.upper.data = take(f'{level}/layers_{k + 1}/upper')
      inv.log_s.data = take(f'{level}/layers_{k + 1}/log_s')
      for t, q in ((0, 'Conv_0'), (2, 'Conv_1'), (4, 'Conv_2')):
        conv(cp.net[t], f'{level}/layers_{k + 2}/net/{q}')
      cp.factor.data = take(f'{level}/layers_{k + 2}/scale_factor').view(1, -1, 1, 1)
    if i < len(net.splits):
      conv(net.splits[i].conv, f'{body}/splits_{i}/ZeroConv_0/Conv_0')
      net.splits[i].logs.data = take(f'{body}/splits_{i}/ZeroConv_0/logs').view(1, -1, 1, 1)
  net.top_mu.data = take(f'{body}/top/mu').permute(2, 0, 1)[None].contiguous()
  net.top_log_sigma.data = take(f'{body}/top/log_sigma').permute(2, 0, 1)[None].contiguous()
  missing = sorted(set(p) - used)
  if missing:
    raise SystemExit(f'parameters of the JAX Glow the mirror did not use: {missing}')
  x = torch.from_numpy(d['x']).permute(0, 3, 1, 2).contiguous()
  with torch.no_grad():
    nll = net(x).numpy()
  n_torch = sum(q.numel() for q in net.parameters())
  n_jax = sum(v.numel() for v in p.values())
  diff = float(np.max(np.abs(nll - d['nll'])))
  print(f'parameters: jax {n_jax:,}  torch {n_torch:,}')
  print(f'NLL (nats/example) jax {d["nll"][:3]} ... torch {nll[:3]} ...; max |difference| {diff:.2e}')
  sys.exit(0 if diff <= 1e-5 * max(1.0, float(np.max(np.abs(d['nll'])))) and n_jax == n_torch else 1)


if __name__ == '__main__':
  if len(sys.argv) == 3 and sys.argv[1] == '--jax':
    jax_side(sys.argv[2])
  elif len(sys.argv) == 3 and sys.argv[1] == '--torch':
    torch_side(sys.argv[2])
  else:
    with tempfile.TemporaryDirectory() as tmp:
      f = os.path.join(tmp, 'glow.npz')
      subprocess.run([JAX_PY, __file__, '--jax', f], check=True)
      sys.exit(subprocess.run([TORCH_PY, __file__, '--torch', f]).returncode)
