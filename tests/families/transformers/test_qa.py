"""The extractive-QA study's pieces without a network (experiments/transformers/study_minilm_qa.py; its --tiny
run is a slow test): gold spans survive WordPiece encoding exactly, the span search, SQuAD's scores."""
import os

import numpy as np
import pytest

from gen_jax.core.errors import ConfigError
from gen_jax.families.transformers import sentence
from tests import helpers

QA = helpers.load_script(os.path.join(helpers.ROOT, 'experiments', 'transformers', 'study_minilm_qa.py'))


def test_squad_scores():
  assert QA.normalize_answer('The "__enter__()" Method!') == 'enter method'
  assert QA.f1_score('the cat sat', 'cat sat down') == pytest.approx(0.8)   # precision 1, recall 2/3
  assert QA.f1_score('dog', 'cat') == 0.0 and QA.f1_score('A', 'the') == 1.0   # both empty after normalising


def test_best_span_is_the_highest_scoring_allowed_span():
  length = 40
  start, end = np.zeros((3, length)), np.zeros((3, length))
  context = np.zeros((3, length), np.int32)
  context[:, 5:35] = 1
  start[0, 10], end[0, 12] = 5.0, 5.0           # the plain case
  start[1, 12], end[1, 10] = 9.0, 9.0           # end before start is not a span: the next best pair wins
  end[1, 20] = 1.0
  start[2, 2], end[2, 3] = 50.0, 50.0           # outside the context (the question): never chosen
  start[2, 6], end[2, 6] = 1.0, 1.0
  np.testing.assert_array_equal(QA.best_spans(start, end, context), [[10, 12], [12, 20], [6, 6]])


def test_gold_spans_decode_to_the_answers():
  try:
    path = sentence.minilm_path()
  except ConfigError as e:
    pytest.skip(str(e))
  from tokenizers import Tokenizer  # pylint: disable=g-import-not-at-top
  tok = Tokenizer.from_file(os.path.join(path, 'tokenizer.json'))
  tok.enable_truncation(max_length=128, strategy='only_second')
  task = QA.qa_task(64, 64)
  for split in ('train', 'test'):
    data = QA.encode(tok, task[split], 128)
    assert len(data['ids']) > 40
    assert {q['topic'] for q in data['questions']}.isdisjoint(
        {q['topic'] for q in task['train' if split == 'test' else 'test']})
    assert all(q['question'].count('[MASK]') == 1 for q in data['questions'])
    gold = np.stack([data['start'], data['end']], 1)
    assert QA.score(gold, data)['exact_match'] == 1.0
    for k, ((s, e), offs, q) in enumerate(zip(gold, data['offsets'], data['questions'])):
      assert q['context'][offs[s][0]:offs[e][1]] == q['answer']
      assert data['context'][k, s] == data['context'][k, e] == 1 and data['types'][k, s] == 1
