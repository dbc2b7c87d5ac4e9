"""Tokenizers of the text datasets: characters, and a byte-level BPE trained with the ``tokenizers`` library.

Both map a string to int32 token ids and back, and know how many characters each token stands for
(``token_chars`` [V]), so that a loss per token converts exactly to bits per character
(``bits/char = sum of NLL over tokens / (ln 2 * sum of their characters)``) and character- and
BPE-level models compare on one scale.

* ``CharTokenizer``: one id per character of a fixed alphabet (``pydocs``: newline + the 95 printable
  ASCII characters = 96 ids, id = index in the alphabet). A character outside it is an error that
  names it (``TokenError``).
* ``BPETokenizer``: GPT-2-style byte-level BPE (``tokenizers.pre_tokenizers.ByteLevel`` without a
  prefix space, the 256 byte symbols as its initial alphabet, merges of pairs seen at least twice),
  trained on the train split only. Every string encodes (bytes never fall out of the vocabulary),
  decoding inverts encoding exactly, and a token of n bytes stands for n characters of ASCII text
  (``pydocs`` is ASCII after normalisation). Training on pydocs takes ~0.2 s and is deterministic;
  the trained tokenizer is stored once per data directory (``get_tokenizer``) and its digest is part
  of the pipeline's fingerprint, so a run never resumes with another tokenizer.
* A pretrained byte-level BPE (``load_pretrained``, kind 'pretrained'): the tokenizer that ships with a
  Hugging Face checkpoint directory, e.g. GPT-2's, read from its ``tokenizer.json`` or, in the older layout,
  ``vocab.json`` + ``merges.txt`` (byte-level pre-tokenizer without a prefix space and the byte-level
  decoder, as GPT-2's). No network, no ``transformers``: the ``tokenizers`` library alone.

Files: ``save(path)`` writes JSON (the ``tokenizers`` format for BPE; ``{"type": "char", "alphabet": ...}``
for characters) that ``load_tokenizer(path)`` reads back.
"""
import hashlib
import json
import os
from typing import Any, Sequence

import numpy as np

from gen_jax.data.errors import DatasetError

TOKENIZERS = ('char', 'bpe', 'pretrained')
PRETRAINED_FILES = ('tokenizer.json', 'vocab.json', 'merges.txt')


class TokenError(ValueError):
  """Text that a tokenizer cannot encode (a character outside a character vocabulary)."""


def _digest(blob: str) -> str:
  return hashlib.sha256(blob.encode('utf-8')).hexdigest()[:16]


class CharTokenizer:
  """One token per character of ``alphabet`` (id = its index)."""
  kind = 'char'

  def __init__(self, alphabet: str):
    if len(set(alphabet)) != len(alphabet):
      raise ValueError('a character alphabet has no repeated characters.')
    self.alphabet = alphabet
    self.vocab_size = len(alphabet)
    self._ids = {c: i for i, c in enumerate(alphabet)}
    self._table = np.array(list(alphabet), dtype=object)
    self.token_chars = np.ones(self.vocab_size, np.int32)
    self.digest = _digest(self.to_json())

  def encode(self, text: str) -> np.ndarray:
    """int32 [len(text)]; TokenError naming the first character outside the alphabet."""
    try:
      return np.fromiter((self._ids[c] for c in text), np.int32, len(text))
    except KeyError as e:
      i = next(i for i, c in enumerate(text) if c not in self._ids)
      raise TokenError(f'character {text[i]!r} (at {i} of {text[max(0, i - 20):i + 20]!r}) is not in the {self.vocab_size}-'
                       f'character vocabulary (newline and printable ASCII); use those characters.') from e

  def decode(self, ids: Sequence[int] | np.ndarray) -> str:
    ids = np.asarray(ids, np.int64).reshape(-1)
    if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
      raise TokenError(f'token ids must lie in 0..{self.vocab_size - 1}; got {ids.min()}..{ids.max()}.')
    return ''.join(self._table[ids])

  def to_json(self) -> str:
    return json.dumps({'type': 'char', 'alphabet': self.alphabet})

  def save(self, path: str) -> str:
    with open(path, 'w', encoding='utf-8') as f:
      f.write(self.to_json())
    return path


