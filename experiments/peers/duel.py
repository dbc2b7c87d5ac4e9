"""Side-by-side train-step timing: gen_jax step (project venv) vs PyTorch mirror/peer (ref venv), A,B,A,B.

  python3 experiments/peers/duel.py --model vae --rounds 3 --steps 60
  python3 experiments/peers/duel.py --model gpt --rounds 5 --steps 20
  python3 experiments/peers/duel.py --model unet --rounds 3 --steps 30 --jax-only --xla-flags-b='--xla_...'

Each side runs in its own persistent worker process (compiled/warmed once; warm-up reported apart).
The workers are started one after the other and only one of them computes at any time: the other
waits on a pipe read. A round = 'run N' on the JAX worker, a 1 s pause, 'run N' on the torch worker.
Model FLOPs for MFU: torch.utils.flop_counter over one full train step (forward + backward; matmuls,
convolutions and attention only), the same architecture on both sides; XLA's own count is shown too.
"""
import argparse
import json
import os
import statistics
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get('PROJECT_ROOT', os.path.dirname(os.path.dirname(HERE)))  # this gen_jax checkout
JAX_PY = os.environ.get('JAX_PY', os.path.join(ROOT, '.venv/bin/python'))
TORCH_PY = os.environ.get('TORCH_PY', os.path.join(os.environ.get('PEERVENV', '/tmp/peervenv'), 'bin/python'))


