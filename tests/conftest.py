"""Shared test setup: offline, quiet, and a session-wide prepared-data directory."""
import os
import re

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('GEN_JAX_DISTRIBUTED', '0')
# Tests check semantics, not speed. Compiles dominate the suite's time, and XLA:CPU's backend optimisation
# level 1 compiles about 3x faster than the default with the same semantics and, for these small models,
# about the same run time. GEN_JAX_TEST_XLA_OPT=default keeps the launcher's level (gen_jax/core/xla_flags.py).
if os.environ.get('GEN_JAX_TEST_XLA_OPT', '0') != 'default':
  _kept = re.sub(r'--xla_backend_optimization_level=\S*', '', os.environ.get('XLA_FLAGS', ''))  # launch.sh's
  os.environ['XLA_FLAGS'] = (_kept + ' --xla_backend_optimization_level=1').strip()

from gen_jax.core.runtime import enable_compilation_cache  # noqa: E402

enable_compilation_cache()
