"""XLA flags that gen_jax sets by default because they were measured to help (docs/benchmarks.md).

The launcher calls :func:`apply` once, before JAX starts a backend. Each default flag is set only

- for the jaxlib versions it was measured on (an unknown ``--xla_*`` flag makes XLA abort, and a flag
  that helps one XLA release may hurt the next), and
- when the user's own ``XLA_FLAGS`` does not already set it (the user's value always wins), and
- unless ``GEN_JAX_XLA_DEFAULTS=0`` turns the defaults off.

- only for CPU runs: when ``JAX_PLATFORMS`` is ``cpu``, or when it is unset and no accelerator plugin
  (``jax-cuda*``, ``jax-rocm*``, ``libtpu``) is installed. XLA reads the flags before JAX knows its
  backend, so the installation is the evidence.

Research code that imports gen_jax's train steps can call :func:`apply` itself before its first JAX
computation to get the same CPU defaults.
"""
import dataclasses
import os
import re

OFF_ENV = 'GEN_JAX_XLA_DEFAULTS'


@dataclasses.dataclass(frozen=True)
class DefaultFlag:
  name: str                        # without the leading dashes
  value: str
  jaxlib: tuple[str, ...]          # version prefixes it was measured on, e.g. ('0.10.',)


DEFAULTS: tuple[DefaultFlag, ...] = (
    # LLVM -O2 instead of -O3 for XLA:CPU kernels: the same step time, 21-25% shorter compiles
    # (docs/benchmarks.md, "XLA:CPU flags", has the measurements and the flags that did not help).
    DefaultFlag('xla_backend_optimization_level', '2', ('0.10.',)),
    # Convolutions by XLA's own emitter instead of one YNNPACK call each: the conv VAE's train step 0.59x and
    # the UNet's 0.60x the time, measured side by side on an otherwise idle machine (docs/benchmarks.md).
    DefaultFlag('xla_cpu_experimental_ynn_fusion_type', '-individual_convolution', ('0.10.',)),
)
_ACCELERATOR_PLUGINS = ('jax-cuda', 'jax_cuda', 'jax-rocm', 'jax_rocm', 'libtpu')


def jaxlib_version() -> str | None:
  """The installed jaxlib version, read without importing JAX (None if it is not installed)."""
  from importlib import metadata  # pylint: disable=g-import-not-at-top
  try:
    return metadata.version('jaxlib')
  except metadata.PackageNotFoundError:
    return None


def user_flag_names(xla_flags: str) -> set[str]:
  """The flag names set in an ``XLA_FLAGS`` string (``--name=value`` or ``--name``)."""
  return set(re.findall(r'--([A-Za-z0-9_]+)', xla_flags or ''))


def cpu_run(environ: dict) -> bool:
  """Whether this process will compute on XLA:CPU (see the module docstring)."""
  platforms = environ.get('JAX_PLATFORMS', '').strip().lower()
  if platforms:
    return platforms.split(',')[0].strip() == 'cpu'
  from importlib import metadata  # pylint: disable=g-import-not-at-top
  names = {(d.metadata['Name'] or '').lower() for d in metadata.distributions()}
  return not any(n.startswith(_ACCELERATOR_PLUGINS) for n in names)


def default_flags(version: str | None, xla_flags: str = '') -> list[DefaultFlag]:
  """The defaults that apply to jaxlib ``version`` and are not already set in ``xla_flags``."""
  if not version:
    return []
  taken = user_flag_names(xla_flags)
  return [f for f in DEFAULTS if version.startswith(f.jaxlib) and f.name not in taken]


def apply(environ: dict | None = None, version: str | None = None) -> str | None:
  """Adds the default flags to ``environ['XLA_FLAGS']`` (``os.environ`` by default).

  Returns one line saying what was set (for the launcher to print once), or None when nothing was.
  Must run before JAX initialises a backend: XLA reads ``XLA_FLAGS`` once, at that point.
  """
  environ = os.environ if environ is None else environ
  if environ.get(OFF_ENV, '1').strip().lower() in ('0', 'false', 'no', 'off') or not cpu_run(environ):
    return None
  current = environ.get('XLA_FLAGS', '')
  flags = default_flags(jaxlib_version() if version is None else version, current)
  if not flags:
    return None
  added = ' '.join(f'--{f.name}={f.value}' for f in flags)
  environ['XLA_FLAGS'] = f'{current} {added}'.strip()
  return f'XLA:CPU flags set by gen_jax: {added} (your own XLA_FLAGS win; {OFF_ENV}=0 turns them off).'


NOTE_ENV = 'GEN_JAX_XLA_NOTE'  # launch.sh hands the one line to the process it starts, which logs it


def note(environ: dict | None = None) -> str | None:
  """Applies the defaults and returns the line to log: the one launch.sh handed over, or this call's."""
  environ = os.environ if environ is None else environ
  return environ.pop(NOTE_ENV, None) or apply(environ)


if __name__ == '__main__':
  # launch.sh: line 1 is XLA_FLAGS with the defaults added, line 2 the note (empty when nothing was set).
  env = {k: v for k, v in os.environ.items() if k in ('XLA_FLAGS', OFF_ENV, 'JAX_PLATFORMS')}
  message = apply(env)
  print(env.get('XLA_FLAGS', ''))
  print(message or '')
