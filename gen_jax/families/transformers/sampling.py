"""Sampling of the transformer family (contract: ``sample``, ``visualize``, ``save_samples``, ``sampler_cost``).

gpt: continues ``config.sample.prompt`` (a newline when empty) to ``config.sample.length`` tokens with the
KV-cache decoder of ``decoding.py`` (temperature / top-k / top-p from ``config.sample``); returns token ids
int32 [num, length] (prompt included); ``save_samples`` decodes them to text.
pixel_gpt: draws the D = H W C pixel levels of each image after a BOS token (BOS is never sampled) and
returns images [num, H, W, C] in [0, 1] (each level at the centre of its pixel values).
bert: order-agnostic iterative unmasking (``decoding.unmask_iteratively``) of ``seq_len`` tokens.
Every model here is unconditional: ``labels`` are refused.
"""
import os
import shutil
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gen_jax.core import checks
from gen_jax.core.state import eval_params
from gen_jax.families.transformers import decoding, losses
from gen_jax.families.transformers.models import data_shape, empty_cache, get_model, max_len, vocab_size

DEFAULT_PROMPT = '\n'


def prompt_tokens(config: Any) -> np.ndarray:
  """int32 [P]: ``config.sample.prompt`` (or a newline) encoded by the dataset's tokenizer; ConfigError
  naming the character a character vocabulary does not have."""
  from gen_jax.data.text import get_tokenizer  # pylint: disable=g-import-not-at-top
  from gen_jax.data.tokenize import TokenError  # pylint: disable=g-import-not-at-top
  text = config.sample.get('prompt', '') or DEFAULT_PROMPT
  try:
    ids = get_tokenizer(config.dataset).encode(text)
  except TokenError as e:
    checks.require(False, f'config.sample.prompt: {e}')
  checks.require(len(ids) > 0, 'config.sample.prompt encodes to no tokens.')
  return ids


def sample_length(config: Any) -> int:
  """Tokens per generated text sample (prompt included): ``config.sample.length`` or the model's max_len."""
  return int(config.sample.get('length', 0) or max_len(config))


def _filters(config: Any) -> dict:
  s = config.sample
  top_k = s.get('top_k', None)
  return dict(temperature=float(s.get('temperature', 1.0)), top_k=None if top_k is None else int(top_k),
              top_p=float(s.get('top_p', 1.0)))


def _refuse_labels(labels: Any, config: Any) -> None:
  if labels is not None:
    raise ValueError(f'{config.model.name} is an unconditional model: sample() takes no labels.')


def gpt_step_fn(model: Any, params: Any, banned: int | None = None):
  """``(tokens, cache, index) -> (logits, cache)`` of a GPT for ``decoding.generate`` (``banned``: a token id
  never sampled, e.g. the pixel GPT's BOS)."""
  def step(tokens, cache, index):
    logits, cache = model.apply({'params': params}, tokens, cache=cache, cache_index=index)
    if banned is not None:
      logits = logits.at[..., banned].set(-1e30)
    return logits, cache
  return step


def sample(state: Any, rng: jax.Array, num: int, config: Any, labels: Any = None) -> jax.Array:
  """``num`` samples (module docstring); pure and jit-able with ``num`` static."""
  _refuse_labels(labels, config)
  model = get_model(config)
  params = eval_params(state)
  name = config.model.name
  filters = _filters(config)
  if name == 'pixel_gpt':
    bits = int(config.model.get('pixel_bits', 8))
    bos = 2 ** bits
    length = int(np.prod(data_shape(config))) + 1
    prompt = jnp.full((num, 1), bos, jnp.int32)
    tokens = decoding.generate(gpt_step_fn(model, params, banned=bos), empty_cache(config, num, length), prompt,
                               length, rng, **filters)
    return losses.pixel_values(tokens[:, 1:], bits, data_shape(config))
  if name == 'bert':
    v = vocab_size(config)
    fn = lambda t: model.apply({'params': params}, t)  # noqa: E731
    return decoding.unmask_iteratively(fn, num, int(config.dataset.seq_len), v, rng, **filters)
  length = sample_length(config)
  ids = prompt_tokens(config)
  prompt = jnp.broadcast_to(jnp.asarray(ids)[None], (num, len(ids)))
  return decoding.generate(gpt_step_fn(model, params), empty_cache(config, num, length), prompt, length, rng,
                           **filters)


