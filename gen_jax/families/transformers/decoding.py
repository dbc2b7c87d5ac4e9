"""Autoregressive generation in one compiled loop, with a KV cache; token filters (greedy, temperature,
top-k, top-p); and the uncached reference decoder the cached one is tested against.

``generate`` runs the prompt through the model once (prefill: it fills the KV cache of positions
0..P-1), then one ``lax.scan`` step per new token: sample token t from the logits of position t - 1,
feed it at position t (writing its keys/values into the cache) and get the logits for t + 1. No Python
loop per token, one compilation per (batch, length). ``generate_uncached`` recomputes the whole
sequence at every step (quadratic in the length) with the same keys: the two give the same tokens.

Sampling a token from logits ``z`` (``sample_logits``):
  temperature 0      argmax (greedy)
  temperature T > 0  z / T, then
  top_k k >= 1       keep the k largest logits (ties at the k-th value kept), the others -inf; None: no filter
  top_p p < 1        keep the smallest set of most likely tokens whose probability reaches p (the most
                     likely token always; Holtzman et al. 2020), the others -inf
  and draw from softmax. Step t uses the key ``fold_in(rng, t)``.
"""
import numbers
from typing import Any, Callable

import jax
import jax.numpy as jnp

_NEG = -1e30


def check_filters(top_k: int | None, top_p: float) -> None:
  """ValueError unless ``top_k`` is None or an integer >= 1 and ``top_p`` is in (0, 1] (Python values: the
  filters are static)."""
  if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 1):
    raise ValueError(f'top_k={top_k!r} must be an integer >= 1 (None: no top-k filtering).')
  if not 0.0 < top_p <= 1.0:
    raise ValueError(f'top_p={top_p!r} must be in (0, 1] (1: no nucleus filtering).')


def filter_logits(logits: jax.Array, top_k: int | None = None, top_p: float = 1.0) -> jax.Array:
  """``logits`` [..., V] with every token outside the top-k and the top-p nucleus set to -1e30 (float32);
  ``top_k=None`` and ``top_p=1`` filter nothing."""
  check_filters(top_k, top_p)
  z = logits.astype(jnp.float32)
  v = z.shape[-1]
  if top_k is not None and top_k < v:
    kth = jax.lax.top_k(z, top_k)[0][..., -1:]
    z = jnp.where(z < kth, _NEG, z)
  if top_p < 1.0:
    sorted_z = jnp.sort(z, axis=-1)[..., ::-1]
    probs = jax.nn.softmax(sorted_z, axis=-1)
    before = jnp.cumsum(probs, axis=-1) - probs            # mass of the strictly more likely tokens
    keep = before < top_p                                  # the first token always (before = 0)
    threshold = jnp.min(jnp.where(keep, sorted_z, jnp.inf), axis=-1, keepdims=True)
    z = jnp.where(z < threshold, _NEG, z)
  return z


def sample_logits(rng: jax.Array, logits: jax.Array, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float = 1.0) -> jax.Array:
  """int32 [...] tokens from ``logits`` [..., V] (module docstring)."""
  if temperature == 0.0:
    check_filters(top_k, top_p)  # (filter_logits checks them on the other path)
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)
  z = filter_logits(logits.astype(jnp.float32) / temperature, top_k, top_p)
  return jax.random.categorical(rng, z, axis=-1).astype(jnp.int32)


def generate(step_fn: Callable, cache: Any, prompt: jax.Array, length: int, rng: jax.Array,
             temperature: float = 1.0, top_k: int | None = None, top_p: float = 1.0) -> jax.Array:
  """Tokens int32 [B, length]: ``prompt`` [B, P] (P >= 1) continued to ``length`` tokens with a KV cache.

  ``step_fn(tokens [B, n], cache, index) -> (logits [B, n, V], cache)`` runs the model on tokens at
  positions ``index .. index + n - 1`` (``cache``: an empty cache for ``length`` positions).
  """
  b, p = prompt.shape
  if not 1 <= p < length:
    raise ValueError(f'the prompt has {p} tokens; it needs 1 .. {length - 1} for samples of {length} tokens.')
  logits, cache = step_fn(prompt, cache, jnp.zeros((), jnp.int32))
  tokens = jnp.zeros((b, length), jnp.int32).at[:, :p].set(prompt.astype(jnp.int32))

  def body(carry, t):
    tokens, cache, last = carry
    tok = sample_logits(jax.random.fold_in(rng, t), last, temperature, top_k, top_p)
    tokens = jax.lax.dynamic_update_slice(tokens, tok[:, None], (jnp.zeros((), jnp.int32), t))
    logits, cache = step_fn(tok[:, None], cache, t)
    return (tokens, cache, logits[:, -1]), None

  (tokens, _, _), _ = jax.lax.scan(body, (tokens, cache, logits[:, -1]), jnp.arange(p, length, dtype=jnp.int32))
  return tokens


def generate_uncached(logits_fn: Callable, prompt: jax.Array, length: int, rng: jax.Array,
                      temperature: float = 1.0, top_k: int | None = None, top_p: float = 1.0) -> jax.Array:
  """The reference for ``generate``: ``logits_fn(tokens [B, length]) -> logits [B, length, V]`` (a causal
  model) recomputed on the whole buffer for every new token; same keys, so the same tokens."""
  b, p = prompt.shape
  tokens = jnp.zeros((b, length), jnp.int32).at[:, :p].set(prompt.astype(jnp.int32))

  def body(tokens, t):
    last = jax.lax.dynamic_index_in_dim(logits_fn(tokens), t - 1, axis=1, keepdims=False)
    tok = sample_logits(jax.random.fold_in(rng, t), last, temperature, top_k, top_p)
    return jax.lax.dynamic_update_slice(tokens, tok[:, None], (jnp.zeros((), jnp.int32), t)), None

  tokens, _ = jax.lax.scan(body, tokens, jnp.arange(p, length, dtype=jnp.int32))
  return tokens


def unmask_iteratively(logits_fn: Callable, num: int, length: int, mask_id: int, rng: jax.Array,
                       temperature: float = 1.0, top_k: int | None = None, top_p: float = 1.0) -> jax.Array:
  """Samples [num, length] from a masked LM: start from all [MASK]; at step t predict every position and
  draw the token of position ``order[t]`` (a random order per sample), so each token is drawn given all the
  tokens drawn before it (order-agnostic autoregressive sampling with a bidirectional model).
  ``logits_fn(tokens [num, length]) -> [num, length, V]``."""
  k_order, k_tok = jax.random.split(rng)
  order = jax.vmap(lambda k: jax.random.permutation(k, length))(jax.random.split(k_order, num))  # [num, L]
  tokens = jnp.full((num, length), mask_id, jnp.int32)
  rows = jnp.arange(num)

  def body(tokens, t):
    pos = order[:, t]
    logits = logits_fn(tokens)[rows, pos]                   # [num, V]
    logits = logits.at[:, mask_id].set(_NEG) if logits.shape[-1] > mask_id else logits
    tok = sample_logits(jax.random.fold_in(k_tok, t), logits, temperature, top_k, top_p)
    return tokens.at[rows, pos].set(tok), None

  tokens, _ = jax.lax.scan(body, tokens, jnp.arange(length))
  return tokens
