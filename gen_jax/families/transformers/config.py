"""Config of the transformer family: the defaults its experiments share, ``tiny``, and ``validate_config``.

``config.model`` fields (defaults in brackets):
  name            'gpt' (decoder-only LM on a text dataset) | 'pixel_gpt' (decoder-only on image pixels in
                  raster order, ImageGPT-style) | 'bert' (encoder-only, masked-language-model pretraining)
  vocab_size      0: the dataset's (its tokenizer; for pixel_gpt 2 ** pixel_bits); else must equal it [0].
                  BERT's embedding table has one more row, its [MASK] token (id = vocab_size).
  max_len         positions of the model (learned table size, the longest context); 0: the data's
                  (``config.dataset.seq_len``; 784 = 28 * 28 for pixel_gpt on mnist5k) [0]
  width, num_layers, num_heads    [128, 4, 4];  mlp_dim  MLP hidden width, 0: 4 * width [0]
  dropout         on the embeddings and every residual branch [0.0];  attention_dropout  on the weights [0.0]
  positions       'learned' | 'sinusoidal' | 'rope' (GPT and BERT; RoPE adds no position table) ['learned']
  norm            'pre' (GPT-2) | 'post' (BERT) layer norms ['pre'];  layer_norm_eps [1e-5]
  activation      'gelu_tanh' (GPT-2) | 'gelu' (BERT) | 'relu' ['gelu_tanh']
  tie_embeddings  the output head is the token embedding transposed (GPT-2) [True]
  attention       'reference' (written out) | 'xla' | 'cudnn' (jax.nn.dot_product_attention) ['reference']
  scan            one ``nn.scan`` over layers (compile time independent of depth) [False]
  remat           recompute each block in the backward pass (``nn.remat``) [False]
  dtype           compute dtype 'float32' | 'bfloat16' (parameters stay float32) ['float32']
  data_shape      pixel_gpt: (H, W, C) of the dataset's images [(28, 28, 1)]
  pixel_bits      pixel_gpt: quantization of the 8-bit pixels to 2 ** pixel_bits levels [8]
  mlm_probability, mlm_mask, mlm_random   BERT: fraction of tokens predicted, and of those the fractions
                  replaced by [MASK] / a random token (the rest kept) [0.15, 0.8, 0.1]
  init_from       '' or the directory of a Hugging Face checkpoint (config.json + model.safetensors) whose
                  weights initialise the model: GPT-2 for 'gpt' (``hf.py``); such a run can be sampled and
                  evaluated before any training (``step.starts_pretrained``) ['']

``config.dataset`` of a text dataset: tokenizer 'char' | 'bpe' | 'pretrained' (with tokenizer_dir: the
tokenizer of a Hugging Face checkpoint directory, e.g. GPT-2's), vocab_size (BPE), seq_len
(``gen_jax/data/text.py``). pixel_gpt needs an image dataset with scale='01' and no binarize/dequantize.

``config.sample`` (generation, ``sampling.py``):
  num             samples of --mode=sample [64 / 16]
  length          tokens per sample including the prompt, 0: the model's max_len (text) [0]
  prompt          text the samples continue (gpt); '' starts from a newline [''];
  temperature     0: greedy (argmax); else logits / temperature [1.0]
  top_k           keep the k most likely tokens, an integer >= 1; None (unset): no top-k filtering [None]
  top_p           nucleus: the smallest set of most likely tokens with mass >= p, in (0, 1]; 1: no filtering [1.0]
  num_visualize   pixel_gpt: images in the training grids [16]

Variants of the experiment files are parsed by ``gen_jax.core.config.Variants``.
"""
from typing import Any

import ml_collections
from ml_collections.config_dict import placeholder

from gen_jax.core import checks
from gen_jax.core.config import base_config
from gen_jax.nn.attention import IMPLEMENTATIONS
from gen_jax.nn.transformer import ACTIVATIONS, NORMS, POSITIONS

