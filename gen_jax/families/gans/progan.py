"""Progressive GAN (Karras et al. 2018): generator and discriminator that grow 4 -> 8 -> ... ->
``resolution`` with a fade-in, pixel norm, minibatch std and equalized learning rate.

Growing inside one compiled step: every parameter of every stage exists from the start (the
TrainState never changes shape), and the stage and the fade-in alpha are functions of the step
(``stage_and_alpha``). ``ProGenerator.grow`` / ``ProDiscriminator.grow`` compute every stage's path
and keep the current stage's with ``jnp.where`` on the traced stage: the same arithmetic as the
stage's own network (``__call__`` with a static stage, used by the tests as the reference), one
compilation for the whole run, and no control flow. (A ``lax.switch`` over stages would run only
the current stage, but XLA:CPU executes convolution weight gradients inside conditionals far slower
than in straight-line code, jax-ml/jax#12868; computing the smaller inactive stages costs less.)
Images always travel at the canvas resolution: a stage-s generator output is upsampled (nearest) to
it, and the stage-s discriminator average-pools its input back to ``4 * 2**s`` first, which recovers
the stage's image exactly.

Schedule (``config.model.stable_steps`` S, ``fade_steps`` F, ``n`` stages): stage 0 trains for S
steps; stage s >= 1 starts at ``S + (s - 1)(F + S)``, fades in over F steps (alpha 0 -> 1) and is
then stable for S steps; the last stage runs to the end. The growth ends at ``(n - 1)(F + S)``.
During a fade-in the real images are blended the same way (``real_at_stage``), as in the paper.

The border: when the data are padded to the canvas (28x28 digits on 32x32), a real image reaches
the stage-s discriminator as the padded canvas average-pooled to ``4 * 2**s`` (blended with the
2x coarser pooling in a fade-in), so its border carries the background, exactly at 32 and 16
pixels and mixed with the digit's outer rows at 8 and 4. The family's generator therefore frames
each stage's to-RGB canvas the same way before the fade-in blend (``ProGenerator.grow``'s
``frame``, ``networks.frame_like_data``: crop to the data, pad with the background, pool to the
stage's resolution): a fake reaches the discriminator through the same operator as a real image,
and the generator's own border pixels never do. At the last stage the frame is a crop and pad,
so the samples (cropped to the data) are the to-RGB output itself.

``channels[i]`` is the width at ``4 * 2**i`` in both networks.
"""
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gen_jax.families.gans.models import (
  ConditionalLatent,
  DiscriminatorHead,
  SpectralNormed,
)
from gen_jax.nn.equalized import SQRT2, EqualizedConv, EqualizedDense
from gen_jax.nn.normalization import minibatch_stddev, pixel_norm
from gen_jax.nn.resample import downsample2x, resize_average, resize_nearest, upsample2x


def lrelu(x: jax.Array) -> jax.Array:
  return nn.leaky_relu(x, 0.2)


def growth_end(num_stages: int, stable_steps: int, fade_steps: int) -> int:
  """The step at which the last stage is fully faded in."""
  return (num_stages - 1) * (fade_steps + stable_steps)


