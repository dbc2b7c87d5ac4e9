"""The one error the data layer raises for bad dataset names and options."""


class DatasetError(ValueError):
  """A dataset name or option is wrong, or the data is unavailable.

  The message says what is wrong and what is allowed (e.g. it lists the embedded datasets).
  """