class BPETokenizer:
  """A byte-level BPE (``tokenizers.Tokenizer``) with the same interface as ``CharTokenizer``; ``kind`` is 'bpe'
  (trained here) or 'pretrained' (``load_pretrained``)."""

  def __init__(self, tokenizer: Any, kind: str = 'bpe'):
    self.kind = kind
    self.tokenizer = tokenizer
    self.vocab_size = tokenizer.get_vocab_size()
    vocab = tokenizer.get_vocab()
    # A byte-level token string has one (mapped) symbol per byte; pydocs is ASCII: bytes = characters.
    self.token_chars = np.zeros(self.vocab_size, np.int32)
    for token, i in vocab.items():
      self.token_chars[i] = len(token)
    self.digest = _digest(self.to_json())

  def encode(self, text: str) -> np.ndarray:
    return np.asarray(self.tokenizer.encode(text).ids, np.int32)

  def decode(self, ids: Sequence[int] | np.ndarray) -> str:
    ids = np.asarray(ids, np.int64).reshape(-1)
    if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
      raise TokenError(f'token ids must lie in 0..{self.vocab_size - 1}; got {ids.min()}..{ids.max()}.')
    return self.tokenizer.decode(ids.tolist())

  def to_json(self) -> str:
    return self.tokenizer.to_str()

  def save(self, path: str) -> str:
    with open(path, 'w', encoding='utf-8') as f:
      f.write(self.to_json())
    return path


def train_bpe(texts: Sequence[str], vocab_size: int) -> BPETokenizer:
  """A byte-level BPE of ``vocab_size`` tokens (>= 256: the bytes come first) trained on ``texts``."""
  from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # pylint: disable=g-import-not-at-top
  if vocab_size < 256:
    raise DatasetError(f'config.dataset.vocab_size={vocab_size} is too small for a byte-level BPE: its first 256 '
                       'tokens are the bytes; use 256 or more (e.g. 1024).')
  tok = Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
  tok.decoder = decoders.ByteLevel()
  trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False, special_tokens=[],
                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
  tok.train_from_iterator(list(texts), trainer=trainer)
  return BPETokenizer(tok)


def load_pretrained(path: str) -> BPETokenizer:
  """The byte-level BPE in the checkpoint directory ``path``: its ``tokenizer.json`` when there is one, else
  ``vocab.json`` + ``merges.txt`` (GPT-2's files). DatasetError when neither is there or a file is unreadable."""
  from tokenizers import Tokenizer, decoders, models, pre_tokenizers  # pylint: disable=g-import-not-at-top
  if not os.path.isdir(path):
    raise DatasetError(f'config.dataset.tokenizer_dir={path!r} is not a directory (it should hold tokenizer.json, '
                       'or vocab.json and merges.txt, e.g. a GPT-2 checkpoint directory).')
  full, vocab, merges = (os.path.join(path, f) for f in PRETRAINED_FILES)
  try:
    if os.path.isfile(full):
      return BPETokenizer(Tokenizer.from_file(full), kind='pretrained')
    if os.path.isfile(vocab) and os.path.isfile(merges):
      tok = Tokenizer(models.BPE.from_file(vocab, merges))
      tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
      tok.decoder = decoders.ByteLevel()
      return BPETokenizer(tok, kind='pretrained')
  except Exception as e:  # noqa: BLE001 - the tokenizers library raises plain Exceptions for unreadable files
    raise DatasetError(f'config.dataset.tokenizer_dir={path!r}: its tokenizer files cannot be read '
                       f'({type(e).__name__}: {str(e).strip()[:200]}).') from e
  present = [f for f in PRETRAINED_FILES if os.path.isfile(os.path.join(path, f))]
  raise DatasetError(f'config.dataset.tokenizer_dir={path!r} holds no tokenizer: it needs tokenizer.json, or '
                     f'vocab.json and merges.txt (found: {", ".join(present) or "none of them"}).')


def load_tokenizer(path: str) -> CharTokenizer | BPETokenizer:
  """A tokenizer from its JSON file (``save``)."""
  with open(path, encoding='utf-8') as f:
    blob = f.read()
  return tokenizer_from_json(blob)


def tokenizer_from_json(blob: str) -> CharTokenizer | BPETokenizer:
  obj = json.loads(blob)
  if obj.get('type') == 'char':
    return CharTokenizer(obj['alphabet'])
  from tokenizers import Tokenizer  # pylint: disable=g-import-not-at-top
  return BPETokenizer(Tokenizer.from_str(blob))


def bits_per_char(nll_nats: Any, num_chars: Any) -> Any:
  """Bits per character from a summed NLL in nats and the number of characters it covers."""
  return nll_nats / (np.log(2.0) * num_chars)


def tokenizer_file(root: str, name: str, vocab_size: int, text_digest: str) -> str:
  """Where the BPE of dataset ``name`` is stored in data directory ``root``."""
  return os.path.join(root, name.replace('/', '-'), 'tokenizers', f'bpe-{vocab_size}-{text_digest}.json')
