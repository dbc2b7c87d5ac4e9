"""Metric writing: JSON lines + TensorBoard events in the workdir, and a console line.

Only process 0 writes; other processes get a writer whose methods do nothing, so call
sites need no ``if jax.process_index() == 0``.
"""
import json
import math
import os
import sys
import time
from typing import Any, Mapping

import numpy as np


def _scalar(v: Any) -> float | int:
  a = np.asarray(v)
  if a.dtype.kind in 'iu':
    return int(a)
  return float(a)


class MetricWriter:
  """Writes ``metrics.jsonl`` (one object per logged step, with ``step``) and TensorBoard events.

  ``resume_step``: the step a run resumes from. Rows of later steps (written by a run that was
  killed before it could save them) are dropped from ``metrics.jsonl``, and TensorBoard is told to
  purge its events from ``resume_step + 1`` on, so no step appears twice in the record.
  """

  def __init__(self, workdir: str, enabled: bool = True, filename: str = 'metrics.jsonl',
               resume_step: int | None = None):
    self.enabled = enabled
    self._tb = None
    self._file = None
    if enabled:
      os.makedirs(workdir, exist_ok=True)
      path = os.path.join(workdir, filename)
      if resume_step is not None and os.path.isfile(path):
        truncate_after(path, resume_step)
      self._file = open(path, 'a', encoding='utf-8')
      try:
        from tensorboardX import SummaryWriter
        purge = None if not resume_step else resume_step + 1
        self._tb = SummaryWriter(os.path.join(workdir, 'tb'), purge_step=purge)
      except ImportError:  # pragma: no cover - tensorboardX is a dependency; stay usable without it.
        self._tb = None

  def write_scalars(self, step: int, scalars: Mapping[str, Any], prefix: str = '') -> None:
    if not self.enabled:
      return
    row = {'step': int(step)}
    row.update({prefix + k: _scalar(v) for k, v in scalars.items()})
    self._file.write(json.dumps(row) + '\n')
    self._file.flush()
    if self._tb is not None:
      for k, v in row.items():
        if k != 'step' and math.isfinite(v):
          self._tb.add_scalar(k, v, int(step))
      self._tb.flush()

  def close(self) -> None:
    if self._file is not None:
      self._file.close()
      self._file = None
    if self._tb is not None:
      self._tb.close()
      self._tb = None


def truncate_after(path: str, step: int) -> int:
  """Rewrites a metrics file without the rows of steps after ``step`` (atomically); returns how many went."""
  with open(path, encoding='utf-8') as f:
    lines = [line for line in f if line.strip()]
  keep = []
  for line in lines:
    try:
      row_step = json.loads(line).get('step', 0)
    except json.JSONDecodeError:  # a line cut short by a kill: not part of the record
      continue
    if row_step <= step:
      keep.append(line if line.endswith('\n') else line + '\n')
  if len(keep) != len(lines):
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
      f.writelines(keep)
    os.replace(tmp, path)
  return len(lines) - len(keep)


def read_jsonl(path: str) -> list[dict]:
  """Reads back a metrics file (a list of dicts, in order)."""
  with open(path, encoding='utf-8') as f:
    return [json.loads(line) for line in f if line.strip()]


class ProgressLine:
  """Console progress: step, loss, steps/s, ETA (process 0 only)."""

  def __init__(self, total_steps: int, first_step: int, enabled: bool = True, stream=None):
    self.total = total_steps
    self.enabled = enabled
    self.stream = stream or sys.stdout
    self._t0 = time.perf_counter()
    self._s0 = first_step
    self._last_t = self._t0
    self._last_s = first_step

  def update(self, step: int, metrics: Mapping[str, Any]) -> str:
    now = time.perf_counter()
    rate = (step - self._last_s) / max(now - self._last_t, 1e-9)
    self._last_t, self._last_s = now, step
    overall = (step - self._s0) / max(now - self._t0, 1e-9)
    eta = (self.total - step) / overall if overall > 0 else float('nan')
    parts = [f'step {step:>{len(str(self.total))}d}/{self.total}']
    if 'loss' in metrics:
      parts.append(f'loss {float(metrics["loss"]):.4f}')
    parts += [f'{rate:.2f} steps/s', f'ETA {format_seconds(eta)}']
    extras = [f'{k} {float(v):.4g}' for k, v in metrics.items() if k not in ('loss',)][:4]
    line = ' | '.join(parts + extras)
    if self.enabled:
      print(line, file=self.stream, flush=True)
    return line


def format_seconds(s: float) -> str:
  if not math.isfinite(s):
    return '?'
  s = int(round(s))
  h, rem = divmod(s, 3600)
  m, sec = divmod(rem, 60)
  return f'{h:d}:{m:02d}:{sec:02d}' if h else f'{m:d}:{sec:02d}'
