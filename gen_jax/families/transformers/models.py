"""The transformer family's networks: a GPT-2-style decoder (text and pixels) and a BERT encoder.

``GPT``: token embedding ``wte`` [V, W] (+ learned ``wpe`` [max_len, W] or sinusoidal positions, or RoPE in
the attention), dropout, ``blocks`` (``gen_jax.nn.transformer.Transformer``, causal), final ``ln_f``
(pre-LN) and the head: ``wte`` transposed (tied, GPT-2) or ``head`` [W, V]. Initialisation as GPT-2:
N(0, 0.02), residual projections N(0, 0.02 / sqrt(2 N)), zero biases. With the defaults (learned
positions, pre-LN, tanh GELU, biases, tied head) it is exactly Hugging Face's ``GPT2LMHeadModel``
(``hf.py`` converts checkpoints both ways).

``BERT``: ``wte`` [V + 1, W] (row V is [MASK] for pretraining from scratch), learned ``wpe`` (as BERT; or
sinusoidal positions, or RoPE in the attention, as the GPT), optional token
types ``wtt``, embedding layer norm ``ln_embed`` (post-LN, as BERT), a bidirectional stack, and the MLM
head: ``mlm_dense`` -> GELU -> ``mlm_ln`` -> ``wte`` transposed + ``mlm_bias``. ``hf.py`` loads BERT
checkpoints (all-MiniLM-L6-v2) into it.

Both return float32 logits [B, L, V] whatever the compute dtype.
"""
import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gen_jax.nn.dropout import Dropout
from gen_jax.nn.layers import compute_dtype
from gen_jax.nn.transformer import Transformer, init_cache, sinusoidal_positions

INIT_STD = 0.02


def block_fields(config: Any, causal: bool) -> tuple:
  """The ``TransformerBlock`` fields of ``config.model`` as a hashable tuple."""
  m = config.model
  n = int(m.num_layers)
  from gen_jax.families.transformers.config import mlp_dim  # pylint: disable=g-import-not-at-top
  return tuple(dict(
      num_heads=int(m.num_heads), mlp_dim=mlp_dim(m), dropout_rate=float(m.get('dropout', 0.0)),
      attention_dropout_rate=float(m.get('attention_dropout', 0.0)), norm=m.get('norm', 'pre'),
      layer_norm_eps=float(m.get('layer_norm_eps', 1e-5)), activation=m.get('activation', 'gelu_tanh'),
      causal=causal, rope=m.get('positions', 'learned') == 'rope', implementation=m.get('attention', 'reference'),
      init_stddev=INIT_STD, out_init_stddev=INIT_STD / math.sqrt(2 * n),
      dtype=compute_dtype(m.get('dtype', 'float32'))).items())


class GPT(nn.Module):
  """Decoder-only transformer (module docstring).

  Call: ``logits, cache = gpt(tokens, positions=None, cache=None, cache_index=None, train=False,
  return_weights=False)``: tokens int [B, L] -> logits float32 [B, L, V] (logit i predicts token i + 1).
  ``cache`` ({'k', 'v': [N, B, Lmax, H, D]}, ``init_cache``) with ``cache_index`` (the position of
  tokens[:, 0]) decodes incrementally; positions default to ``cache_index + arange(L)``.
  """
  vocab_size: int
  max_len: int
  width: int
  num_layers: int
  block: tuple
  positions: str = 'learned'
  tie_embeddings: bool = True
  dropout_rate: float = 0.0
  norm: str = 'pre'
  layer_norm_eps: float = 1e-5
  scan: bool = False
  remat: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, tokens, positions=None, cache=None, cache_index=None, train=False, return_weights=False):
    length = tokens.shape[1]
    if positions is None:
      positions = jnp.arange(length)[None, :] + (0 if cache_index is None else cache_index)
    wte = nn.Embed(self.vocab_size, self.width, embedding_init=nn.initializers.normal(INIT_STD), dtype=self.dtype,
                   name='wte')
    x = wte(tokens)
    if self.positions == 'learned':
      x = x + nn.Embed(self.max_len, self.width, embedding_init=nn.initializers.normal(INIT_STD), dtype=self.dtype,
                       name='wpe')(positions)
    elif self.positions == 'sinusoidal':
      x = x + sinusoidal_positions(positions, self.width).astype(self.dtype)
    x = Dropout(self.dropout_rate)(x, deterministic=not train)
    block = self.block + (('deterministic', not train), ('sow_weights', return_weights))
    x, cache = Transformer(self.num_layers, block, self.scan, self.remat, name='blocks')(
        x, cache, None, positions, None, None, cache_index)
    if self.norm == 'pre':
      x = nn.LayerNorm(epsilon=self.layer_norm_eps, dtype=self.dtype, name='ln_f')(x)
    if self.tie_embeddings:
      logits = wte.attend(x)
    else:
      logits = nn.Dense(self.vocab_size, use_bias=False, kernel_init=nn.initializers.normal(INIT_STD),
                        dtype=self.dtype, name='head')(x)
    return logits.astype(jnp.float32), cache


