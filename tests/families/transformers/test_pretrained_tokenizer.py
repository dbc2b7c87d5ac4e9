"""Generating from a GPT-2 checkpoint on disk with its own tokenizer (config.dataset.tokenizer='pretrained').

The checkpoint is built here: a tiny random GPT written in the transformers layout by ``hf.save_gpt2``, next to a
tiny byte-level BPE trained with the ``tokenizers`` library and saved as GPT-2 ships its tokenizer
(``vocab.json`` + ``merges.txt``) or as one ``tokenizer.json``. The loader must give the trained tokenizer's ids
(and those of the library's own ``ByteLevelBPETokenizer`` on the same files), decoding must invert encoding,
``--mode=sample`` through the launcher must write text that continues the prompt, and a vocabulary that does
not match the checkpoint, or a directory without tokenizer files, is refused in one line.
"""
import math
import os

import jax
import pytest

from gen_jax.core.errors import ConfigError
from gen_jax.data import DatasetError, get_dataset_info
from gen_jax.data import tokenize
from gen_jax.families import transformers as fam
from gen_jax.families.transformers import hf
from tests import helpers
from tests.families.transformers import tiny

TEXTS = ['The "with" statement is used to wrap the execution of a block with methods defined by a context '
         'manager.', 'A "for" loop iterates over the elements of a sequence; "break" terminates the loop.',
         'Naïve café déjà vu: bytes outside ASCII still encode.'] * 3
VOCAB = 300
DIMS = dict(width=16, num_layers=2, num_heads=2, max_len=32)
PROMPT = 'The "with" statement'


