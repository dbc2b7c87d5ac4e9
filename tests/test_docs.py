"""The docs stay true: every experiment a doc names loads with its variants, every script and file it
names exists, and every relative link resolves."""
import glob
import os
import re

import pytest

from tests import helpers

DOCS = [os.path.join(helpers.ROOT, 'README.md')] + sorted(glob.glob(os.path.join(helpers.ROOT, 'docs', '*.md')))


def _text(path):
  with open(path, encoding='utf-8') as f:
    return f.read()


def _configs():
  out = set()
  for doc in DOCS:
    for path, variants in re.findall(r'--config[= ](experiments/[\w/]+\.py)(?::([\w,]+))?', _text(doc)):
      out.add((os.path.relpath(doc, helpers.ROOT), path, variants or ''))
  return sorted(out)


@pytest.mark.parametrize('doc,path,variants', _configs())
def test_documented_configs_load(doc, path, variants):
  config = helpers.load_config(path, variants or None)
  assert config.family, f'{doc}: {path}:{variants}'


def test_documented_scripts_and_links_exist():
  missing = []
  for doc in DOCS:
    text = _text(doc)
    for script in re.findall(r'(experiments/[\w/]+\.py)', text):
      if not os.path.isfile(os.path.join(helpers.ROOT, script)):
        missing.append(f'{doc}: {script}')
    for target in re.findall(r'\]\(([^)#\s]+)(?:#[^)]*)?\)', text):
      if target.startswith(('http://', 'https://')):
        continue
      if not os.path.exists(os.path.join(os.path.dirname(doc), target)):
        missing.append(f'{doc}: link {target}')
  assert not missing, '\n'.join(missing)
