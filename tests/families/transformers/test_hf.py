"""Hugging Face GPT-2 checkpoints: a checkpoint built by hand in the transformers layout maps every tensor (our
logits equal a NumPy GPT-2 written here on the raw tensors); a checkpoint written by transformers gives its
logits (fixture); writing and reading round-trip; bad checkpoints are named; config.model.init_from."""
import json
import math
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from gen_jax.core.errors import CheckpointError, ConfigError
from gen_jax.families import transformers as fam
from gen_jax.families.transformers import hf
from tests.families.transformers import tiny

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures')
GPT2_DIR = os.path.join(FIXTURES, 'gpt2_tiny')
DIMS = dict(vocab=96, positions=16, width=16, layers=2, heads=2)


def np_gpt2(t: dict, tokens: np.ndarray, heads: int, eps: float = 1e-5) -> np.ndarray:
  """GPT-2's forward pass (Radford et al. 2019; transformers' modeling_gpt2) on the checkpoint's own tensors."""
  t = {k.removeprefix('transformer.'): np.asarray(v, np.float64) for k, v in t.items()}

  def ln(x, name):
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * t[name + '.weight'] + t[name + '.bias']

  def gelu_new(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))

  b, n = tokens.shape
  x = t['wte.weight'][tokens] + t['wpe.weight'][np.arange(n)]
  i = 0
  while f'h.{i}.ln_1.weight' in t:
    p = f'h.{i}.'
    h = ln(x, p + 'ln_1')
    q, k, v = np.split(h @ t[p + 'attn.c_attn.weight'] + t[p + 'attn.c_attn.bias'], 3, axis=-1)   # Conv1D
    split = lambda a: a.reshape(b, n, heads, -1).transpose(0, 2, 1, 3)  # noqa: E731
    q, k, v = split(q), split(k), split(v)
    s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(q.shape[-1])
    s = np.where(np.tril(np.ones((n, n), bool)), s, -np.inf)
    w = np.exp(s - s.max(-1, keepdims=True))
    a = (w / w.sum(-1, keepdims=True)) @ v
    a = a.transpose(0, 2, 1, 3).reshape(b, n, -1)
    x = x + a @ t[p + 'attn.c_proj.weight'] + t[p + 'attn.c_proj.bias']
    h = ln(x, p + 'ln_2')
    x = x + gelu_new(h @ t[p + 'mlp.c_fc.weight'] + t[p + 'mlp.c_fc.bias']) @ t[p + 'mlp.c_proj.weight'] \
        + t[p + 'mlp.c_proj.bias']
    i += 1
  return ln(x, 'ln_f') @ t['wte.weight'].T


def gpt_config(**fields):
  c = tiny.config('gpt', width=DIMS['width'], num_layers=DIMS['layers'], num_heads=DIMS['heads'],
                  max_len=DIMS['positions'], vocab_size=DIMS['vocab'])
  c.model.update(fields)
  return c


@pytest.fixture(scope='module')
def forward():
  """Our GPT's logits for (params, tokens [2, 12]): one compiled function for every test here."""
  model = fam.get_model(gpt_config(), tiny.text_info())
  return jax.jit(lambda p, t: model.apply({'params': p}, t)[0])


def hand_built(path: str, prefix: str = '', extra_buffers: bool = True, lm_head: bool = False) -> dict:
  """A GPT-2 directory written tensor by tensor in the transformers layout (random values)."""
  r = np.random.default_rng(7)
  w, m, v, n = DIMS['width'], 4 * DIMS['width'], DIMS['vocab'], DIMS['positions']
  shapes = {'wte.weight': (v, w), 'wpe.weight': (n, w), 'ln_f.weight': (w,), 'ln_f.bias': (w,)}
  for i in range(DIMS['layers']):
    p = f'h.{i}.'
    shapes.update({p + 'ln_1.weight': (w,), p + 'ln_1.bias': (w,), p + 'attn.c_attn.weight': (w, 3 * w),
                   p + 'attn.c_attn.bias': (3 * w,), p + 'attn.c_proj.weight': (w, w), p + 'attn.c_proj.bias': (w,),
                   p + 'ln_2.weight': (w,), p + 'ln_2.bias': (w,), p + 'mlp.c_fc.weight': (w, m),
                   p + 'mlp.c_fc.bias': (m,), p + 'mlp.c_proj.weight': (m, w), p + 'mlp.c_proj.bias': (w,)})
  t = {prefix + k: (1.0 * (k.endswith('weight') and 'ln' in k) + 0.3 * r.normal(size=s)).astype(np.float32)
       for k, s in shapes.items()}
  if extra_buffers:  # old GPT-2 files carry the causal mask as a buffer
    for i in range(DIMS['layers']):
      t[f'{prefix}h.{i}.attn.bias'] = np.tril(np.ones((n, n), np.float32))[None, None]
      t[f'{prefix}h.{i}.attn.masked_bias'] = np.array(-1e4, np.float32)
  if lm_head:
    t['lm_head.weight'] = t[prefix + 'wte.weight']
  os.makedirs(path, exist_ok=True)
  save_file(t, os.path.join(path, 'model.safetensors'), metadata={'format': 'pt'})
  with open(os.path.join(path, 'config.json'), 'w') as f:
    json.dump({'model_type': 'gpt2', 'vocab_size': v, 'n_positions': n, 'n_embd': w, 'n_layer': DIMS['layers'],
               'n_head': DIMS['heads'], 'activation_function': 'gelu_new', 'layer_norm_epsilon': 1e-5}, f)
  return t


