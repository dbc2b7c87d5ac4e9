"""Hugging Face checkpoints (``config.json`` + ``model.safetensors``, the ``transformers`` layout) <-> our models.

Read with the ``safetensors`` package (numpy; no torch, no transformers).

GPT-2 (``GPT2LMHeadModel``; tensor names with or without the ``transformer.`` prefix):

  wte.weight [V, W]                  -> wte/embedding
  wpe.weight [P, W]                  -> wpe/embedding
  h.i.ln_1.{weight,bias}             -> blocks/layer_i/ln_attn/{scale,bias}
  h.i.attn.c_attn.weight [W, 3W]     -> attn/{query,key,value}/kernel [W, H, W/H]  (Conv1D: x @ weight, q|k|v)
  h.i.attn.c_attn.bias [3W]          -> attn/{query,key,value}/bias [H, W/H]
  h.i.attn.c_proj.{weight [W, W], bias} -> attn/out/{kernel [H, W/H, W], bias}
  h.i.ln_2.{weight,bias}             -> blocks/layer_i/ln_mlp/{scale,bias}
  h.i.mlp.c_fc.{weight [W, M], bias} -> mlp/fc/{kernel, bias}
  h.i.mlp.c_proj.{weight [M, W], bias} -> mlp/proj/{kernel, bias}
  ln_f.{weight,bias}                 -> ln_f/{scale,bias}
  lm_head.weight [V, W]              -> tied to wte (GPT-2; absent or equal to wte.weight), else head/kernel [W, V]

GPT-2 stores its projections as ``Conv1D`` with weights (in, out), i.e. already in our (in, out) order;
``torch.nn.Linear`` (BERT) stores (out, in) and is transposed. The causal-mask buffers of old GPT-2 files
(``h.i.attn.bias``, ``h.i.attn.masked_bias``) are not parameters and are skipped. ``save_gpt2`` writes the
same layout (``transformer.`` prefix, no ``lm_head.weight`` when tied, metadata ``format: pt``), so
``GPT2LMHeadModel.from_pretrained(dir)`` opens a gen_jax model.

BERT (``BertModel``, e.g. all-MiniLM-L6-v2): embeddings.{word,position,token_type}_embeddings,
embeddings.LayerNorm, encoder.layer.i.attention.self.{query,key,value}, attention.output.{dense,LayerNorm},
intermediate.dense, output.{dense,LayerNorm} -> wte, wpe, wtt, ln_embed, attn/{query,key,value,out},
ln_attn, mlp/fc, mlp/proj, ln_mlp (post-LN). The pooler and ``embeddings.position_ids`` are not used.

A checkpoint whose tensors do not match the model raises ``CheckpointError`` naming every missing, extra and
mis-shaped tensor; ``check_compatible`` does this from the file header before anything compiles.
"""
import json
import os
from typing import Any

import numpy as np

from gen_jax.core.errors import CheckpointError, ConfigError

GPT2_ACTIVATIONS = {'gelu_new': 'gelu_tanh', 'gelu_pytorch_tanh': 'gelu_tanh', 'gelu': 'gelu', 'relu': 'relu'}
_GPT2_IGNORED = ('.attn.bias', '.attn.masked_bias')
_BERT_IGNORED = ('pooler.', 'embeddings.position_ids')


# ---------------------------------------------------------------------------------------------- files


def _files(path: str) -> tuple[str, str]:
  cfg, weights = os.path.join(path, 'config.json'), os.path.join(path, 'model.safetensors')
  missing = [f for f in (cfg, weights) if not os.path.isfile(f)]
  if missing:
    raise CheckpointError(f'{path} is not a Hugging Face checkpoint directory: {", ".join(missing)} missing '
                          '(it needs config.json and model.safetensors).')
  return cfg, weights


def read_config(path: str) -> dict:
  """The checkpoint's ``config.json`` as a dict."""
  cfg, _ = _files(path)
  with open(cfg, encoding='utf-8') as f:
    return json.load(f)


