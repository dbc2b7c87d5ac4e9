"""Slow: the one training command reproduces the stored feature nets (accuracy within 0.5%).

    ./launch.sh test -m slow tests/eval/test_train_feature_net_slow.py     # ~2-4 min on 2 CPU cores

The command runs in a subprocess into a temporary weights directory (the stored files are
never touched), on data freshly prepared from the current builders. Identical bytes (same
digest) are expected on the same hardware and software, but only the accuracy is asserted:
float results of XLA may differ in the last bits between CPUs.
"""
import json
import re
import subprocess
import sys

import pytest

from gen_jax.eval import feature_net as fn_lib
from tests import helpers


@pytest.mark.slow
@pytest.mark.parametrize('dataset', fn_lib.DATASETS)
def test_one_command_retrains_to_the_stored_accuracy(dataset, tmp_path, eval_data_dir):
  cmd = [sys.executable, '-m', 'gen_jax.eval.train_feature_net', f'--dataset={dataset}',
         f'--weights_dir={tmp_path}', f'--data_dir={eval_data_dir}']
  proc = subprocess.run(cmd, cwd=helpers.ROOT, env=helpers.env(), capture_output=True, text=True, timeout=1200)
  assert proc.returncode == 0, proc.stderr[-3000:]
  match = re.search(r'test accuracy ([0-9.]+)', proc.stdout)
  assert match, proc.stdout[-2000:]
  stored = fn_lib.load_metadata(dataset)
  with open(fn_lib.weights_paths(dataset, str(tmp_path))[1]) as f:
    new = json.load(f)
  assert new['train_data_sha256'] == stored['train_data_sha256'], 'the training data differ from the stored run'
  assert abs(float(match.group(1)) - stored['test_accuracy']) <= 0.005
  assert abs(new['test_accuracy'] - stored['test_accuracy']) <= 0.005
  assert new['test_accuracy'] >= {'mnist5k': 0.97, 'digits': 0.95}[dataset]
  net = fn_lib.load_feature_net(dataset, str(tmp_path))  # the new files verify against their sidecar
  print(f'{dataset}: digest {"identical" if net.digest == stored["sha256"] else "differs"} '
        f'({net.digest[:12]} vs stored {stored["sha256"][:12]})')
