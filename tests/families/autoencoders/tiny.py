"""A tiny autoencoder config on 8x8 images and a jitted init, shared by the family's tests."""
import jax
import ml_collections

from gen_jax.core.config import base_config
from gen_jax.families import autoencoders


def init(config, batch):
  """``autoencoders.init`` under jit (eager Flax/optax init costs seconds per model on CPU)."""
  return jax.jit(lambda r, b: autoencoders.init(r, config, b))(jax.random.key(0), batch)


def config(dataset: str = 'digits', **model):
  """A conv VAE (Bernoulli decoder, 3-d latent) on 8x8x1 images; ``model`` overrides its fields."""
  c = base_config()
  c.family = 'autoencoders'
  c.batch_size = 8
  c.num_train_steps = 10
  c.dataset.name = dataset
  c.model = ml_collections.ConfigDict(dict(name='conv_vae', dtype='float32', data_shape=(8, 8, 1),
                                           features=(4, 8), hidden=16, mlp_hidden=(16, 8), latent_dim=3,
                                           likelihood='bernoulli', beta=1.0))
  c.model.update(model)
  return c
