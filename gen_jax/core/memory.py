"""Memory checked before it is spent: a compiled step's needs against what the devices have free.

``check_fits(compiled, what, lower)`` reads XLA's memory analysis of a compiled function (the
temporary buffers and the outputs it allocates beyond its inputs, which are already in memory)
and compares it with the free memory of the devices it runs on: the accelerator's
``bytes_limit - bytes_in_use`` where the backend reports them, else the host's available RAM
(``/proc/meminfo``: the CPU backend's devices share it). A run that cannot fit is refused with a
``ConfigError`` that gives the figures and what to lower, before its first step.
"""
import os
from typing import Any

import jax

from gen_jax.core.errors import ConfigError

GIB = 2.0 ** 30
HEADROOM = 0.9  # refuse what needs more than this share of the free memory


def format_bytes(n: float) -> str:
  """``1.5 GiB`` / ``12.0 MiB`` / ``512 KiB``."""
  for unit, size in (('GiB', GIB), ('MiB', 2.0 ** 20)):
    if n >= size:
      return f'{n / size:.1f} {unit}'
  return f'{n / 1024:.0f} KiB'


def host_available_bytes() -> int | None:
  """MemAvailable of ``/proc/meminfo`` (Linux), else None."""
  try:
    with open('/proc/meminfo', encoding='ascii') as f:
      for line in f:
        if line.startswith('MemAvailable:'):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  return None


def device_available_bytes(device: Any) -> int | None:
  """Free memory of an accelerator device, None where the backend does not report it (CPU)."""
  try:
    stats = device.memory_stats()
  except Exception:  # noqa: BLE001 - backends without memory stats
    stats = None
  if not stats or 'bytes_limit' not in stats:
    return None
  return int(stats['bytes_limit']) - int(stats.get('bytes_in_use', 0))


def extra_bytes(compiled: Any) -> int | None:
  """Bytes one call of ``compiled`` allocates per device beyond its (already resident) inputs:
  temporaries plus outputs that do not reuse a donated input. None if XLA reports nothing."""
  try:
    m = compiled.memory_analysis()
  except Exception:  # noqa: BLE001 - not every backend implements it
    return None
  if m is None:
    return None
  if isinstance(m, (list, tuple)):
    m = m[0]
  out = max(int(m.output_size_in_bytes) - int(getattr(m, 'alias_size_in_bytes', 0)), 0)
  return int(m.temp_size_in_bytes) + out


def check_fits(compiled: Any, what: str, lower: str) -> int | None:
  """Raises ConfigError when one call of ``compiled`` needs more memory than is free.

  Args:
    compiled: a ``jax.stages.Compiled``.
    what: what it is, for the message ('the train step at config.batch_size=128').
    lower: what the user can lower ('config.batch_size').
  Returns:
    The bytes needed per device (None when unknown).
  """
  need = extra_bytes(compiled)
  if not need:
    return need
  devices = jax.local_devices()
  free = device_available_bytes(devices[0])
  if free is None:  # CPU: every local device is a slice of host RAM
    host = host_available_bytes()
    if host is None:
      return need
    total_need, free_total, where = need * len(devices), host, 'host RAM available'
  else:
    total_need, free_total, where = need, free, f'free on {devices[0].device_kind}'
  if os.environ.get('GEN_JAX_SKIP_MEMORY_CHECK', '') != '1' and total_need > HEADROOM * free_total:
    raise ConfigError(f'{what} needs about {format_bytes(total_need)} but only {format_bytes(free_total)} is '
                      f'{where}; lower {lower} (or run on more devices). GEN_JAX_SKIP_MEMORY_CHECK=1 '
                      'skips this check.')
  return need
