"""Text datasets as fixed-length token windows: batch ``k`` of a process is a pure function of (config, k).

``config.dataset`` fields of a text dataset (``pydocs``):
  tokenizer   'char' (96 characters) | 'bpe' (byte-level BPE trained on the train split) | 'pretrained' (the
              byte-level BPE of a Hugging Face checkpoint directory, e.g. GPT-2's: ``tokenizer_dir``) ['char']
  vocab_size  the BPE's size (>= 256) [1024]; must be 0 or the alphabet size (96) for 'char'; 0 or the
              tokenizer's size for 'pretrained'
  tokenizer_dir  'pretrained': the directory with ``tokenizer.json``, or ``vocab.json`` + ``merges.txt`` ['']
  seq_len     L, the context of the model: windows hold L + 1 tokens (inputs ``[:-1]``, targets ``[1:]``) [128]

A split is one token stream: its documents (topics, in stored order) joined by a newline and
tokenized at once (T tokens).

Train stream (mirrors ``batches.py`` for images): epoch ``e`` cuts the stream into ``N = T // L - 1``
windows of L + 1 tokens starting at ``o_e + j L`` (j = 0 .. N-1), where the offset
``o_e = default_rng([OFFSET_TAG, seed, e]).integers(L)`` moves the window boundaries every epoch
(every token is a target about once per epoch, with a different context each epoch). Stream position
``g`` lies in epoch ``e = g // N`` and holds window ``perm_e[g % N]`` with the images' permutation
``perm_e = batches.epoch_permutation(seed, e, N)``; global batch ``k`` is positions ``[k B, (k+1) B)``
and process ``p`` builds rows ``[k B + p B/P, ...)``. Resuming at step k needs nothing but k, on any
number of processes.

Eval: the split once, in order, in non-overlapping windows starting at ``j L`` (j = 0 .. ceil((T-1)/L)-1):
every token but the first is a target exactly once (with the context of its own window only). Batches
hold ``'tokens'`` int32 [B, L + 1] (zero-padded past the end), ``'target_mask'`` float32 [B, L] (1 where
the target is a real token) and the loop's row ``'mask'`` float32 [B]. Summed per window, NLL and
character counts give the exact bits/char of the split.
"""
import dataclasses
import functools
import hashlib
import os
from typing import Any

import numpy as np

from gen_jax.data import sources
from gen_jax.data import tokenize
from gen_jax.data.batches import epoch_permutation
from gen_jax.data.builders.prepare import file_lock
from gen_jax.data.errors import DatasetError

OFFSET_TAG = 0x4f46
SEPARATOR = '\n'
DEFAULT_SEQ_LEN = 128
DEFAULT_BPE_SIZE = 1024


@dataclasses.dataclass(frozen=True)
class TextSpec:
  """The validated text fields of ``config.dataset``."""
  tokenizer: str
  vocab_size: int       # requested BPE size (0 for char; 0 or the checked size for pretrained)
  seq_len: int
  path: str = ''        # tokenizer_dir of a pretrained tokenizer (absolute)


def _int_field(dataset_config: Any, field: str, default: int, minimum: int) -> int:
  value = dataset_config.get(field, default)
  value = default if value is None else value
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
    raise DatasetError(f'config.dataset.{field}={value!r} must be an integer >= {minimum}.')
  return int(value)


def text_spec(dataset_config: Any) -> TextSpec:
  """Reads and checks tokenizer / vocab_size / seq_len of a text dataset's config (DatasetError)."""
  name = dataset_config.get('tokenizer', 'char') or 'char'
  if name not in tokenize.TOKENIZERS:
    raise DatasetError(f'config.dataset.tokenizer={name!r} is not allowed; allowed: {", ".join(tokenize.TOKENIZERS)}.')
  seq_len = _int_field(dataset_config, 'seq_len', DEFAULT_SEQ_LEN, 1)
  if name == 'char':
    size = _int_field(dataset_config, 'vocab_size', 0, 0)
    from gen_jax.data.builders.pydocs import ALPHABET  # pylint: disable=g-import-not-at-top
    if size not in (0, len(ALPHABET)):
      raise DatasetError(f'config.dataset.vocab_size={size} does not fit tokenizer="char", whose vocabulary is the '
                         f'{len(ALPHABET)} characters; set it to 0 (or {len(ALPHABET)}), or use tokenizer="bpe".')
    return TextSpec('char', 0, seq_len)
  if name == 'pretrained':
    path = dataset_config.get('tokenizer_dir', '') or ''
    if not isinstance(path, str) or not path:
      raise DatasetError('config.dataset.tokenizer="pretrained" reads the tokenizer of a checkpoint directory: set '
                         'config.dataset.tokenizer_dir to it (tokenizer.json, or vocab.json and merges.txt; the '
                         'gpt2 variant of experiments/transformers/gpt_pydocs.py sets it with config.model.init_from).')
    return TextSpec('pretrained', _int_field(dataset_config, 'vocab_size', 0, 0), seq_len, os.path.abspath(path))
  return TextSpec('bpe', _int_field(dataset_config, 'vocab_size', DEFAULT_BPE_SIZE, 256), seq_len)


