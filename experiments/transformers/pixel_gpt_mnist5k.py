"""Pixel GPT (ImageGPT-style) on the embedded mnist5k digits: each 28x28 image is the sequence of its 784
8-bit pixels in raster order after a BOS token; exact test bits/dim on the 8-bit scale, the autoregressive
row of the cross-family likelihood table (docs/transformers.md).

Default: 3 layers x 2 heads, width 64, learned positions, batch 8 images (6,272 tokens), AdamW, 1,200 steps.

Variants (comma-separated, e.g. ``:tiny,rope``):
  learned | rope     positions (default learned)
  bits4              pixels quantized to 4 bits (16 levels); bits/dim still on the 8-bit scale (each level
                     spread uniformly over its 16 pixel values)
  tiny               seconds on CPU: a smoke test (8x8 crops are not used: the images stay 28x28)
  ./launch.sh --config=experiments/transformers/pixel_gpt_mnist5k.py:tiny --workdir=/tmp/pixel_gpt
  ./launch.sh --config=experiments/transformers/pixel_gpt_mnist5k.py --workdir=runs/pixel_gpt
"""
from gen_jax.core.config import Variants
from gen_jax.families.transformers.config import pixel_config, shrink_to_tiny

POSITIONS = ('learned', 'rope')
VARIANTS = Variants('tiny', *POSITIONS, 'bits4', exclusive=[POSITIONS])


def get_config(arg: str | None = None):
  v = VARIANTS.parse(arg)
  c = pixel_config()
  c.model.positions = v.pick(*POSITIONS, default='learned')
  if 'bits4' in v:
    c.model.pixel_bits = 4
  if 'tiny' in v:
    shrink_to_tiny(c)
    c.dataset.eval_split = 'test[:40]'   # 784-token sequences: keep the smoke test's eval short
    c.eval_batch_size = 20
  return c
