"""Variational dequantization (Ho et al. 2019, "Flow++", section 3.1).

Uniform dequantization trains the flow on ``y = (x + u) / 256`` with ``u ~ U[0, 1)^D``; its bound
``-log P(x) <= E_u[-log p(y)] + D ln 256`` is loose wherever the model's density is not flat inside a
pixel's bin. A variational dequantizer learns the noise instead: ``u ~ q(u | x)`` on ``(0, 1)^D``, and

  -log P(x) <= E_{q(u|x)} [ -log p(y) + log q(u | x) ] + D ln 256,       y = (x + u) / 256,

(the same conversion to the discrete 8-bit NLL as uniform noise, whose ``log q`` is 0). Here
``u = sigmoid(v)``, ``v = g(eps; x)`` with ``eps ~ N(0, I)`` and ``g`` a stack of affine couplings with
checkerboard masks whose networks also see features of the image ``x``, so

  log q(u | x) = log N(eps) - log |det dg/d eps| - sum log sigmoid'(v).

The data pipeline still delivers uniformly dequantized images; their pixels are recovered exactly
(``pixels_of``: ``floor(256 t)`` of the intensity ``t`` in [0, 1), an exact float32 operation) and the
pipeline's noise is replaced by the learned one.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp

from gen_jax.families.flows.bijectors import checkerboard, log_scale

_LOG_2PI = 1.8378770664093453


def pixels_of(y: jax.Array, low: float, high: float) -> jax.Array:
  """The 8-bit pixels (float32 integers 0..255) of uniformly dequantized images ``y`` in ``[low, high]``."""
  return jnp.clip(jnp.floor((y - low) / (high - low) * 256.0), 0.0, 255.0)


class VariationalDequantizer(nn.Module):
  """``(u, log q(u | x))`` for pixels ``x`` [B, H, W, C] (0..255) and noise ``eps`` [B, H, W, C] ~ N(0, I).

  ``depth`` checkerboard affine couplings (alternating parity, tanh-bounded log-scales), each network a
  3x3 convolution of ``hidden`` channels over [the masked noise, the mask, features of x], the features
  being two 3x3 convolutions of the centred image. Initialised to the identity map of eps (zero last
  layers), so training starts from ``u = sigmoid(eps)``.
  """
  depth: int = 4
  hidden: int = 32

  @nn.compact
  def __call__(self, pixels, eps):
    b = eps.shape[0]
    feats = nn.relu(nn.Conv(self.hidden, (3, 3))(pixels / 255.0 - 0.5))
    feats = nn.relu(nn.Conv(self.hidden, (3, 3))(feats))
    v = eps.astype(jnp.float32)
    c = v.shape[-1]
    log_det = jnp.zeros((b,), jnp.float32)
    for k in range(self.depth):
      m = jnp.asarray(checkerboard(v.shape[1], v.shape[2], k % 2))
      h = jnp.concatenate([v * m, jnp.broadcast_to(m, v.shape[:-1] + (1,)), feats], axis=-1)
      h = nn.relu(nn.Conv(self.hidden, (3, 3))(h))
      h = nn.Conv(2 * c, (3, 3), kernel_init=nn.initializers.zeros)(h)
      factor = self.param(f'scale_factor_{k}', nn.initializers.ones, (c,))
      ls = (1 - m) * log_scale(h[..., :c], 'tanh', factor)
      v = v * jnp.exp(ls) + (1 - m) * h[..., c:]
      log_det = log_det + jnp.sum(ls.reshape(b, -1), axis=-1)
    u = jax.nn.sigmoid(v)
    log_sig = jnp.sum((jax.nn.log_sigmoid(v) + jax.nn.log_sigmoid(-v)).reshape(b, -1), axis=-1)
    log_eps = -0.5 * jnp.sum((eps * eps + _LOG_2PI).reshape(b, -1), axis=-1)
    return u, log_eps - log_det - log_sig
