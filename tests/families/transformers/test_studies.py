"""Every study script (experiments/transformers/study_*.py) runs end to end in --tiny mode."""
import glob
import json
import math
import os

import pytest

from tests import helpers

STUDIES = sorted(glob.glob(os.path.join(helpers.ROOT, 'experiments', 'transformers', 'study_*.py')))
OUTPUTS = {'study_language_model': ('language_model.json', 'language_model_samples.txt', 'language_model.png',
                                    'gpt2_char/model.safetensors', 'gpt2_char/config.json'),
           'study_pixel_gpt': ('pixel_gpt.json', 'pixel_gpt_samples.png', 'pixel_gpt_completions.png'),
           'study_minilm': ('minilm.json',), 'study_minilm_qa': ('minilm_qa.json',)}
# study_minilm and study_minilm_qa fine-tune the 22.7M-parameter MiniLM twice (two backward passes to compile):
# slow tests; its forward pass and the embeddings are checked by test_sentence.py in the default suite.
SLOW = {'study_minilm', 'study_minilm_qa'}


def test_every_study_is_listed():
  assert sorted(os.path.splitext(os.path.basename(p))[0] for p in STUDIES) == sorted(OUTPUTS)


def _cases():
  for path in STUDIES:
    name = os.path.splitext(os.path.basename(path))[0]
    yield pytest.param(path, marks=[pytest.mark.slow] if name in SLOW else [], id=name)


@pytest.mark.parametrize('path', list(_cases()))
def test_study_tiny_end_to_end(path, tmp_path):
  name = os.path.splitext(os.path.basename(path))[0]
  workdir = str(tmp_path / name)
  result = helpers.load_script(path).run(workdir, tiny=True)
  for f in OUTPUTS[name]:
    assert os.path.getsize(os.path.join(workdir, f)) > 0, f
  with open(os.path.join(workdir, OUTPUTS[name][0])) as f:
    assert json.load(f) == json.loads(json.dumps(result))
  nums = list(helpers.numbers(result))
  assert nums and all(math.isfinite(v) for v in nums)
  if name == 'study_pixel_gpt':
    assert result['completions_keep_given_pixels']