def stage_and_alpha(step: jax.Array, num_stages: int, stable_steps: int, fade_steps: int) -> tuple[jax.Array, jax.Array]:
  """``(stage int32, alpha float32)`` at ``step`` (module docstring); alpha is 1 outside fade-ins."""
  step = jnp.asarray(step, jnp.int32)
  period = stable_steps + fade_steps
  stage = jnp.where(step < stable_steps, 0, (step - stable_steps) // period + 1)
  stage = jnp.minimum(stage, num_stages - 1).astype(jnp.int32)
  start = stable_steps + (stage - 1) * period
  alpha = jnp.clip((step - start).astype(jnp.float32) / max(fade_steps, 1), 0.0, 1.0)
  alpha = jnp.where(stage == 0, 1.0, alpha) if fade_steps else jnp.ones((), jnp.float32)
  return stage, alpha.astype(jnp.float32)


def real_at_stage(x: jax.Array, stage: int, alpha: jax.Array) -> jax.Array:
  """Canvas images [B, R, R, C] as the stage-``stage`` discriminator should see real data: at
  ``4 * 2**stage``, blended during a fade-in with the 2x coarser image, upsampled back to R."""
  res = 4 * 2 ** stage
  x_s = resize_average(x, res)
  if stage > 0:
    low = upsample2x(downsample2x(x_s))
    x_s = low + alpha * (x_s - low)
  return resize_nearest(x_s, x.shape[1])


def real_at_dynamic_stage(x: jax.Array, stage: jax.Array, alpha: jax.Array, num_stages: int) -> jax.Array:
  """``real_at_stage`` with a traced ``stage`` in ``0 .. num_stages - 1``."""
  out = real_at_stage(x, 0, alpha)
  for s in range(1, num_stages):
    out = jnp.where(stage == s, real_at_stage(x, s, alpha), out)
  return out


class ProGenerator(nn.Module):
  """z -> 4x4 (dense, conv) -> per stage: upsample, two 3x3 convs; LeakyReLU and pixel norm after
  every layer; a linear 1x1 to-RGB per stage. ``__call__(z, labels, stage, alpha)`` with a static
  ``stage`` returns [B, 4 * 2**stage, ..., C], the fade-in blend of the last two stages' outputs."""
  channels: Sequence[int]
  out_channels: int = 1
  num_classes: int = 0
  embed_dim: int = 32

  def setup(self):
    n = len(self.channels)
    self.cond = ConditionalLatent(self.num_classes, self.embed_dim)
    self.dense = EqualizedDense(16 * self.channels[0], gain=SQRT2 / 4)
    self.conv4 = EqualizedConv(self.channels[0], 3)
    self.conv_a = [EqualizedConv(self.channels[i], 3, name=f'b{4 * 2 ** i}_conv0') for i in range(1, n)]
    self.conv_b = [EqualizedConv(self.channels[i], 3, name=f'b{4 * 2 ** i}_conv1') for i in range(1, n)]
    self.torgb = [EqualizedConv(self.out_channels, 1, gain=1.0, name=f'b{4 * 2 ** i}_torgb') for i in range(n)]

  def __call__(self, z: jax.Array, labels: jax.Array | None, stage: int, alpha: jax.Array) -> jax.Array:
    h = pixel_norm(self.cond(pixel_norm(z.astype(jnp.float32)), labels))
    h = pixel_norm(lrelu(self.dense(h))).reshape(z.shape[0], 4, 4, self.channels[0])
    h = pixel_norm(lrelu(self.conv4(h)))
    feats = [h]
    for i in range(stage):
      h = pixel_norm(lrelu(self.conv_a[i](upsample2x(h))))
      h = pixel_norm(lrelu(self.conv_b[i](h)))
      feats.append(h)
    if self.is_initializing():  # create every stage's to-RGB layer
      for i in range(len(self.channels)):
        self.torgb[i](jnp.zeros((1, 4, 4, self.channels[i])))
    return self._output(feats, stage, alpha)

  def _output(self, feats: list, stage: int, alpha: jax.Array) -> jax.Array:
    out = self.torgb[stage](feats[stage])
    if stage > 0:
      prev = upsample2x(self.torgb[stage - 1](feats[stage - 1]))
      out = prev + alpha * (out - prev)
    return out

  def grow(self, z: jax.Array, labels: jax.Array | None, stage: jax.Array, alpha: jax.Array, canvas: int,
           frame: Callable[[jax.Array, int], jax.Array] | None = None) -> jax.Array:
    """Canvas images [B, canvas, canvas, C] of a traced ``stage``: every stage's output is computed
    (``__call__``'s arithmetic, each to-RGB image upsampled to the canvas before the fade-in blend,
    which nearest upsampling leaves unchanged) and the current one kept. ``frame(x, res)``, if given,
    maps each stage's to-RGB canvas (``res`` = the stage's resolution) before the blend: the family
    passes ``networks.frame_like_data`` so that the discriminator sees the fakes' border exactly as
    it sees the real images' (``real_at_stage``), never the generator's own border pixels."""
    n = len(self.channels)
    h = pixel_norm(self.cond(pixel_norm(z.astype(jnp.float32)), labels))
    h = pixel_norm(lrelu(self.dense(h))).reshape(z.shape[0], 4, 4, self.channels[0])
    feats = [pixel_norm(lrelu(self.conv4(h)))]
    for i in range(n - 1):
      h = pixel_norm(lrelu(self.conv_a[i](upsample2x(feats[-1]))))
      feats.append(pixel_norm(lrelu(self.conv_b[i](h))))
    rgb = [resize_nearest(self.torgb[s](feats[s]), canvas) for s in range(n)]
    if frame is not None:
      rgb = [frame(x, 4 * 2 ** s) for s, x in enumerate(rgb)]
    out = rgb[0]
    for s in range(1, n):
      out = jnp.where(stage == s, rgb[s - 1] + alpha * (rgb[s] - rgb[s - 1]), out)
    return out


class ProDiscriminator(nn.Module):
  """Mirror of the generator: 1x1 from-RGB per stage (LeakyReLU); per stage two 3x3 convs and a 2x
  average pool; at 4x4 minibatch std, a 3x3 conv, a dense layer, and the head. ``__call__(x, labels,
  stage, alpha)`` takes canvas images and reads them at the stage's resolution; during a fade-in the
  new block's output is blended with the from-RGB of the 2x downsampled image."""
  channels: Sequence[int]
  num_classes: int = 0
  mbstd_group: int = 4
  spectral_norm: bool = False

  def setup(self):
    n, eq = len(self.channels), not self.spectral_norm
    sn = lambda layer: SpectralNormed(layer, self.spectral_norm)
    self.fromrgb = [sn(EqualizedConv(self.channels[i], 1, equalized=eq)) for i in range(n)]
    self.conv_a = [sn(EqualizedConv(self.channels[i], 3, equalized=eq)) for i in range(1, n)]
    self.conv_b = [sn(EqualizedConv(self.channels[i - 1], 3, equalized=eq)) for i in range(1, n)]
    self.conv4 = sn(EqualizedConv(self.channels[0], 3, equalized=eq))
    self.fc4 = sn(EqualizedDense(self.channels[0], equalized=eq))
    self.head = DiscriminatorHead(self.num_classes, self.spectral_norm)

  def _block(self, i: int, h: jax.Array, update: bool) -> jax.Array:
    h = lrelu(self.conv_a[i - 1](h, update))
    return downsample2x(lrelu(self.conv_b[i - 1](h, update)))

  def __call__(self, x: jax.Array, labels: jax.Array | None, stage: int, alpha: jax.Array,
               update: bool = False) -> jax.Array:
    x = resize_average(x.astype(jnp.float32), 4 * 2 ** stage)
    if self.is_initializing():  # create every stage's from-RGB layer and block
      for i in range(len(self.channels)):
        h0 = self.fromrgb[i](jnp.zeros((1, 4 * 2 ** i, 4 * 2 ** i, x.shape[-1])))
        if i:
          self._block(i, h0, False)
    h = lrelu(self.fromrgb[stage](x, update))
    if stage > 0:
      h = self._block(stage, h, update)
      prev = lrelu(self.fromrgb[stage - 1](downsample2x(x), update))
      h = prev + alpha * (h - prev)
      for i in reversed(range(1, stage)):
        h = self._block(i, h, update)
    return self._final(h, labels, update)

  def _final(self, h: jax.Array, labels: jax.Array | None, update: bool) -> jax.Array:
    h = minibatch_stddev(h, self.mbstd_group)
    h = lrelu(self.conv4(h, update))
    h = lrelu(self.fc4(h.reshape(h.shape[0], -1), update))
    return self.head(h, labels, update)

  def grow(self, x: jax.Array, labels: jax.Array | None, stage: jax.Array, alpha: jax.Array,
           update: bool = False) -> jax.Array:
    """Logits [B] of canvas images at a traced ``stage``. From the top level down, the features
    entering level i are: from-RGB of the level's image at the stage's level; the fade-in blend of the
    new block's output and the coarser from-RGB one level below it; the block's output further down
    (the arithmetic of ``__call__``)."""
    n = len(self.channels)
    x = x.astype(jnp.float32)
    u = None
    for i in reversed(range(n)):
      e = lrelu(self.fromrgb[i](resize_average(x, 4 * 2 ** i), update))
      if u is None:
        u = e
      else:
        b = self._block(i + 1, u, update)
        u = jnp.where(stage == i, e, jnp.where(stage == i + 1, e + alpha * (b - e), b))
    return self._final(u, labels, update)


def growing_generator(module: ProGenerator, canvas: int, frame: Callable[[jax.Array, int], jax.Array] | None = None):
  """``fn(variables, z, labels, stage, alpha) -> [B, canvas, canvas, C]`` for a traced stage; ``frame`` as in
  ``ProGenerator.grow``."""
  return lambda v, z, y, stage, alpha: module.apply(v, z, y, stage, alpha, canvas, frame, method=module.grow)


def growing_discriminator(module: ProDiscriminator, mutable: Any):
  """``fn(variables, x, labels, stage, alpha, update) -> (logits [B], updated 'spectral' collection or
  {})`` for a traced stage."""
  def fn(v, x, y, stage, alpha, update):
    if mutable:
      return module.apply(v, x, y, stage, alpha, update, method=module.grow, mutable=mutable)
    return module.apply(v, x, y, stage, alpha, update, method=module.grow), {}
  return fn


def build_generator(m: Any, out_channels: int) -> ProGenerator:
  return ProGenerator(tuple(m.channels), out_channels, int(m.get('num_classes', 0) or 0), int(m.get('embed_dim', 32)))


def build_discriminator(m: Any, spectral_norm: bool) -> ProDiscriminator:
  return ProDiscriminator(tuple(m.channels), int(m.get('num_classes', 0) or 0), int(m.get('mbstd_group', 4)),
                          spectral_norm)
