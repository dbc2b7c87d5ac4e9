"""Errors that gen_jax reports to the user before anything compiles."""


class ConfigError(ValueError):
  """A config value is wrong. The message says what is wrong and what is allowed."""


class CheckpointError(RuntimeError):
  """A checkpoint cannot be used (from a different config, unreadable, ...)."""


class NonFiniteLossError(FloatingPointError):
  """The training loss became NaN or infinite."""


class RunError(RuntimeError):
  """A run failed after some of its work was saved; the message says what is kept."""