def train_tokenizer():
  """A byte-level BPE of VOCAB tokens, GPT-2 style (no prefix space), trained with the tokenizers library."""
  from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
  tok = Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.decoder = decoders.ByteLevel()
  trainer = trainers.BpeTrainer(vocab_size=VOCAB, show_progress=False,
                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
  tok.train_from_iterator(TEXTS, trainer=trainer)
  assert tok.get_vocab_size() == VOCAB
  return tok


def write_checkpoint(path, vocab: int = VOCAB, layout: str = 'vocab_merges'):
  """A tiny random GPT-2 (our writer) plus the tokenizer files in ``path``; returns the trained tokenizer."""
  c = tiny.config('gpt', vocab_size=vocab, **DIMS)
  params = fam.models.init_params(c, jax.random.key(1))
  hf.save_gpt2(params, c, str(path), vocab=vocab)
  tok = train_tokenizer()
  if layout == 'vocab_merges':
    tok.model.save(str(path))                       # vocab.json + merges.txt, as GPT-2's repository has them
  else:
    tok.save(str(path / 'tokenizer.json'))
  return tok


def gpt2_config(path, **dataset):
  c = helpers.load_config('experiments/transformers/gpt_pydocs.py', 'gpt2')
  c.model.update(DIMS)
  c.model.mlp_dim = 0
  c.model.init_from = str(path)                    # the gpt2 variant's tokenizer_dir follows it
  c.dataset.seq_len = 16
  c.sample.length = 24
  c.dataset.update(dataset)
  return c


@pytest.mark.parametrize('layout', ['vocab_merges', 'tokenizer_json'])
def test_pretrained_tokenizer_matches_the_library_and_round_trips(tmp_path, layout):
  trained = write_checkpoint(tmp_path, layout=layout)
  ours = tokenize.load_pretrained(str(tmp_path))
  assert ours.kind == 'pretrained' and ours.vocab_size == VOCAB
  text = TEXTS[0] + '\n\n  ' + TEXTS[2] + ' Unseen words: zebra, quokka, 1234.'
  ids = ours.encode(text)
  assert ids.tolist() == trained.encode(text).ids
  if layout == 'vocab_merges':                       # and the library's own GPT-2-style reader of the two files
    from tokenizers import ByteLevelBPETokenizer
    ref = ByteLevelBPETokenizer(str(tmp_path / 'vocab.json'), str(tmp_path / 'merges.txt'))
    assert ids.tolist() == ref.encode(text).ids
  assert len(ids) < len(text.encode('utf-8'))        # merges were applied
  assert ours.decode(ids) == text
  assert ours.token_chars[ours.encode('statement')].sum() == len('statement')


def test_sample_mode_from_a_gpt2_directory_through_the_launcher(tmp_path):
  ckpt = tmp_path / 'gpt2'
  write_checkpoint(ckpt)
  work = tmp_path / 'run'
  r = helpers.run_launcher('--config=experiments/transformers/gpt_pydocs.py:gpt2', f'--workdir={work}',
                           '--mode=sample', f'--config.model.init_from={ckpt}', '--config.model.width=16',
                           '--config.model.num_layers=2', '--config.model.num_heads=2', '--config.model.max_len=32',
                           '--config.model.mlp_dim=0', '--config.dataset.seq_len=16', '--config.sample.num=2',
                           '--config.sample.length=24', f'--config.sample.prompt={PROMPT}')
  assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
  with open(work / 'samples_0000000.txt', encoding='utf-8') as f:
    text = f.read()
  assert f'tokenizer pretrained, {VOCAB} tokens' in text
  samples = text.split('===== sample ')[1:]
  assert len(samples) == 2
  tok = tokenize.load_pretrained(str(ckpt))
  for s in samples:
    body = s.split('=====\n', 1)[1].rstrip('\n')
    assert body.startswith(PROMPT) and len(body) > len(PROMPT)
    assert len(tok.encode(body)) >= 24 - 2           # 24 tokens decoded (re-encoding may merge a few)
  # the tokenizer written next to the samples decodes the run's ids as the checkpoint's does
  saved = tokenize.load_tokenizer(str(work / 'tokenizer.json'))
  assert saved.encode(TEXTS[1]).tolist() == tok.encode(TEXTS[1]).tolist()


def test_mismatched_or_missing_tokenizer_is_refused(tmp_path):
  write_checkpoint(tmp_path / 'ok')
  c = gpt2_config(tmp_path / 'ok')
  fam.validate_config(c, get_dataset_info(c.dataset))       # the matching pair is accepted
  write_checkpoint(tmp_path / 'wide', vocab=VOCAB + 4)
  c = gpt2_config(tmp_path / 'wide')
  with pytest.raises(ConfigError) as e:
    fam.validate_config(c, get_dataset_info(c.dataset))
  assert f'has a vocabulary of {VOCAB + 4} tokens but the tokenizer' in str(e.value)
  assert f'has {VOCAB}' in str(e.value) and '\n' not in str(e.value)
  os.makedirs(tmp_path / 'empty')
  with pytest.raises(DatasetError, match='holds no tokenizer: it needs tokenizer.json, or vocab.json and merges.txt'):
    get_dataset_info(gpt2_config(tmp_path / 'empty').dataset)
  c = gpt2_config(tmp_path / 'ok')
  c.model.init_from = ''
  with pytest.raises(DatasetError, match='set config.dataset.tokenizer_dir'):
    get_dataset_info(c.dataset)


def test_eval_mode_from_a_gpt2_directory_without_training(tmp_path):
  from gen_jax import train
  write_checkpoint(tmp_path / 'gpt2')
  c = gpt2_config(tmp_path / 'gpt2', eval_split='test[:25%]')
  c.async_checkpointing = False
  report = train.run_eval(c, str(tmp_path / 'run'))               # a new workdir: the checkpoint's weights
  assert report['checkpoint_step'] == 0
  # weights drawn with std 0.02 give nearly flat logits: about log2(300) bits per token of the pretrained tokenizer
  assert abs(report['metrics']['bits_per_token']['value'] - math.log2(VOCAB)) < 0.2
  assert report['metrics']['bits_per_char']['value'] < report['metrics']['bits_per_token']['value']
