"""ProGAN on a padded canvas: the discriminator sees the fakes' border exactly as it sees the real images'
(each stage's view of a padded canvas), never the generator's own border pixels."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gen_jax.families import gans
from gen_jax.families.gans import networks, progan
from tests.families.gans import tiny


def _numpy_frame(x: np.ndarray, data: int, res: int) -> np.ndarray:
  """Crop the central ``data`` x ``data`` image, pad it with -1, take ``res`` x ``res`` block means, repeat them."""
  b, r, _, c = x.shape
  lo = (r - data) // 2
  padded = np.full_like(x, -1.0)
  padded[:, lo:lo + data, lo:lo + data] = x[:, lo:lo + data, lo:lo + data]
  f = r // res
  means = padded.reshape(b, res, f, res, f, c).mean(axis=(2, 4))
  return np.repeat(np.repeat(means, f, axis=1), f, axis=2)


@pytest.mark.parametrize('data,canvas', [(28, 32), (6, 8)])
def test_frame_like_data_is_the_real_images_view_of_a_stage(data, canvas):
  c = tiny.config('progan', **{'model.data_shape': (data, data, 1), 'model.resolution': canvas,
                               'model.channels': (4,) * int(np.log2(canvas // 2))})
  nets = networks.get_networks(c)
  x = np.random.default_rng(0).uniform(-1, 1, (2, canvas, canvas, 1)).astype(np.float32)
  for res in [4 * 2 ** s for s in range(len(c.model.channels))]:
    np.testing.assert_allclose(networks.frame_like_data(nets, jnp.asarray(x), res), _numpy_frame(x, data, res),
                               rtol=1e-6, atol=1e-6)
  # a real canvas framed at the two resolutions of a fade-in and blended is what the discriminator sees of it
  real = networks.to_canvas(jnp.asarray(x[:, :data, :data]), nets)
  for s in range(1, len(c.model.channels)):
    blend = 0.7 * networks.frame_like_data(nets, real, 4 * 2 ** (s - 1)) + 0.3 * networks.frame_like_data(
        nets, real, 4 * 2 ** s)
    np.testing.assert_allclose(blend, progan.real_at_stage(real, s, jnp.asarray(0.3)), rtol=1e-6, atol=1e-6)


def test_progan_discriminator_never_sees_the_generator_border(monkeypatch):
  """6x6 digits on an 8x8 canvas, ProGAN growing 4 -> 8: at stage 0, in the fade-in and at stage 1, a generator
  whose to-RGB canvases differ only outside the 6x6 data (added before the family's frame, or instead of it if
  there were none) gives the same losses, logits and updates."""
  c = tiny.config('progan', **{'model.data_shape': (6, 6, 1)})
  rng = np.random.default_rng(0)
  batch = {'image': jnp.asarray(rng.uniform(-1, 1, (8, 6, 6, 1)).astype(np.float32)),
           'label': jnp.zeros(8, jnp.int32), 'mask': jnp.ones(8)}
  state = tiny.init(c, batch)
  nets = networks.get_networks(c)
  border = np.asarray(networks.to_canvas(jnp.zeros((1, 6, 6, 1)), nets)) != 0
  assert border.sum() == 64 - 36
  key = jax.random.key(3)
  steps = (0, 3, 7)    # stage 0; stage 1 fading in (alpha 0.25); stage 1 grown (stable 2, fade 4)
  assert [float(a) for _, a in (progan.stage_and_alpha(s, 2, 2, 4) for s in steps)] == [1.0, 0.25, 1.0]

  def run():
    step = jax.jit(gans.make_train_step(c))
    return [step(state.replace(step=jnp.asarray(s, state.step.dtype)), batch, key) for s in steps]

  want = run()
  growing_generator = progan.growing_generator

  def bright_border(module, canvas, frame=None):
    return growing_generator(module, canvas, lambda x, res: (frame or (lambda y, _: y))(x + 5.0 * border, res))

  monkeypatch.setattr(progan, 'growing_generator', bright_border)
  got = run()
  for (want_state, want_m), (got_state, got_m), s in zip(want, got, steps):
    for k in ('d_loss', 'g_loss', 'd_real', 'd_fake'):
      np.testing.assert_allclose(got_m[k], want_m[k], rtol=1e-5, atol=1e-6, err_msg=f'{k} at step {s}')
    for a, b in zip(jax.tree.leaves(got_state.params), jax.tree.leaves(want_state.params)):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