MODELS = ('gpt', 'pixel_gpt', 'bert')
TEXT_MODELS = ('gpt', 'bert')


def model_defaults(name: str) -> ml_collections.ConfigDict:
  """``config.model`` with every field at its default (module docstring)."""
  return ml_collections.ConfigDict(dict(
      name=name, dtype='float32', vocab_size=0, max_len=0, width=128, num_layers=4, num_heads=4, mlp_dim=0,
      dropout=0.0, attention_dropout=0.0, positions='learned', norm='pre', layer_norm_eps=1e-5,
      activation='gelu_tanh', tie_embeddings=True, attention='reference', scan=False, remat=False, pixel_bits=8,
      mlm_probability=0.15, mlm_mask=0.8, mlm_random=0.1, init_from=''))


def sample_defaults(c: Any) -> None:
  # top_k: an int placeholder, so that None (no filter) is the default and --config.sample.top_k=20 still parses
  c.sample.update(dict(num=16, length=0, prompt='', temperature=1.0, top_k=placeholder(int), top_p=1.0,
                       num_visualize=16))


def text_config(model: str = 'gpt', tokenizer: str = 'char', seq_len: int = 128) -> ml_collections.ConfigDict:
  """A language model on ``pydocs``: batch 16 x 128 tokens, AdamW with warm-up and cosine decay."""
  c = base_config()
  c.family = 'transformers'
  c.batch_size = 16
  c.eval_batch_size = 64
  c.num_train_steps = 3000
  c.log_every = 100
  c.eval_every = 1000
  c.checkpoint_every = 1000
  c.sample_every = 0
  c.dataset.name = 'pydocs'
  c.dataset.tokenizer = tokenizer
  c.dataset.vocab_size = 1024 if tokenizer == 'bpe' else 0
  c.dataset.seq_len = seq_len
  c.model = model_defaults(model)
  c.optim.update(dict(name='adamw', lr=1e-3, b2=0.99, weight_decay=0.1, schedule='cosine', warmup_steps=200,
                      end_lr_factor=0.1, grad_clip=1.0, ema_decay=0.0))
  sample_defaults(c)
  return c


def pixel_config() -> ml_collections.ConfigDict:
  """The pixel GPT on the embedded mnist5k digits: 784 8-bit pixels in raster order; 3 layers x 2 heads, width 64,
  batch 8 images, 1,200 steps (2.4 epochs: full 784 x 784 attention costs ~0.2 s per image per step on 2 CPU
  cores)."""
  c = base_config()
  c.family = 'transformers'
  c.batch_size = 8
  c.eval_batch_size = 50
  c.num_train_steps = 1200
  c.log_every = 50
  c.eval_every = 1200
  c.checkpoint_every = 200
  c.sample_every = 1200
  c.dataset.name = 'mnist5k'
  c.dataset.scale = '01'
  c.model = model_defaults('pixel_gpt')
  c.model.update(dict(data_shape=(28, 28, 1), width=64, num_layers=3, num_heads=2, positions='learned'))
  c.optim.update(dict(name='adamw', lr=2e-3, b2=0.99, weight_decay=0.01, schedule='cosine', warmup_steps=50,
                      end_lr_factor=0.05, grad_clip=1.0, ema_decay=0.0))
  sample_defaults(c)
  return c


def shrink_to_tiny(c: Any) -> Any:
  """A seconds-long smoke test of the same model: 1 layer of width 16, a short context, 4 steps."""
  c.batch_size = 4
  c.eval_batch_size = 200
  c.num_train_steps = 4
  c.log_every = 2
  c.eval_every = 4
  c.checkpoint_every = 2
  c.sample_every = 4 if c.model.name == 'pixel_gpt' else 0
  c.model.update(dict(width=16, num_layers=1, num_heads=2, mlp_dim=0))
  c.optim.warmup_steps = 1
  c.sample.num = 4
  c.sample.num_visualize = 4
  if c.model.name != 'pixel_gpt':
    c.dataset.seq_len = 16
    c.dataset.eval_split = 'test[:25%]'   # 3 of the 12 test topics: a short eval pass
    c.sample.length = 0
  return c


