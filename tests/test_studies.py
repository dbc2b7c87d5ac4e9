"""A stopped study run resumes from its periodic checkpoint (studies.study_config keeps the experiment's period)."""
from gen_jax import studies
from tests import helpers

def test_study_config_keeps_periodic_checkpoints():
  c = helpers.load_config('experiments/autoencoders/vae_mnist5k.py')
  s = studies.study_config(c, tiny=False, steps=5000)
  assert s.num_train_steps == 5000 and s.checkpoint_every == min(c.checkpoint_every, 5000) and s.keep_checkpoints == 1
  assert s.eval_every == 0 and s.sample_every == 0
  t = studies.study_config(c, tiny=True, steps=20)
  assert t.checkpoint_every == 20