def complete_images(state: Any, rng: jax.Array, images: jax.Array, keep: int, config: Any) -> jax.Array:
  """pixel_gpt: ``images`` [N, H, W, C] in [0, 1] with everything after their first ``keep`` pixels (raster order)
  redrawn by the model given those pixels (e.g. keep = W * C * 14: complete the bottom half from the top half).
  Uses ``config.sample``'s temperature / top-k / top-p; returns [N, H, W, C] in [0, 1]."""
  bits = int(config.model.get('pixel_bits', 8))
  bos = 2 ** bits
  shape = data_shape(config)
  length = int(np.prod(shape)) + 1
  levels = losses.pixel_tokens(images, bits)
  prompt = losses.with_bos(levels, bos)[:, :keep + 1]
  model = get_model(config)
  tokens = decoding.generate(gpt_step_fn(model, eval_params(state), banned=bos),
                             empty_cache(config, images.shape[0], length), prompt, length, rng, **_filters(config))
  return losses.pixel_values(tokens[:, 1:], bits, shape)


def visualize(state: Any, batch: dict, rng: jax.Array, config: Any) -> dict[str, jax.Array]:
  """pixel_gpt: a grid of ``sample.num_visualize`` samples; text models: nothing (the loop draws only images)."""
  del batch
  if config.model.name != 'pixel_gpt':
    return {}
  return {'samples': sample(state, rng, int(config.sample.get('num_visualize', 16)), config)}


def decode_samples(samples: np.ndarray, config: Any) -> list[str]:
  """Token ids [num, L] -> text (BERT's [MASK] id, if any is left, shows as '_')."""
  from gen_jax.data.text import get_tokenizer  # pylint: disable=g-import-not-at-top
  tok = get_tokenizer(config.dataset)
  rows = np.asarray(samples)
  return [tok.decode(np.where(r < tok.vocab_size, r, tok.encode('_')[0])) for r in rows]


def save_samples(samples: np.ndarray, path_stem: str, config: Any) -> str:
  """Writes samples for ``--mode=sample``: a PNG grid (pixel_gpt) or the decoded texts (``path_stem.txt``),
  and the run's tokenizer next to them (``tokenizer.json``), the file that decodes its token ids."""
  if config.model.name == 'pixel_gpt':
    from gen_jax.core.images import save_image_grid  # pylint: disable=g-import-not-at-top
    return save_image_grid(np.asarray(samples), path_stem + '.png', scale=2)
  from gen_jax.data.text import get_tokenizer  # pylint: disable=g-import-not-at-top
  tok = get_tokenizer(config.dataset)
  tok_path = os.path.join(os.path.dirname(path_stem), 'tokenizer.json')
  if not os.path.isfile(tok_path):
    tok.save(tok_path + '.tmp')
    shutil.move(tok_path + '.tmp', tok_path)
  s = config.sample
  header = (f'# {len(samples)} samples of {config.model.name} on {config.dataset.name} (tokenizer '
            f'{tok.kind}, {tok.vocab_size} tokens): prompt {s.get("prompt", "")!r}, temperature '
            f'{s.get("temperature", 1.0)}, top_k {s.get("top_k", None)}, top_p {s.get("top_p", 1.0)}\n')
  path = path_stem + '.txt'
  with open(path, 'w', encoding='utf-8') as f:
    f.write(header)
    for i, text in enumerate(decode_samples(samples, config)):
      f.write(f'\n===== sample {i} =====\n{text}\n')
  return path


def sampler_cost(state: Any, num: int, config: Any):
  """(one decoding step, its args, number of steps) for the benchmark's FLOP count: a one-token step with a
  full-length cache (gpt, pixel_gpt), or one full forward pass per token (bert)."""
  model = get_model(config)
  params = eval_params(state)
  if config.model.name == 'bert':
    L = int(config.dataset.seq_len)
    return (lambda p, t: model.apply({'params': p}, t)), (params, jnp.zeros((num, L), jnp.int32)), L
  length = int(np.prod(data_shape(config))) + 1 if config.model.name == 'pixel_gpt' else sample_length(config)
  cache = empty_cache(config, num, length)
  fn = lambda p, t, c: model.apply({'params': p}, t, cache=c, cache_index=jnp.int32(length // 2))  # noqa: E731
  return fn, (params, jnp.zeros((num, 1), jnp.int32), cache), length - 1
