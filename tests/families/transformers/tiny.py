"""Tiny transformer configs, batches and dataset infos shared by the family's tests."""
import jax.numpy as jnp
import numpy as np

from gen_jax.data import DatasetInfo
from gen_jax.families.transformers.config import pixel_config, text_config

SEQ = 8


def config(model: str = 'gpt', seq_len: int = SEQ, **model_fields):
  """A 1-layer, width-16, 2-head model on pydocs characters with windows of ``seq_len`` + 1 tokens."""
  c = text_config(model, 'char', seq_len)
  c.batch_size = 4
  c.num_train_steps = 10
  c.optim.warmup_steps = 1
  c.model.update(dict(width=16, num_layers=1, num_heads=2))
  c.model.update(model_fields)
  c.sample.update(dict(num=4, length=seq_len, temperature=1.0))
  return c


def text_info(seq_len: int = SEQ, vocab: int = 96) -> DatasetInfo:
  return DatasetInfo('pydocs', 'text', {'tokens': ((seq_len + 1,), np.dtype(np.int32))}, 1000, 100, None, vocab)


def text_batch(n: int = 4, seq_len: int = SEQ, seed: int = 0, vocab: int = 96) -> dict:
  """Random windows; ``'x'`` (the inputs) is what tests/contract.py compares the samples' shape with."""
  tokens = np.random.default_rng(seed).integers(0, vocab, (n, seq_len + 1)).astype(np.int32)
  return {'tokens': jnp.asarray(tokens), 'x': jnp.asarray(tokens[:, :seq_len]), 'mask': jnp.ones(n)}


def pixel_tiny_config(**model_fields):
  """pixel_gpt on 8x8 digits (64 pixels + BOS)."""
  c = pixel_config()
  c.dataset.name = 'digits'
  c.batch_size = 4
  c.num_train_steps = 10
  c.optim.warmup_steps = 1
  c.model.update(dict(data_shape=(8, 8, 1), width=16, num_layers=1, num_heads=2))
  c.model.update(model_fields)
  c.sample.num = 4
  return c


def image_info(shape=(8, 8, 1)) -> DatasetInfo:
  return DatasetInfo('digits', 'image', {'image': (shape, np.dtype(np.float32)), 'label': ((), np.dtype(np.int32))},
                     1000, 100, 10)


def image_batch(n: int = 4, shape=(8, 8, 1), seed: int = 0) -> dict:
  pixels = np.random.default_rng(seed).integers(0, 256, (n,) + shape)
  return {'image': jnp.asarray(pixels / 255.0, jnp.float32), 'label': jnp.zeros(n, jnp.int32), 'mask': jnp.ones(n)}
