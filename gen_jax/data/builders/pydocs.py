"""``pydocs``: the English prose of CPython's own help topics (``pydoc_data.topics``), split by topic.

Source: ``pydoc_data.topics.topics``, a dict of 79 help topics (e.g. 'assert', 'specialnames', 'types')
to plain text, shipped with every CPython (about 465k characters in Python 3.11: the reference-manual
sections that ``help('assert')`` prints: prose, grammar rules and code examples). The text depends on
the Python version that prepares the dataset; the text pipeline's fingerprint holds a digest of each
split's text, so a run never resumes on a different one.

Normalisation to 96 characters: the text is ASCII except for a few typographic characters (575 in
Python 3.11), mapped by ``ASCII_MAP`` (curly quotes to straight ones, ellipsis to '...', dashes to '--'
and '-', 'ß' to 'ss', '°' to 'deg'); any other character outside printable ASCII and newline becomes '?'.
So every character is one of ``ALPHABET``: newline and the 95 printable ASCII characters 32..126.

Split (by topic, seeded): topics are sorted by name and permuted with ``np.random.default_rng(SPLIT_SEED)``;
walking that order, a topic goes to ``test`` if it keeps test at most ``HELD_OUT_FRACTION`` (10%) of all
characters, else to ``validation`` under the same rule, else to ``train``. Within a split the topics are
stored sorted by name (``disable_shuffling``: record k is the k-th topic).

Features: ``text`` (the normalised topic text, a string) and ``topic`` (its name).
"""
import numpy as np
import tensorflow_datasets as tfds

SPLITS = ('train', 'validation', 'test')
SPLIT_SEED = 0
HELD_OUT_FRACTION = 0.10
ALPHABET = '\n' + ''.join(chr(c) for c in range(32, 127))   # 96 characters
ASCII_MAP = {'\u2019': "'", '\u2018': "'", '\u201c': '"', '\u201d': '"', '\u2026': '...', '\u2014': '--',
             '\u2013': '-', '\u00df': 'ss', '\u00b0': 'deg', '\t': '    ', '\r': ''}
_ALLOWED = frozenset(ALPHABET)


def normalise(text: str) -> str:
  """``text`` with every character in ``ALPHABET`` (module docstring)."""
  return ''.join(c if c in _ALLOWED else ASCII_MAP.get(c, '?') for c in text)


def raw_topics() -> dict[str, str]:
  """The help topics of the running Python, {name: text}, unnormalised."""
  from pydoc_data import topics  # pylint: disable=g-import-not-at-top
  return dict(topics.topics)


def split_topics(sizes: dict[str, int]) -> dict[str, list[str]]:
  """Topic names of each split, sorted (the seeded rule of the module docstring), from {name: characters}."""
  names = sorted(sizes)
  total = sum(sizes.values())
  order = np.random.default_rng(SPLIT_SEED).permutation(len(names))
  out = {s: [] for s in SPLITS}
  used = {'test': 0, 'validation': 0}
  for i in order:
    name = names[i]
    for split in ('test', 'validation'):
      if used[split] + sizes[name] <= HELD_OUT_FRACTION * total:
        out[split].append(name)
        used[split] += sizes[name]
        break
    else:
      out['train'].append(name)
  return {s: sorted(v) for s, v in out.items()}


def split_texts() -> dict[str, list[tuple[str, str]]]:
  """{split: [(topic, normalised text), ...]} exactly as stored."""
  topics = {k: normalise(v) for k, v in raw_topics().items()}
  return {s: [(n, topics[n]) for n in names] for s, names in split_topics({k: len(v) for k, v in topics.items()}).items()}


class Pydocs(tfds.core.GeneratorBasedBuilder):
  """CPython's help topics (pydoc_data.topics) as text, split by topic into train / validation / test."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}

  def _info(self) -> tfds.core.DatasetInfo:
    features = tfds.features.FeaturesDict({'text': tfds.features.Text(), 'topic': tfds.features.Text()})
    return self.dataset_info_from_configs(description=__doc__, features=features, disable_shuffling=True,
                                          homepage='https://github.com/python/cpython/tree/main/Lib/pydoc_data')

  def _split_generators(self, dl_manager):
    del dl_manager  # nothing to download: the text ships with Python
    texts = split_texts()
    return {split: self._generate_examples(texts[split]) for split in SPLITS}

  def _generate_examples(self, items):
    for position, (topic, text) in enumerate(items):
      yield position, {'text': text, 'topic': topic}