def tensor_shapes(path: str) -> dict[str, tuple[int, ...]]:
  """{name: shape} of ``model.safetensors`` read from its header (no tensor data loaded)."""
  from safetensors import safe_open  # pylint: disable=g-import-not-at-top
  _, weights = _files(path)
  with safe_open(weights, framework='numpy') as f:
    return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}


def read_tensors(path: str) -> dict[str, np.ndarray]:
  from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
  return load_file(_files(path)[1])


def _strip(names, prefix: str) -> dict[str, str]:
  """{name without ``prefix``: original name} (names that do not start with it are kept as they are)."""
  return {(n[len(prefix):] if n.startswith(prefix) else n): n for n in names}


# ---------------------------------------------------------------------------------------------- GPT-2


def gpt2_dims(hf: dict) -> dict:
  """Our ``config.model`` fields of a GPT-2 ``config.json``."""
  act = hf.get('activation_function', 'gelu_new')
  if act not in GPT2_ACTIVATIONS:
    raise CheckpointError(f'GPT-2 activation_function={act!r} is not supported; supported: {", ".join(GPT2_ACTIVATIONS)}.')
  w = int(hf['n_embd'])
  return dict(width=w, num_layers=int(hf['n_layer']), num_heads=int(hf['n_head']), max_len=int(hf['n_positions']),
              mlp_dim=int(hf.get('n_inner') or 4 * w), activation=GPT2_ACTIVATIONS[act],
              layer_norm_eps=float(hf.get('layer_norm_epsilon', 1e-5)),
              tie_embeddings=bool(hf.get('tie_word_embeddings', True)), vocab_size=int(hf['vocab_size']),
              positions='learned', norm='pre')


def gpt2_expected_shapes(d: dict) -> dict[str, tuple[int, ...]]:
  """{name: shape} of every parameter tensor of a GPT-2 with dims ``d`` (``gpt2_dims``), without prefix."""
  w, m, v = d['width'], d['mlp_dim'], d['vocab_size']
  out = {'wte.weight': (v, w), 'wpe.weight': (d['max_len'], w), 'ln_f.weight': (w,), 'ln_f.bias': (w,)}
  for i in range(d['num_layers']):
    p = f'h.{i}.'
    out.update({p + 'ln_1.weight': (w,), p + 'ln_1.bias': (w,), p + 'ln_2.weight': (w,), p + 'ln_2.bias': (w,),
                p + 'attn.c_attn.weight': (w, 3 * w), p + 'attn.c_attn.bias': (3 * w,),
                p + 'attn.c_proj.weight': (w, w), p + 'attn.c_proj.bias': (w,),
                p + 'mlp.c_fc.weight': (w, m), p + 'mlp.c_fc.bias': (m,),
                p + 'mlp.c_proj.weight': (m, w), p + 'mlp.c_proj.bias': (w,)})
  if not d['tie_embeddings']:
    out['lm_head.weight'] = (v, w)
  return out


def check_tensors(found: dict[str, tuple[int, ...]], expected: dict[str, tuple[int, ...]], path: str,
                  optional: tuple[str, ...] = (), prefix: str = '') -> None:
  """CheckpointError naming every missing, extra (not ``optional``) and mis-shaped tensor (names as in the
  file: ``prefix`` + the unprefixed name, for the prefixed names the file uses)."""
  missing = sorted(prefix + k for k in set(expected) - set(found))
  extra = sorted(prefix + k for k in set(found) - set(expected) if not any(o in k for o in optional))
  shaped = sorted(f'{prefix}{k} {found[k]} (expected {expected[k]})' for k in set(found) & set(expected)
                  if tuple(found[k]) != tuple(expected[k]))
  if missing or extra or shaped:
    parts = ([f'missing {", ".join(missing)}'] if missing else []) + ([f'extra {", ".join(extra)}'] if extra else []) \
        + ([f'mis-shaped {", ".join(shaped)}'] if shaped else [])
    raise CheckpointError(f'the checkpoint in {path} does not match the model: {"; ".join(parts)}.')