def mlp_dim(m: Any) -> int:
  return int(m.get('mlp_dim', 0) or 4 * int(m.width))


def pixel_shape(info: Any) -> tuple[int, int, int]:
  return tuple(info.element_spec['image'][0])


def _validate_sample(config: Any, info: Any, max_len: int) -> None:
  s = config.sample
  checks.integer(s.get('num', 16), 'sample.num', 1)
  length = checks.integer(s.get('length', 0) or 0, 'sample.length', 0, hint='0: the model\'s max_len')
  checks.number(s.get('temperature', 1.0), 'sample.temperature', 0.0, hint='0: greedy')
  if s.get('top_k', None) is not None:
    checks.integer(s.top_k, 'sample.top_k', 1, hint='k keeps the k likeliest tokens; None: no top-k filtering')
  checks.number(s.get('top_p', 1.0), 'sample.top_p', 0.0, 1.0, low_open=True, hint='1: no nucleus filtering')
  checks.integer(s.get('num_visualize', 16), 'sample.num_visualize', 1)
  name = config.model.name
  if name == 'pixel_gpt':
    checks.require(not s.get('prompt', ''), 'config.sample.prompt is for text models; pixel_gpt samples whole images.')
    return
  checks.require(length <= max_len, f'config.sample.length={length} exceeds the model\'s {max_len} positions '
                 f'(config.model.max_len); use at most {max_len} (0: all).')
  if name == 'gpt':
    from gen_jax.families.transformers import sampling  # pylint: disable=g-import-not-at-top
    prompt = sampling.prompt_tokens(config)          # TokenError -> ConfigError inside
    total = length or max_len
    checks.require(len(prompt) < total, f'config.sample.prompt is {len(prompt)} tokens, as long as or longer than '
                   f'the {total} tokens of a sample (config.sample.length, at most the model\'s context '
                   f'config.model.max_len={max_len}); shorten it or raise config.sample.length.')


