"""Shared test setup: offline, quiet, and a session-wide prepared-data directory."""
import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('GEN_JAX_DISTRIBUTED', '0')

from gen_jax.core.runtime import enable_compilation_cache  # noqa: E402

enable_compilation_cache()