def _gpt2_names(path: str, d: dict) -> dict[str, str]:
  """{unprefixed name: name in the file}, checked against ``d``; lm_head.weight is optional when tied."""
  shapes = tensor_shapes(path)
  names = _strip(shapes, 'transformer.')
  found = {k: shapes[n] for k, n in names.items()}
  prefix = 'transformer.' if any(n.startswith('transformer.') for n in shapes) else ''
  expected = gpt2_expected_shapes(d)
  optional = _GPT2_IGNORED + (('lm_head.weight',) if d['tie_embeddings'] else ())
  if d['tie_embeddings'] and 'lm_head.weight' in found:
    expected = {**expected, 'lm_head.weight': (d['vocab_size'], d['width'])}
  check_tensors(found, expected, path, optional, prefix)
  return names


def check_compatible(path: str, config: Any, vocab: int, max_len: int) -> None:
  """ConfigError (before compiling) unless the GPT-2 checkpoint in ``path`` fits ``config.model`` and the data."""
  try:
    d = gpt2_dims(read_config(path))
    _gpt2_names(path, d)
  except CheckpointError as e:
    raise ConfigError(f'config.model.init_from={path!r}: {e}') from e
  m = config.model
  from gen_jax.families.transformers.config import mlp_dim  # pylint: disable=g-import-not-at-top
  ours = dict(width=int(m.width), num_layers=int(m.num_layers), num_heads=int(m.num_heads), max_len=max_len,
              mlp_dim=mlp_dim(m), activation=m.get('activation', 'gelu_tanh'),
              layer_norm_eps=float(m.get('layer_norm_eps', 1e-5)), tie_embeddings=bool(m.get('tie_embeddings', True)),
              vocab_size=vocab, positions=m.get('positions', 'learned'), norm=m.get('norm', 'pre'))
  diff = [f'config.model.{k}={d[k]!r} (is {ours[k]!r})' for k in d if d[k] != ours[k] and k != 'vocab_size']
  if d['vocab_size'] != vocab:
    ds = config.dataset
    if ds.get('tokenizer', 'char') == 'pretrained':
      raise ConfigError(f'config.model.init_from={path!r} has a vocabulary of {d["vocab_size"]} tokens but the tokenizer '
                        f'in config.dataset.tokenizer_dir={ds.get("tokenizer_dir", "")!r} has {vocab}; give the '
                        'tokenizer files that belong to this checkpoint.')
    diff.append(f'a tokenizer of {d["vocab_size"]} tokens (the dataset\'s has {vocab})')
  if diff:
    raise ConfigError(f'config.model.init_from={path!r} is a GPT-2 that needs {"; ".join(diff)}.')


def gpt2_params(tensors: dict[str, np.ndarray], d: dict) -> dict:
  """Our (unscanned) GPT parameters from GPT-2 tensors (unprefixed names), float32."""
  w, h = d['width'], d['num_heads']
  dh = w // h
  t = {k: np.asarray(v, np.float32) for k, v in tensors.items()}
  ln = lambda p: {'scale': t[p + '.weight'], 'bias': t[p + '.bias']}  # noqa: E731
  blocks = {}
  for i in range(d['num_layers']):
    p = f'h.{i}.'
    qkv_w = t[p + 'attn.c_attn.weight'].reshape(w, 3, h, dh)
    qkv_b = t[p + 'attn.c_attn.bias'].reshape(3, h, dh)
    attn = {name: {'kernel': qkv_w[:, j], 'bias': qkv_b[j]} for j, name in enumerate(('query', 'key', 'value'))}
    attn['out'] = {'kernel': t[p + 'attn.c_proj.weight'].reshape(h, dh, w), 'bias': t[p + 'attn.c_proj.bias']}
    blocks[f'layer_{i}'] = {
        'ln_attn': ln(p + 'ln_1'), 'attn': attn, 'ln_mlp': ln(p + 'ln_2'),
        'mlp': {'fc': {'kernel': t[p + 'mlp.c_fc.weight'], 'bias': t[p + 'mlp.c_fc.bias']},
                'proj': {'kernel': t[p + 'mlp.c_proj.weight'], 'bias': t[p + 'mlp.c_proj.bias']}}}
  params = {'wte': {'embedding': t['wte.weight']}, 'wpe': {'embedding': t['wpe.weight']}, 'blocks': blocks,
            'ln_f': ln('ln_f')}
  if not d['tie_embeddings']:
    params['head'] = {'kernel': t['lm_head.weight'].T.copy()}
  return params


