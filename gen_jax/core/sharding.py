"""Device mesh, shardings, and assembly of per-host batches into global arrays.

One code path from one CPU to a pod: steps are ``jax.jit``-compiled with explicit
in/out shardings over a ``Mesh`` with axes ``('data', 'fsdp')``.

* The batch is split over both axes (every device holds ``global_batch / num_devices``
  examples).
* Parameters (and optimizer moments) are replicated, or, with ``config.mesh.fsdp > 1``,
  split along their largest dimension that the ``fsdp`` axis divides (ZeRO-3 style:
  XLA inserts the all-gathers and reduce-scatters).
"""
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from gen_jax.core.errors import ConfigError

AXES = ('data', 'fsdp')
BATCH_SPEC = P(AXES)
# Parameters smaller than this many elements stay replicated under FSDP: splitting them
# costs more in collectives than it saves in memory.
FSDP_MIN_SIZE = 2 ** 14


def mesh_shape(mesh_config: Any, num_devices: int) -> tuple[int, int]:
  """Resolves ``(data, fsdp)`` from the config; ``-1`` means "all remaining devices"."""
  data = int(mesh_config.get('data', -1))
  fsdp = int(mesh_config.get('fsdp', 1))
  if fsdp == -1 and data == -1:
    raise ConfigError('config.mesh: at most one of data, fsdp may be -1 (all remaining devices).')
  if fsdp == -1:
    fsdp = num_devices // max(data, 1)
  if data == -1:
    if fsdp <= 0 or num_devices % fsdp:
      raise ConfigError(f'config.mesh.fsdp={fsdp} must be a positive divisor of the {num_devices} devices.')
    data = num_devices // fsdp
  if data <= 0 or fsdp <= 0 or data * fsdp != num_devices:
    raise ConfigError(f'config.mesh: data={data} x fsdp={fsdp} must equal the number of devices '
                      f'({num_devices}); use -1 for one axis to take the remaining devices.')
  return data, fsdp


def make_mesh(mesh_config: Any, devices: list | None = None) -> Mesh:
  """A ``('data', 'fsdp')`` mesh over all devices (of all processes)."""
  devices = jax.devices() if devices is None else devices
  data, fsdp = mesh_shape(mesh_config, len(devices))
  try:
    from jax.experimental import mesh_utils
    grid = mesh_utils.create_device_mesh((data, fsdp), devices=devices)
  except Exception:  # noqa: BLE001 - non-TPU topologies may not be supported; a plain reshape is fine there.
    grid = np.asarray(devices).reshape(data, fsdp)
  return Mesh(grid, AXES)


def check_batch_size(global_batch: int, mesh: Mesh, what: str = 'config.batch_size') -> None:
  """The global batch must split evenly over devices and processes."""
  n = mesh.devices.size
  procs = jax.process_count()
  if global_batch <= 0 or global_batch % n:
    raise ConfigError(f'{what}={global_batch} (global) is not divisible by the {n} devices of the mesh; '
                      f'use a positive multiple of {n}.')
  if global_batch % procs:
    raise ConfigError(f'{what}={global_batch} is not divisible by the {procs} processes.')


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Sharding of a batch: leading axis split over every device."""
  return NamedSharding(mesh, BATCH_SPEC)


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def _leaf_spec(shape: tuple[int, ...], fsdp: int) -> P:
  if fsdp <= 1 or int(np.prod(shape, dtype=np.int64)) < FSDP_MIN_SIZE:
    return P()
  dims = sorted(range(len(shape)), key=lambda i: -shape[i])
  for i in dims:
    if shape[i] % fsdp == 0:
      spec = [None] * len(shape)
      spec[i] = 'fsdp'
      return P(*spec)
  return P()


def state_shardings(state_shapes: Any, mesh: Mesh) -> Any:
  """Shardings for a state pytree (of arrays or ``ShapeDtypeStruct``s), by leaf shape."""
  fsdp = mesh.shape['fsdp']
  return jax.tree.map(lambda x: NamedSharding(mesh, _leaf_spec(tuple(x.shape), fsdp)), state_shapes)


def global_batch(local_batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
  """Assembles each process's slice of the batch into one global ``jax.Array``.

  Each process passes only the rows it loaded (``global / process_count`` of them, in
  process order); the result has the global leading dimension and the batch sharding.
  """
  sharding = batch_sharding(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v)) for k, v in local_batch.items()}


def to_host(tree: Any) -> Any:
  """Fetches a (possibly sharded, multi-process) pytree to host numpy, fully replicated."""
  from jax.experimental import multihost_utils

  def fetch(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)
  return jax.tree.map(fetch, tree)