class Worker:
  def __init__(self, argv, env):
    self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, bufsize=1)
    self.ready = self.read()

  def read(self):
    line = self.p.stdout.readline()
    if not line:
      raise RuntimeError(f'worker {self.p.args} died (rc={self.p.wait()})')
    return json.loads(line)

  def ask(self, cmd):
    self.p.stdin.write(cmd + '\n')
    self.p.stdin.flush()
    return self.read()

  def close(self):
    try:
      self.p.stdin.write('quit\n')
      self.p.stdin.flush()
    except BrokenPipeError:
      pass
    self.p.wait(timeout=60)


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument('--model', required=True)
  ap.add_argument('--rounds', type=int, default=3)
  ap.add_argument('--steps', type=int, default=60)
  ap.add_argument('--xla-flags', default=None,
                  help="XLA_FLAGS for the JAX worker (default: none of the caller's; the worker adds gen_jax's "
                       'CPU defaults unless GEN_JAX_XLA_DEFAULTS=0)')
  ap.add_argument('--jax-env', action='append', default=[], help='KEY=VAL for the JAX worker')
  ap.add_argument('--torch-env', action='append', default=[], help='KEY=VAL for the torch worker')
  ap.add_argument('--jax-only', action='store_true')
  ap.add_argument('--torch-only', action='store_true')
  ap.add_argument('--xla-flags-b', default=None, help='also run a second JAX worker ("jaxB") with these XLA_FLAGS')
  ap.add_argument('--jax-env-b', action='append', default=[], help='KEY=VAL for the jaxB worker only')
  ap.add_argument('--pipe', action='store_true', help='also time JAX steps dispatched back to back')
  ap.add_argument('--out', default=None, help='append a JSON summary line here')
  args = ap.parse_args()

  jenv = dict(os.environ)
  jenv.pop('XLA_FLAGS', None)
  if args.xla_flags:
    jenv['XLA_FLAGS'] = args.xla_flags
  for kv in args.jax_env:
    k, v = kv.split('=', 1)
    jenv[k] = v
  tenv = dict(os.environ)
  for kv in args.torch_env:
    k, v = kv.split('=', 1)
    tenv[k] = v

  workers = {}
  if not args.torch_only:
    workers['jax'] = Worker([JAX_PY, os.path.join(HERE, 'jax_worker.py'), args.model], jenv)
    print('jax   ready:', json.dumps(workers['jax'].ready), flush=True)
  if args.xla_flags_b is not None:
    jenv_b = dict(jenv)
    jenv_b['XLA_FLAGS'] = args.xla_flags_b
    for kv in args.jax_env_b:
      k, v = kv.split('=', 1)
      jenv_b[k] = v
    workers['jaxB'] = Worker([JAX_PY, os.path.join(HERE, 'jax_worker.py'), args.model], jenv_b)
    print('jaxB  ready:', json.dumps(workers['jaxB'].ready), flush=True)
  if not args.jax_only:
    workers['torch'] = Worker([TORCH_PY, os.path.join(HERE, 'torch_worker.py'), args.model], tenv)
    print('torch ready:', json.dumps(workers['torch'].ready), flush=True)

  rounds = []
  for r in range(args.rounds):
    row = {}
    for side, w in workers.items():
      time.sleep(1.0)
      res = w.ask(f'run {args.steps}')
      ts = res['times']
      row[side] = dict(median=statistics.median(ts), min=min(ts), p90=sorted(ts)[int(0.9 * (len(ts) - 1))],
                       max=max(ts), n=len(ts), loss=res['loss'])
      if side == 'jax' and args.pipe:
        time.sleep(0.5)
        row['jax_pipe'] = w.ask(f'pipe {args.steps}')['times'][0]
    rounds.append(row)
    msg = ' '.join(f'{s}: med {v["median"] * 1e3:.2f} ms (min {v["min"] * 1e3:.2f}, p90 {v["p90"] * 1e3:.2f}, '
                   f'max {v["max"] * 1e3:.1f}, n={v["n"]})' for s, v in row.items() if isinstance(v, dict))
    if 'jax' in row and 'torch' in row:
      msg += f'  ratio jax/torch {row["jax"]["median"] / row["torch"]["median"]:.3f}'
    if 'jaxB' in row and 'torch' in row:
      msg += f'  ratio jaxB/torch {row["jaxB"]["median"] / row["torch"]["median"]:.3f}'
    if 'jax_pipe' in row:
      msg += f'  jax pipelined {row["jax_pipe"] * 1e3:.2f} ms/step'
    print(f'round {r + 1}: {msg}', flush=True)
  for w in workers.values():
    w.close()

  summary = dict(model=args.model, steps=args.steps, rounds=args.rounds, xla_flags=args.xla_flags or '',
                 jax_env=args.jax_env, torch_env=args.torch_env, xla_flags_b=args.xla_flags_b,
                 jax_env_b=args.jax_env_b, date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
                 ready={s: w.ready for s, w in workers.items()}, per_round=rounds)
  B = next(iter(workers.values())).ready['batch']
  model_flops = workers['torch'].ready['torch_step_flops'] if 'torch' in workers else None
  print(f'\n== {args.model}: batch {B}, {args.rounds} rounds x {args.steps} timed steps per side')
  for side, w in workers.items():
    meds = [row[side]['median'] for row in rounds]
    med = statistics.median(meds)
    rd = w.ready
    peak = rd['peak_matmul_flops_median']
    fwd = rd.get('xla_fwd_flops_per_image') or rd.get('torch_fwd_flops_per_image')
    line = (f'{side:6s} params {rd["params"]:>9,d}  fwd {fwd / 1e6:8.2f} MFLOP/img  median step {med * 1e3:8.2f} ms '
            f'(rounds {", ".join(f"{m * 1e3:.2f}" for m in meds)})  {B / med:9.1f} img/s  '
            f'peak(2048 mm, median) {peak / 1e9:6.1f} GFLOP/s')
    if model_flops:
      line += f'  MFU {100 * model_flops / med / peak:5.2f}%'
    if side.startswith('jax'):
      line += (f'  [XLA step count {rd["xla_step_flops"] / 1e9:.3f} GFLOP -> {100 * rd["xla_step_flops"] / med / peak:.2f}%;'
               f' compile {rd["compile_s"]:.1f} s, first step {rd["first_step_s"]:.2f} s]')
    else:
      line += f'  [first step {rd["first_step_s"]:.2f} s]'
    print(line)
    summary[f'{side}_median_s'] = med
  if 'jax' in workers and 'torch' in workers:
    ratios = [row['jax']['median'] / row['torch']['median'] for row in rounds]
    print(f'ratio jax/torch (step time; >1 = JAX slower): per round {", ".join(f"{x:.3f}" for x in ratios)}; '
          f'median {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f})')
    print(f'model FLOPs/step (torch flop_counter fwd+bwd) {model_flops / 1e9:.3f} GFLOP')
    summary['ratios'] = ratios
  if 'jaxB' in workers and 'torch' in workers:
    rb = [row['jaxB']['median'] / row['torch']['median'] for row in rounds]
    print(f'ratio jaxB/torch: per round {", ".join(f"{x:.3f}" for x in rb)}; median {statistics.median(rb):.3f} '
          f'(min {min(rb):.3f}, max {max(rb):.3f});  jaxB XLA_FLAGS={args.xla_flags_b!r}')
    rab = [row['jaxB']['median'] / row['jax']['median'] for row in rounds]
    print(f'ratio jaxB/jax: per round {", ".join(f"{x:.3f}" for x in rab)}; median {statistics.median(rab):.3f}')
    summary['ratios_b'] = rb
  if args.pipe:
    pm = statistics.median(row['jax_pipe'] for row in rounds)
    print(f'jax pipelined (no per-step block): median {pm * 1e3:.2f} ms/step')
  if args.out:
    with open(args.out, 'a') as f:
      f.write(json.dumps(summary) + '\n')


if __name__ == '__main__':
  main()