def load_gpt2(path: str, scan: bool = False) -> tuple[dict, dict]:
  """``(model fields, params)`` of the GPT-2 checkpoint in ``path`` (``scan``: the stacked-layer layout)."""
  d = gpt2_dims(read_config(path))
  names = _gpt2_names(path, d)
  raw = read_tensors(path)
  tensors = {k: raw[n] for k, n in names.items() if not any(s in k for s in _GPT2_IGNORED)}
  if d['tie_embeddings'] and 'lm_head.weight' in tensors and not np.array_equal(tensors['lm_head.weight'],
                                                                                tensors['wte.weight']):
    raise CheckpointError(f'{path}: tie_word_embeddings is true but lm_head.weight differs from wte.weight.')
  params = gpt2_params(tensors, d)
  if scan:
    params['blocks'] = _stack(params['blocks'], d['num_layers'])
  return d, params


def _stack(blocks: dict, n: int) -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  return {'layers': jax.tree.map(lambda *xs: np.stack(xs), *[blocks[f'layer_{i}'] for i in range(n)])}


def _unstack(blocks: dict) -> dict:
  if 'layers' not in blocks:
    return blocks
  import jax  # pylint: disable=g-import-not-at-top
  n = jax.tree.leaves(blocks['layers'])[0].shape[0]
  return {f'layer_{i}': jax.tree.map(lambda x: x[i], blocks['layers']) for i in range(n)}  # noqa: B023


def gpt2_config_json(config: Any, vocab: int, max_len: int) -> dict:
  """The ``config.json`` of our GPT as a ``GPT2LMHeadModel``; ConfigError for what GPT-2 cannot express."""
  m = config.model
  from gen_jax.families.transformers.config import mlp_dim  # pylint: disable=g-import-not-at-top
  bad = []
  if m.get('positions', 'learned') != 'learned':
    bad.append(f'positions={m.positions!r} (GPT-2 has learned positions)')
  if m.get('norm', 'pre') != 'pre':
    bad.append('norm="post" (GPT-2 is pre-LN)')
  if bad:
    raise ConfigError(f'this model cannot be written as a GPT-2 checkpoint: {", ".join(bad)}.')
  act = {'gelu_tanh': 'gelu_new', 'gelu': 'gelu', 'relu': 'relu'}[m.get('activation', 'gelu_tanh')]
  drop = float(m.get('dropout', 0.0))
  return {'architectures': ['GPT2LMHeadModel'], 'model_type': 'gpt2', 'vocab_size': vocab, 'n_positions': max_len,
          'n_embd': int(m.width), 'n_layer': int(m.num_layers), 'n_head': int(m.num_heads), 'n_inner': mlp_dim(m),
          'activation_function': act, 'resid_pdrop': drop, 'embd_pdrop': drop,
          'attn_pdrop': float(m.get('attention_dropout', 0.0)), 'layer_norm_epsilon': float(m.get('layer_norm_eps', 1e-5)),
          'initializer_range': 0.02, 'scale_attn_weights': True, 'tie_word_embeddings': bool(m.get('tie_embeddings', True)),
          'bos_token_id': 0, 'eos_token_id': 0, 'use_cache': True}


