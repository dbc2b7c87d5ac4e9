"""The super-resolution and augmentation studies (use cases 6 and 7) end to end in --tiny mode."""
import json
import math
import os

from tests import helpers


def _load(name):
  return helpers.load_script(os.path.join('experiments', 'gans', name + '.py'))


def test_super_resolution_study_tiny(tmp_path):
  study = _load('study_super_resolution')
  w = str(tmp_path)
  out = study.run(w, scale=2, tiny=True)
  assert [r['method'] for r in out['table']] == ['bicubic', 'l1', 'srgan']
  assert out['lr_shape'] == [14, 14, 1] and out['hr_shape'] == [28, 28, 1]
  for r in out['table']:
    assert 5 < r['psnr'] < 60 and 0 < r['ssim'] <= 1 and r['fid'] >= 0 and 0 <= r['precision'] <= 1
  with open(os.path.join(w, 'super_resolution.json')) as f:
    assert json.load(f) == json.loads(json.dumps(out))
  assert os.path.getsize(os.path.join(w, 'super_resolution.png')) > 0
  saved = sorted(os.listdir(os.path.join(w, 'models')))   # the generators a second run would reuse
  assert len(saved) == 2 and all(os.path.isfile(os.path.join(w, 'models', d, 'generator.msgpack')) for d in saved)


def test_augmentation_study_tiny(tmp_path):
  study = _load('study_augmentation')
  w = str(tmp_path)
  out = study.run(w, per_class=(1, 2), num_seeds=2, tiny=True)
  assert [(r['per_class'], r['seeds']) for r in out['table']] == [(1, 2), (2, 2)]
  assert len(out['runs']) == 2 * 2 * 3 and out['arms'] == ['real', 'real+cgan_few', 'real+cgan_all']
  for r in out['table']:
    for arm in out['arms']:
      assert 0 <= r[f'{arm}_accuracy'] <= 1 and r[f'{arm}_stderr'] is not None
    for arm in out['arms'][1:]:
      assert math.isclose(r[f'{arm}_gain'], r[f'{arm}_accuracy'] - r['real_accuracy'], abs_tol=2e-4)
  # the fair cGANs saw exactly the classifier's labelled digits; one more saw every train digit
  cgans = out['cgan']['runs']
  assert [(g['per_class'], g['train_examples']) for g in cgans] == [(1, 10), (1, 10), (2, 20), (2, 20),
                                                                    (None, out['num_train'])]
  assert all(0 <= g['classified_as_requested'] <= 1 for g in cgans)
  with open(os.path.join(w, 'augmentation.json')) as f:
    assert json.load(f) == json.loads(json.dumps(out))
  assert os.path.getsize(os.path.join(w, 'augmentation.png')) > 0


def test_augmentation_cgans_see_only_their_own_examples(monkeypatch):
  """``train_cgans`` gives each run batches of its own rows only (the fair arm's generator must never see a
  digit its classifier does not): with images that carry their row number and a step that records the rows
  it is given, each run saw exactly its rows."""
  import types   # pylint: disable=import-outside-toplevel
  import flax.struct   # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp   # pylint: disable=import-outside-toplevel
  import numpy as np   # pylint: disable=import-outside-toplevel
  import ml_collections   # pylint: disable=import-outside-toplevel
  study = _load('study_augmentation')

  class Seen(flax.struct.PyTreeNode):
    step: jnp.ndarray
    seen: jnp.ndarray

  def make_train_step(config):
    def step(state, batch, rng):
      rows = batch['image'][:, 0, 0, 0].astype(jnp.int32)
      return Seen(step=state.step + 1, seen=state.seen.at[rows].set(True)), {'loss': jnp.zeros(())}
    return step

  monkeypatch.setattr(study, 'gans', types.SimpleNamespace(
      make_train_step=make_train_step, init=lambda rng, config, batch: Seen(step=jnp.zeros((), jnp.int32),
                                                                            seen=jnp.zeros(40, bool))))
  labels = np.arange(40) % 10
  images = np.broadcast_to(np.arange(40, dtype=np.float32)[:, None, None, None], (40, 2, 2, 1))
  subsets = [study.labelled_subset(labels, 1, s) for s in range(2)] + [study.labelled_subset(labels, 2, 0)]
  for idx, k in zip(subsets, (1, 1, 2)):   # k per class, drawn by the seed
    assert sorted(labels[idx]) == sorted(list(range(10)) * k)
  assert not np.array_equal(subsets[0], subsets[1])
  config = ml_collections.ConfigDict({'batch_size': 8})
  states, diverged = study.train_cgans(config, images, labels, subsets, [0, 1, 2], steps=60)
  assert not diverged.any() and np.asarray(states.step).tolist() == [60, 60, 60]
  for seen, idx in zip(np.asarray(states.seen), subsets):
    np.testing.assert_array_equal(np.flatnonzero(seen), idx)