def split_documents(ds: sources.Dataset, split: str) -> list[str]:
  """The documents (texts) of ``split`` in stored order."""
  raw = sources.split_source(ds, split).arrays[ds.raw_key]
  return [t.decode('utf-8') if isinstance(t, bytes) else str(t) for t in raw]


def split_text(ds: sources.Dataset, split: str) -> str:
  """The whole split as one string (documents joined by ``SEPARATOR``)."""
  return SEPARATOR.join(split_documents(ds, split))


def _text_digest(text: str) -> str:
  return hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]


@functools.lru_cache(maxsize=8)
def _tokenizer(name: str, data_dir: str, kind: str, vocab_size: int, path: str = '') -> Any:
  if kind == 'char':
    from gen_jax.data.builders.pydocs import ALPHABET  # pylint: disable=g-import-not-at-top
    return tokenize.CharTokenizer(ALPHABET)
  if kind == 'pretrained':
    tok = tokenize.load_pretrained(path)
    if vocab_size not in (0, tok.vocab_size):
      raise DatasetError(f'config.dataset.vocab_size={vocab_size} differs from the {tok.vocab_size} tokens of the '
                         f'tokenizer in {path}; set it to 0 (or {tok.vocab_size}).')
    return tok
  ds = sources.open_dataset({'name': name, 'data_dir': data_dir})
  docs = split_documents(ds, 'train')
  path = tokenize.tokenizer_file(data_dir, name, vocab_size, _text_digest(SEPARATOR.join(docs)))
  if os.path.isfile(path):
    return tokenize.load_tokenizer(path)
  with file_lock(path + '.lock'):
    if os.path.isfile(path):
      return tokenize.load_tokenizer(path)
    tok = tokenize.train_bpe(docs, vocab_size)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f'{path}.tmp{os.getpid()}'
    tok.save(tmp)
    os.replace(tmp, path)
  return tok


def get_tokenizer(dataset_config: Any) -> Any:
  """The tokenizer of a text dataset's config (``tokenize.CharTokenizer`` or ``BPETokenizer``).

  A BPE is trained on the dataset's 'train' split the first time and stored in the data directory
  (``<data_dir>/<name>/tokenizers/bpe-<size>-<digest of the train text>.json``), then reused. A pretrained
  one is read from ``config.dataset.tokenizer_dir`` (``tokenize.load_pretrained``).
  """
  spec = text_spec(dataset_config)
  ds = sources.open_dataset(dataset_config)
  if ds.kind != 'text':
    raise DatasetError(f'{ds.name!r} holds {ds.kind}, not text: it has no tokenizer.')
  return _tokenizer(ds.name, str(ds.builder.data_dir_root), spec.tokenizer, spec.vocab_size, spec.path)


@functools.lru_cache(maxsize=16)
def _split_tokens(name: str, data_dir: str, split: str, kind: str, vocab_size: int,
                  path: str = '') -> tuple[np.ndarray, str]:
  ds = sources.open_dataset({'name': name, 'data_dir': data_dir})
  text = split_text(ds, split)
  tokens = _tokenizer(name, data_dir, kind, vocab_size, path).encode(text)
  tokens.setflags(write=False)
  return tokens, _text_digest(text)


def split_tokens(ds: sources.Dataset, dataset_config: Any, split: str) -> tuple[np.ndarray, str]:
  """(int32 [T] tokens of the whole split, digest of its text)."""
  spec = text_spec(dataset_config)
  return _split_tokens(ds.name, str(ds.builder.data_dir_root), split, spec.tokenizer, spec.vocab_size, spec.path)


def num_train_windows(num_tokens: int, seq_len: int) -> int:
  """N, the windows per epoch of a stream of T tokens (module docstring)."""
  return num_tokens // seq_len - 1