class BERT(nn.Module):
  """Encoder-only transformer with an MLM head (module docstring).

  Call: ``out = bert(tokens, valid=None, token_types=None, train=False, head=True)``: tokens int [B, L];
  ``valid`` [B, L] (1 for real tokens, 0 for padding: padded keys are masked); returns float32 logits
  [B, L, V] with ``head``, else the final hidden states [B, L, W] (sentence embeddings, fine-tuning).
  """
  vocab_size: int               # rows of wte (data vocabulary + 1 for [MASK] when pretraining here)
  max_len: int
  width: int
  num_layers: int
  block: tuple
  positions: str = 'learned'    # 'learned' (wpe, as BERT) | 'sinusoidal' | 'rope' (in the attention: block's rope)
  type_vocab_size: int = 0
  embed_norm: bool = True
  norm: str = 'post'
  layer_norm_eps: float = 1e-12
  dropout_rate: float = 0.0
  mlm_activation: str = 'gelu'
  scan: bool = False
  remat: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, tokens, valid=None, token_types=None, train=False, head=True, return_weights=False):
    from gen_jax.nn.attention import padding_mask  # pylint: disable=g-import-not-at-top
    from gen_jax.nn.transformer import activation  # pylint: disable=g-import-not-at-top
    emb = functools.partial(nn.Embed, embedding_init=nn.initializers.normal(INIT_STD), dtype=self.dtype)
    ln = functools.partial(nn.LayerNorm, epsilon=self.layer_norm_eps, dtype=self.dtype)
    wte = emb(self.vocab_size, self.width, name='wte')
    x = wte(tokens)
    positions = jnp.arange(tokens.shape[1])[None, :]
    if self.positions == 'learned':
      x = x + emb(self.max_len, self.width, name='wpe')(positions)
    elif self.positions == 'sinusoidal':
      x = x + sinusoidal_positions(positions, self.width).astype(self.dtype)
    if self.type_vocab_size:
      types = jnp.zeros_like(tokens) if token_types is None else token_types
      x = x + emb(self.type_vocab_size, self.width, name='wtt')(types)
    if self.embed_norm:
      x = ln(name='ln_embed')(x)
    x = Dropout(self.dropout_rate)(x, deterministic=not train)
    mask = None if valid is None else padding_mask(valid)
    block = self.block + (('deterministic', not train), ('sow_weights', return_weights))
    x, _ = Transformer(self.num_layers, block, self.scan, self.remat, name='blocks')(x, None, mask)
    if self.norm == 'pre':
      x = ln(name='ln_f')(x)
    if not head:
      return x.astype(jnp.float32)
    h = nn.Dense(self.width, kernel_init=nn.initializers.normal(INIT_STD), dtype=self.dtype, name='mlm_dense')(x)
    h = ln(name='mlm_ln')(activation(self.mlm_activation)(h))
    bias = self.param('mlm_bias', nn.initializers.zeros, (self.vocab_size,), jnp.float32)
    return (wte.attend(h).astype(jnp.float32) + bias)


def vocab_size(config: Any, info: Any = None) -> int:
  """The data vocabulary V of ``config``: 2 ** pixel_bits for pixel_gpt, else the text tokenizer's
  (``config.model.vocab_size`` when set; ``info.vocab_size`` or the tokenizer of ``config.dataset``)."""
  m = config.model
  if m.name == 'pixel_gpt':
    return 2 ** int(m.get('pixel_bits', 8))
  if int(m.get('vocab_size', 0) or 0):
    return int(m.vocab_size)
  if info is not None and getattr(info, 'vocab_size', None):
    return int(info.vocab_size)
  from gen_jax.data.text import get_tokenizer  # pylint: disable=g-import-not-at-top
  return get_tokenizer(config.dataset).vocab_size


def sequence_length(config: Any) -> int:
  """Tokens the model reads per example: seq_len for text, H * W * C pixels for pixel_gpt (BOS + 783 ...)."""
  m = config.model
  if m.name == 'pixel_gpt':
    return int(math.prod(data_shape(config)))
  return int(config.dataset.seq_len)


def data_shape(config: Any) -> tuple[int, ...]:
  """pixel_gpt: (H, W, C) of its images (``config.model.data_shape``, default mnist's (28, 28, 1))."""
  return tuple(config.model.get('data_shape', (28, 28, 1)))


def max_len(config: Any) -> int:
  return int(config.model.get('max_len', 0) or sequence_length(config))


def get_model(config: Any, info: Any = None) -> nn.Module:
  """The Flax module of ``config.model`` (its vocabulary from ``info`` or the dataset's tokenizer)."""
  m = config.model
  dtype = compute_dtype(m.get('dtype', 'float32'))
  v = vocab_size(config, info)
  common = dict(max_len=max_len(config), width=int(m.width), num_layers=int(m.num_layers),
                dropout_rate=float(m.get('dropout', 0.0)), norm=m.get('norm', 'pre'),
                layer_norm_eps=float(m.get('layer_norm_eps', 1e-5)), scan=bool(m.get('scan', False)),
                remat=bool(m.get('remat', False)), dtype=dtype)
  if m.name == 'bert':
    return BERT(vocab_size=v + 1, block=block_fields(config, causal=False), positions=m.get('positions', 'learned'),
                **common)
  # pixel_gpt: one more token, BOS (id 2 ** bits), starts every image
  return GPT(vocab_size=v + (1 if m.name == 'pixel_gpt' else 0), block=block_fields(config, causal=True),
             positions=m.get('positions', 'learned'), tie_embeddings=bool(m.get('tie_embeddings', True)), **common)


def empty_cache(config: Any, batch: int, length: int) -> dict:
  """A zero KV cache for ``batch`` sequences of up to ``length`` tokens (compute dtype)."""
  m = config.model
  return init_cache(int(m.num_layers), batch, length, int(m.num_heads), int(m.width) // int(m.num_heads),
                    compute_dtype(m.get('dtype', 'float32')))


def init_params(config: Any, rng: jax.Array, info: Any = None) -> dict:
  """Fresh parameters of ``get_model(config)`` (float32)."""
  model = get_model(config, info)
  tokens = jnp.zeros((1, min(8, max_len(config))), jnp.int32)
  return model.init({'params': rng}, tokens)['params']
