"""Bad input is refused before anything compiles, with one line that names the field, the value and the fix."""
import pytest

from gen_jax.core.errors import ConfigError
from gen_jax.data import DatasetError, get_dataset_info
from gen_jax.families import transformers as fam
from tests.families.transformers import tiny


def _refused(config, info, match):
  with pytest.raises(ConfigError) as e:
    fam.validate_config(config, info)
  msg = str(e.value)
  assert '\n' not in msg, msg
  assert match in msg, msg
  return msg


def _with(model='gpt', sample=None, **fields):
  c = tiny.config(model, **fields)
  c.sample.update(sample or {})
  return c


def test_validate_config_errors():
  info = tiny.text_info()
  fam.validate_config(tiny.config('gpt'), info)            # the tiny config itself is fine
  fam.validate_config(tiny.config('bert'), info)
  assert tiny.config('gpt').sample.top_k is None            # the default: no top-k filter, and it is accepted
  fam.validate_config(_with(sample=dict(top_k=1, top_p=1.0)), info)   # the smallest k, the largest p
  cases = [
      (_with(num_heads=3), 'config.model.num_heads=3 does not divide config.model.width=16'),
      (_with(max_len=4), "the data has 8 tokens per window (config.dataset.seq_len), more than the model's 4 positions"),
      (_with(sample=dict(prompt='The "assert" statement')),
       'config.sample.prompt is 22 tokens, as long as or longer than the 8 tokens of a sample'),
      (_with(sample=dict(prompt='Café')), "config.sample.prompt: character 'é' (at 3 of 'Café') is not in the 96-character vocabulary"),
      (_with(sample=dict(top_p=0.0)), 'config.sample.top_p=0.0 must be a number in (0.0, 1.0]'),
      (_with(sample=dict(top_p=1.5)), 'config.sample.top_p=1.5 must be a number in (0.0, 1.0]'),
      (_with(sample=dict(top_k=-1)), 'config.sample.top_k=-1 must be an integer >= 1'),
      (_with(sample=dict(top_k=0)), 'config.sample.top_k=0 must be an integer >= 1 (k keeps the k likeliest tokens; '
       'None: no top-k filtering)'),
      (_with(sample=dict(temperature=-0.5)), 'config.sample.temperature=-0.5 must be a number >= 0.0 (0: greedy)'),
      (_with(sample=dict(length=20)), "config.sample.length=20 exceeds the model's 8 positions"),
      (_with(name='gpt3'), "config.model.name='gpt3' is not a transformer; allowed: gpt, pixel_gpt, bert"),
      (_with(vocab_size=100), 'config.model.vocab_size=100 differs from the 96 tokens'),
      (_with(positions='alibi'), "config.model.positions='alibi' is not allowed; allowed: learned, sinusoidal, rope"),
      (_with(positions='rope', width=6, num_heads=2), 'the head width 3 (width / num_heads) must be even'),
      (_with(attention='xla', attention_dropout=0.1), 'has no dropout on the attention weights'),
      (_with(attention='cudnn'), 'flash-attention kernel of NVIDIA GPUs'),
      (_with('bert', mlm_mask=0.95, mlm_random=0.1), 'config.model.mlm_mask + mlm_random = 1.05 exceeds 1'),
      (_with(dropout=1.0), 'config.model.dropout=1.0 must be a number in [0.0, 1.0)'),
      (_with(init_from='/no/such/dir'), "config.model.init_from='/no/such/dir'"),
  ]
  for config, match in cases:
    _refused(config, info, match)
  image = tiny.image_info()
  _refused(_with(), image, "config.model.name='gpt' needs a text dataset (e.g. pydocs); 'digits' holds image")
  _refused(tiny.pixel_tiny_config(), info, 'the pixel GPT (model.name="pixel_gpt") need an image dataset')
  px = tiny.pixel_tiny_config()
  px.dataset.scale = '-11'
  _refused(px, image, 'pixel_gpt models the 8-bit pixels themselves: set config.dataset.scale="01"')
  px = tiny.pixel_tiny_config(pixel_bits=9)
  _refused(px, image, 'config.model.pixel_bits=9 must be an integer in 1..8')
  px = tiny.pixel_tiny_config()
  px.sample.prompt = 'a'
  _refused(px, image, 'config.sample.prompt is for text models')


def test_text_dataset_errors():
  c = tiny.config('gpt')
  for field, value, match in [('tokenizer', 'word', "config.dataset.tokenizer='word' is not allowed; allowed: char, bpe"),
                              ('seq_len', 0, 'config.dataset.seq_len=0 must be an integer >= 1'),
                              ('vocab_size', 100, 'config.dataset.vocab_size=100 does not fit tokenizer="char"'),
                              ('seq_len', 200_000, 'too few for windows of config.dataset.seq_len=200000')]:
    d = c.dataset.copy_and_resolve_references()
    d[field] = value
    with pytest.raises(DatasetError, match=match.replace('(', r'\(').replace(')', r'\)')):
      get_dataset_info(d)