def gpt2_tensors(params: Any, tie: bool) -> dict[str, np.ndarray]:
  """GPT-2 tensors (``transformer.``-prefixed, as ``save_pretrained`` writes them) of our GPT parameters."""
  p = _to_numpy(params)
  blocks = _unstack(p['blocks'])
  t = {'transformer.wte.weight': p['wte']['embedding'], 'transformer.wpe.weight': p['wpe']['embedding'],
       'transformer.ln_f.weight': p['ln_f']['scale'], 'transformer.ln_f.bias': p['ln_f']['bias']}
  for i in range(len(blocks)):
    b, pre = blocks[f'layer_{i}'], f'transformer.h.{i}.'
    a = b['attn']
    w = a['query']['kernel'].shape[0]
    t[pre + 'ln_1.weight'], t[pre + 'ln_1.bias'] = b['ln_attn']['scale'], b['ln_attn']['bias']
    t[pre + 'attn.c_attn.weight'] = np.stack([a[n]['kernel'] for n in ('query', 'key', 'value')], 1).reshape(w, 3 * w)
    t[pre + 'attn.c_attn.bias'] = np.stack([a[n]['bias'] for n in ('query', 'key', 'value')]).reshape(3 * w)
    t[pre + 'attn.c_proj.weight'] = a['out']['kernel'].reshape(w, w)
    t[pre + 'attn.c_proj.bias'] = a['out']['bias']
    t[pre + 'ln_2.weight'], t[pre + 'ln_2.bias'] = b['ln_mlp']['scale'], b['ln_mlp']['bias']
    t[pre + 'mlp.c_fc.weight'], t[pre + 'mlp.c_fc.bias'] = b['mlp']['fc']['kernel'], b['mlp']['fc']['bias']
    t[pre + 'mlp.c_proj.weight'], t[pre + 'mlp.c_proj.bias'] = b['mlp']['proj']['kernel'], b['mlp']['proj']['bias']
  if not tie:
    t['lm_head.weight'] = p['head']['kernel'].T
  return {k: np.ascontiguousarray(v, np.float32) for k, v in t.items()}


def save_gpt2(params: Any, config: Any, path: str, vocab: int | None = None) -> str:
  """Writes our GPT (``params`` of ``config``) as a Hugging Face GPT-2 checkpoint directory; returns it."""
  from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
  from gen_jax.families.transformers.models import max_len, vocab_size  # pylint: disable=g-import-not-at-top
  if config.model.name != 'gpt':
    raise ConfigError(f'only model.name="gpt" can be written as GPT-2 (this is {config.model.name!r}).')
  v = vocab or vocab_size(config)
  cfg = gpt2_config_json(config, v, max_len(config))
  os.makedirs(path, exist_ok=True)
  with open(os.path.join(path, 'config.json'), 'w', encoding='utf-8') as f:
    json.dump(cfg, f, indent=2)
  save_file(gpt2_tensors(params, cfg['tie_word_embeddings']), os.path.join(path, 'model.safetensors'),
            metadata={'format': 'pt'})
  return path


def _to_numpy(tree: Any) -> Any:
  import jax  # pylint: disable=g-import-not-at-top
  return jax.tree.map(lambda x: np.asarray(jax.device_get(x), np.float32), tree)


def load_params_callback(config: Any) -> Any:
  """Inside ``init`` (traced under jit): the parameters of ``config.model.init_from`` through a host
  callback, so that the weights are read when the compiled init runs instead of being baked into the
  program as constants."""
  import jax  # pylint: disable=g-import-not-at-top
  from gen_jax.families.transformers.models import init_params  # pylint: disable=g-import-not-at-top
  shapes = jax.eval_shape(lambda: init_params(config, jax.random.key(0)))
  path, scan = config.model.init_from, bool(config.model.get('scan', False))

  def read():
    _, params = load_gpt2(path, scan)
    return jax.tree.map(lambda s, x: np.asarray(x, s.dtype).reshape(s.shape), shapes, params)

  return jax.pure_callback(read, shapes)


# ------------------------------------------------------------------------------------------------ BERT


def bert_dims(hf: dict) -> dict:
  act = hf.get('hidden_act', 'gelu')
  if act not in ('gelu', 'relu', 'gelu_new'):
    raise CheckpointError(f'BERT hidden_act={act!r} is not supported; supported: gelu, gelu_new, relu.')
  return dict(width=int(hf['hidden_size']), num_layers=int(hf['num_hidden_layers']),
              num_heads=int(hf['num_attention_heads']), mlp_dim=int(hf['intermediate_size']),
              max_len=int(hf['max_position_embeddings']), vocab_size=int(hf['vocab_size']),
              type_vocab_size=int(hf.get('type_vocab_size', 0)), layer_norm_eps=float(hf.get('layer_norm_eps', 1e-12)),
              activation={'gelu': 'gelu', 'gelu_new': 'gelu_tanh', 'relu': 'relu'}[act])