TOKENS = np.random.default_rng(0).integers(0, 96, (2, 12)).astype(np.int32)


@pytest.mark.parametrize('prefix,lm_head', [('', True), ('transformer.', False)])
def test_hand_built_checkpoint_maps_every_tensor(tmp_path, forward, prefix, lm_head):
  t = hand_built(str(tmp_path), prefix, lm_head=lm_head)
  d, params = hf.load_gpt2(str(tmp_path))
  assert d['width'] == 16 and d['num_layers'] == 2 and d['tie_embeddings']
  np.testing.assert_allclose(forward(params, TOKENS), np_gpt2(t, TOKENS, DIMS['heads']), atol=2e-4, rtol=1e-4)


def test_transformers_checkpoint_gives_transformers_logits(forward):
  fixture = np.load(os.path.join(FIXTURES, 'gpt2_tiny_logits.npz'))
  _, params = hf.load_gpt2(GPT2_DIR)
  np.testing.assert_allclose(forward(params, fixture['tokens']), fixture['logits'], atol=2e-5)
  # the NumPy GPT-2 agrees with transformers as well (the reference of the hand-built test is sound)
  np.testing.assert_allclose(np_gpt2(load_file(os.path.join(GPT2_DIR, 'model.safetensors')), fixture['tokens'], 2),
                             fixture['logits'], atol=2e-5)


def test_write_reproduces_the_transformers_file_and_round_trips(tmp_path):
  _, params = hf.load_gpt2(GPT2_DIR)
  out = hf.save_gpt2(params, gpt_config(), str(tmp_path / 'ours'))
  theirs, ours = load_file(os.path.join(GPT2_DIR, 'model.safetensors')), load_file(os.path.join(out, 'model.safetensors'))
  assert sorted(ours) == sorted(theirs)                   # names: 'transformer.' prefix, no lm_head (tied)
  for k in theirs:
    np.testing.assert_array_equal(ours[k], theirs[k], err_msg=k)
  with open(os.path.join(GPT2_DIR, 'config.json')) as f:
    want = json.load(f)
  got = hf.read_config(out)
  for k in ('model_type', 'vocab_size', 'n_positions', 'n_embd', 'n_layer', 'n_head', 'activation_function',
            'layer_norm_epsilon', 'tie_word_embeddings'):
    assert got[k] == want[k], k
  _, back = hf.load_gpt2(out, scan=True)                  # read back, into the scan-over-layers layout
  _, again = hf.load_gpt2(out)
  assert jax.tree.all(jax.tree.map(np.array_equal, again, params))
  assert back['blocks']['layers']['attn']['query']['kernel'].shape == (2, 16, 2, 8)
  # an untied head is written as lm_head.weight and read back
  params['head'] = {'kernel': np.random.default_rng(1).normal(size=(16, 96)).astype(np.float32)}
  untied = hf.save_gpt2(params, gpt_config(tie_embeddings=False), str(tmp_path / 'untied'))
  assert 'lm_head.weight' in load_file(os.path.join(untied, 'model.safetensors'))
  _, back = hf.load_gpt2(untied)
  np.testing.assert_array_equal(back['head']['kernel'], params['head']['kernel'])


def test_bad_checkpoints_are_named(tmp_path):
  src = os.path.join(GPT2_DIR, 'model.safetensors')
  cases = {
      'missing transformer.h.1.mlp.c_fc.bias': lambda t: t.pop('transformer.h.1.mlp.c_fc.bias'),
      'extra transformer.h.0.attn.rotary': lambda t: t.update({'transformer.h.0.attn.rotary': np.zeros(3, np.float32)}),
      'mis-shaped transformer.h.0.attn.c_attn.weight (48, 16) (expected (16, 48))':
          lambda t: t.update({'transformer.h.0.attn.c_attn.weight': t['transformer.h.0.attn.c_attn.weight'].T.copy()}),
  }
  for message, corrupt in cases.items():
    d = tmp_path / message.split()[0]
    shutil.copytree(GPT2_DIR, d)
    t = load_file(src)
    corrupt(t)
    save_file(t, str(d / 'model.safetensors'), metadata={'format': 'pt'})
    with pytest.raises(CheckpointError) as e:
      hf.load_gpt2(str(d))
    assert message in str(e.value)
  with pytest.raises(CheckpointError, match='config.json'):
    hf.load_gpt2(str(tmp_path))
  with pytest.raises(ConfigError, match='learned positions'):
    hf.save_gpt2({}, gpt_config(positions='rope'), str(tmp_path / 'x'))


def test_init_from_a_checkpoint(tmp_path):
  c = gpt_config(init_from=GPT2_DIR)
  fam.validate_config(c, tiny.text_info())
  state = jax.jit(lambda r: fam.init(r, c, {}))(jax.random.key(0))
  _, want = hf.load_gpt2(GPT2_DIR)
  assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), state.params, want))
  with pytest.raises(ConfigError, match=r'config.model.width=16 \(is 32\)'):
    fam.validate_config(gpt_config(init_from=GPT2_DIR, width=32), tiny.text_info())
  with pytest.raises(ConfigError, match='does not match the model: missing'):
    shutil.copytree(GPT2_DIR, tmp_path / 'bad')
    t = load_file(str(tmp_path / 'bad' / 'model.safetensors'))
    t.pop('transformer.ln_f.bias')
    save_file(t, str(tmp_path / 'bad' / 'model.safetensors'), metadata={'format': 'pt'})
    fam.validate_config(gpt_config(init_from=str(tmp_path / 'bad')), tiny.text_info())