def validate_config(config: Any, info: Any) -> None:
  """Checks the model against the dataset and the sampler settings before anything compiles."""
  m = config.model
  name = checks.choice(m.name, 'model.name', MODELS, what='a transformer')
  checks.dtype(m.get('dtype', 'float32'))
  width = checks.integer(m.get('width', 128), 'model.width', 1)
  checks.integer(m.get('num_layers', 4), 'model.num_layers', 1)
  heads = checks.integer(m.get('num_heads', 4), 'model.num_heads', 1)
  checks.require(width % heads == 0, f'config.model.num_heads={heads} does not divide config.model.width={width}: '
                 f'each head gets width / num_heads features; use a divisor of {width}.')
  checks.integer(m.get('mlp_dim', 0), 'model.mlp_dim', 0, hint='0: 4 * width')
  checks.number(m.get('dropout', 0.0), 'model.dropout', 0.0, 1.0, high_open=True)
  attn_drop = checks.number(m.get('attention_dropout', 0.0), 'model.attention_dropout', 0.0, 1.0, high_open=True)
  positions = checks.choice(m.get('positions', 'learned'), 'model.positions', POSITIONS[:3])
  checks.choice(m.get('norm', 'pre'), 'model.norm', NORMS)
  checks.choice(m.get('activation', 'gelu_tanh'), 'model.activation', ACTIVATIONS)
  checks.number(m.get('layer_norm_eps', 1e-5), 'model.layer_norm_eps', 0.0, low_open=True)
  impl = checks.choice(m.get('attention', 'reference'), 'model.attention', IMPLEMENTATIONS)
  checks.require(impl == 'reference' or attn_drop == 0.0,
                 f'config.model.attention={impl!r} (jax.nn.dot_product_attention) has no dropout on the attention '
                 'weights: set config.model.attention_dropout=0 or config.model.attention="reference".')
  if impl == 'cudnn':
    import jax  # pylint: disable=g-import-not-at-top
    checks.require(jax.default_backend() == 'gpu' and m.get('dtype', 'float32') == 'bfloat16',
                   'config.model.attention="cudnn" is the flash-attention kernel of NVIDIA GPUs in bfloat16: run on '
                   'a GPU with config.model.dtype="bfloat16", or use attention="xla".')
  head_dim = width // heads
  checks.require(positions != 'rope' or head_dim % 2 == 0,
                 f'RoPE rotates pairs of features: the head width {head_dim} (width / num_heads) must be even.')
  checks.require(positions != 'sinusoidal' or width % 2 == 0,
                 f'sinusoidal positions need an even config.model.width (it is {width}).')
  for field in ('tie_embeddings', 'scan', 'remat'):
    checks.require(isinstance(m.get(field, False), bool), f'config.model.{field}={m.get(field)!r} must be True or False.')
  from gen_jax.families.transformers import models  # pylint: disable=g-import-not-at-top
  if name == 'pixel_gpt':
    shape = checks.image_data(info, 'pixel GPT (model.name="pixel_gpt")')
    ds = config.dataset
    checks.require(ds.get('scale', '01') == '01' and ds.get('binarize', 'none') == 'none'
                   and ds.get('dequantize', 'none') == 'none',
                   'pixel_gpt models the 8-bit pixels themselves: set config.dataset.scale="01", binarize="none" '
                   'and dequantize="none".')
    checks.data_shape(m.get('data_shape', ()), info)
    checks.integer(m.get('pixel_bits', 8), 'model.pixel_bits', 1, 8)
    seq = shape[0] * shape[1] * shape[2]
  else:
    checks.require(info.kind == 'text', f'config.model.name={name!r} needs a text dataset (e.g. pydocs); '
                   f'{info.name!r} holds {info.kind}. For images use model.name="pixel_gpt".')
    seq = int(info.element_spec['tokens'][0][0]) - 1
    given = checks.integer(m.get('vocab_size', 0), 'model.vocab_size', 0, hint="0: the dataset's")
    checks.require(given in (0, info.vocab_size), f'config.model.vocab_size={given} differs from the '
                   f'{info.vocab_size} tokens of the dataset\'s tokenizer; set it to 0 (or {info.vocab_size}).')
    if name == 'bert':
      checks.number(m.get('mlm_probability', 0.15), 'model.mlm_probability', 0.0, 1.0, low_open=True, high_open=True)
      mask = checks.number(m.get('mlm_mask', 0.8), 'model.mlm_mask', 0.0, 1.0)
      rand = checks.number(m.get('mlm_random', 0.1), 'model.mlm_random', 0.0, 1.0)
      checks.require(mask + rand <= 1.0, f'config.model.mlm_mask + mlm_random = {mask + rand} exceeds 1 (they are '
                     'fractions of the predicted tokens; the rest is kept).')
  max_len = checks.integer(m.get('max_len', 0), 'model.max_len', 0, hint="0: the data's sequence length")
  max_len = max_len or seq
  what = 'pixels per image' if name == 'pixel_gpt' else 'tokens per window (config.dataset.seq_len)'
  checks.require(seq <= max_len, f'the data has {seq} {what}, more than the model\'s {max_len} positions '
                 f'(config.model.max_len); raise max_len to at least {seq} or shorten the sequences.')
  init_from = m.get('init_from', '') or ''
  if init_from:
    from gen_jax.families.transformers import hf  # pylint: disable=g-import-not-at-top
    checks.require(name == 'gpt', f'config.model.init_from loads GPT-2 checkpoints into model.name="gpt"; '
                   f'{name!r} cannot start from one.')
    hf.check_compatible(init_from, config, models.vocab_size(config, info), max_len)
  _validate_sample(config, info, max_len)