def num_eval_windows(num_tokens: int, seq_len: int) -> int:
  return -(-(num_tokens - 1) // seq_len)


@dataclasses.dataclass(frozen=True)
class TextTrainBatches:
  """``self(k)``: this process's local batch {'tokens': int32 [local, L + 1]} at train step ``k``."""
  tokens: np.ndarray
  seq_len: int
  seed: int
  global_batch: int
  local_batch: int
  process_index: int

  @property
  def num_windows(self) -> int:
    return num_train_windows(len(self.tokens), self.seq_len)

  def starts(self, positions: np.ndarray) -> np.ndarray:
    """Token index of the first token of the window at each train-stream position."""
    n, L = self.num_windows, self.seq_len
    epochs, offsets = np.divmod(positions, n)
    out = np.empty_like(positions)
    for e in np.unique(epochs):
      sel = epochs == e
      shift = np.random.default_rng([OFFSET_TAG, self.seed, int(e)]).integers(L)
      out[sel] = shift + epoch_permutation(self.seed, int(e), n)[offsets[sel]] * L
    return out

  def __call__(self, step: int) -> dict[str, np.ndarray]:
    start = step * self.global_batch + self.process_index * self.local_batch
    pos = np.arange(start, start + self.local_batch, dtype=np.int64)
    idx = self.starts(pos)[:, None] + np.arange(self.seq_len + 1)[None, :]
    return {'tokens': self.tokens[idx].astype(np.int32)}


@dataclasses.dataclass(frozen=True)
class TextEvalBatches:
  """``self(k)``: local eval batch ``k``: 'tokens' [local, L + 1], 'target_mask' [local, L], 'mask' [local]."""
  tokens: np.ndarray
  seq_len: int
  global_batch: int
  local_batch: int
  process_index: int

  @property
  def num_windows(self) -> int:
    return num_eval_windows(len(self.tokens), self.seq_len)

  def __len__(self) -> int:
    return -(-self.num_windows // self.global_batch)

  def __call__(self, step: int) -> dict[str, np.ndarray]:
    L, T = self.seq_len, len(self.tokens)
    start = step * self.global_batch + self.process_index * self.local_batch
    rows = np.arange(start, start + self.local_batch, dtype=np.int64)
    pos = rows[:, None] * L + np.arange(L + 1)[None, :]                 # token index of each slot
    valid = (pos < T) & (rows[:, None] < self.num_windows)
    tokens = np.where(valid, self.tokens[np.minimum(pos, T - 1)], 0).astype(np.int32)
    return {'tokens': tokens, 'target_mask': valid[:, 1:].astype(np.float32),
            'mask': (rows < self.num_windows).astype(np.float32)}


def element_spec(spec: TextSpec) -> dict:
  return {'tokens': ((spec.seq_len + 1,), np.dtype(np.int32))}


def check_stream(tokens: np.ndarray, spec: TextSpec, name: str, split: str, train: bool) -> None:
  need = 3 * spec.seq_len if train else 2
  if len(tokens) < need:
    raise DatasetError(f'split {split!r} of {name!r} has {len(tokens)} tokens, too few for windows of '
                       f'config.dataset.seq_len={spec.seq_len} (needs {need}); lower seq_len.')


def dataset_fields(ds: sources.Dataset, dataset_config: Any, train_split: str, eval_split: str) -> dict:
  """The ``DatasetInfo`` fields of a text dataset: element_spec, num_train / num_eval (windows), vocab_size."""
  spec = text_spec(dataset_config)
  train, _ = split_tokens(ds, dataset_config, train_split)
  evals, _ = split_tokens(ds, dataset_config, eval_split)
  check_stream(train, spec, ds.name, train_split, True)
  check_stream(evals, spec, ds.name, eval_split, False)
  tok = get_tokenizer(dataset_config)
  return dict(element_spec=element_spec(spec), num_train=num_train_windows(len(train), spec.seq_len),
              num_eval=num_eval_windows(len(evals), spec.seq_len), vocab_size=tok.vocab_size)


def train_stream(ds: sources.Dataset, dataset_config: Any, split: str, seed: int, global_batch: int,
                 local_batch: int, process_index: int) -> tuple[dict, TextTrainBatches, str, int]:
  """(element_spec, batch maker, preprocessing fingerprint, windows per epoch) of a text train split."""
  spec = text_spec(dataset_config)
  tokens, digest = split_tokens(ds, dataset_config, split)
  check_stream(tokens, spec, ds.name, split, True)
  tok = get_tokenizer(dataset_config)
  batches = TextTrainBatches(tokens, spec.seq_len, seed, global_batch, local_batch, process_index)
  fingerprint = f'tokenizer={spec.tokenizer}:{tok.digest},seq_len={spec.seq_len},text={digest}'
  return element_spec(spec), batches, fingerprint, batches.num_windows


def eval_batches(ds: sources.Dataset, dataset_config: Any, split: str, global_batch: int, local_batch: int,
                 process_index: int) -> TextEvalBatches:
  spec = text_spec(dataset_config)
  tokens, _ = split_tokens(ds, dataset_config, split)
  check_stream(tokens, spec, ds.name, split, False)
  return TextEvalBatches(tokens, spec.seq_len, global_batch, local_batch, process_index)