def bert_expected_shapes(d: dict) -> dict[str, tuple[int, ...]]:
  w, m = d['width'], d['mlp_dim']
  out = {'embeddings.word_embeddings.weight': (d['vocab_size'], w),
         'embeddings.position_embeddings.weight': (d['max_len'], w),
         'embeddings.LayerNorm.weight': (w,), 'embeddings.LayerNorm.bias': (w,)}
  if d['type_vocab_size']:
    out['embeddings.token_type_embeddings.weight'] = (d['type_vocab_size'], w)
  for i in range(d['num_layers']):
    p = f'encoder.layer.{i}.'
    for n in ('query', 'key', 'value'):
      out[p + f'attention.self.{n}.weight'] = (w, w)
      out[p + f'attention.self.{n}.bias'] = (w,)
    out.update({p + 'attention.output.dense.weight': (w, w), p + 'attention.output.dense.bias': (w,),
                p + 'attention.output.LayerNorm.weight': (w,), p + 'attention.output.LayerNorm.bias': (w,),
                p + 'intermediate.dense.weight': (m, w), p + 'intermediate.dense.bias': (m,),
                p + 'output.dense.weight': (w, m), p + 'output.dense.bias': (w,),
                p + 'output.LayerNorm.weight': (w,), p + 'output.LayerNorm.bias': (w,)})
  return out


def bert_params(tensors: dict[str, np.ndarray], d: dict) -> dict:
  """Our BERT encoder parameters (no MLM head) from ``BertModel`` tensors (unprefixed names), float32."""
  w, h = d['width'], d['num_heads']
  dh = w // h
  t = {k: np.asarray(v, np.float32) for k, v in tensors.items()}
  ln = lambda p: {'scale': t[p + '.weight'], 'bias': t[p + '.bias']}  # noqa: E731
  blocks = {}
  for i in range(d['num_layers']):
    p = f'encoder.layer.{i}.'
    attn = {n: {'kernel': t[p + f'attention.self.{n}.weight'].T.reshape(w, h, dh),
                'bias': t[p + f'attention.self.{n}.bias'].reshape(h, dh)} for n in ('query', 'key', 'value')}
    attn['out'] = {'kernel': t[p + 'attention.output.dense.weight'].T.reshape(h, dh, w),
                   'bias': t[p + 'attention.output.dense.bias']}
    blocks[f'layer_{i}'] = {
        'attn': attn, 'ln_attn': ln(p + 'attention.output.LayerNorm'), 'ln_mlp': ln(p + 'output.LayerNorm'),
        'mlp': {'fc': {'kernel': t[p + 'intermediate.dense.weight'].T.copy(), 'bias': t[p + 'intermediate.dense.bias']},
                'proj': {'kernel': t[p + 'output.dense.weight'].T.copy(), 'bias': t[p + 'output.dense.bias']}}}
  params = {'wte': {'embedding': t['embeddings.word_embeddings.weight']},
            'wpe': {'embedding': t['embeddings.position_embeddings.weight']},
            'ln_embed': ln('embeddings.LayerNorm'), 'blocks': blocks}
  if d['type_vocab_size']:
    params['wtt'] = {'embedding': t['embeddings.token_type_embeddings.weight']}
  return params


def load_bert(path: str) -> tuple[dict, dict]:
  """``(dims, params)`` of the BERT encoder in ``path`` (names with or without a ``bert.`` prefix)."""
  d = bert_dims(read_config(path))
  shapes = tensor_shapes(path)
  names = _strip(shapes, 'bert.')
  check_tensors({k: shapes[n] for k, n in names.items()}, bert_expected_shapes(d), path,
                optional=_BERT_IGNORED + ('cls.',), prefix='bert.' if any(n.startswith('bert.') for n in shapes) else '')
  raw = read_tensors(path)
  return d, bert_params({k: raw[n] for k, n in names.items() if k in bert_expected_shapes(d)}, d)
