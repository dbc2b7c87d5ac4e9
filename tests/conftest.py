"""Shared test setup: offline, quiet, and a session-wide prepared-data directory."""
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('GEN_JAX_DISTRIBUTED', '0')
# Tests check semantics, not speed. Compiles dominate the suite's time, and XLA:CPU's backend optimisation
# level 1 compiles about 3x faster than the default with the same semantics and, for these small models,
# about the same run time. GEN_JAX_TEST_XLA_OPT=default keeps XLA's default level.
if os.environ.get('GEN_JAX_TEST_XLA_OPT', '0') != 'default':
  os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') + ' --xla_backend_optimization_level=1').strip()

from gen_jax.core.runtime import enable_compilation_cache  # noqa: E402

enable_compilation_cache()
