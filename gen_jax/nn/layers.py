"""Small layers shared by several families."""
import jax
import jax.numpy as jnp

COMPUTE_DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}


def compute_dtype(name: str):
  """The jnp dtype of ``config.model.dtype`` (parameters stay float32; validated by ``core.checks.dtype``)."""
  return COMPUTE_DTYPES[name or 'float32']


def depth_to_space(x: jax.Array, block: int = 2) -> jax.Array:
  """[B, H, W, C * block^2] -> [B, H * block, W * block, C] (pixel shuffle; no FLOPs).

  Upsampling as "convolution at low resolution, then depth_to_space" is several times
  faster than a strided transposed convolution on CPUs and avoids its checkerboard
  artefacts (Shi et al. 2016).
  """
  b, h, w, c = x.shape
  if c % (block * block):
    raise ValueError(f'depth_to_space: channels {c} not divisible by block^2 = {block * block}.')
  c_out = c // (block * block)
  x = x.reshape(b, h, w, block, block, c_out).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, h * block, w * block, c_out)


def space_to_depth(x: jax.Array, block: int = 2) -> jax.Array:
  """[B, H, W, C] -> [B, H / block, W / block, C * block^2]; the inverse of ``depth_to_space``."""
  b, h, w, c = x.shape
  if h % block or w % block:
    raise ValueError(f'space_to_depth: spatial size {(h, w)} not divisible by block {block}.')
  x = x.reshape(b, h // block, block, w // block, block, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, h // block, w // block, block * block * c)
