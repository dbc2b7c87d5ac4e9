"""GPT on the embedded ``pydocs`` text (CPython's help topics): next-token prediction, bits/char, generation.

Default: characters (96 tokens), context 128, 4 layers x 4 heads, width 128 (822,016 parameters), dropout 0.1,
batch 16 x 128 tokens, AdamW (lr 1e-3, warm-up 200, cosine), 3,000 steps (16 epochs of the train split).

Variants (comma-separated, e.g. ``:tiny,bpe``):
  char | bpe                    tokenizer: characters (default) or a 1,024-token byte-level BPE trained on
                                the train split, 1,000 steps (a BPE token holds ~2.9 characters: about the
                                text of 3,000 character steps; bits/char compare across the two)
  learned | sinusoidal | rope   positions (default learned, as GPT-2)
  peer                          the Hugging Face peer of the speed benchmark: GPT2LMHeadModel with 4 layers,
                                4 heads, width 128, context 128, vocab 96, dropout 0.1 (embeddings, residuals,
                                attention), AdamW; 822,016 parameters
  scan | remat                  scan over layers / rematerialise blocks (same numbers, other compile/memory)
  tiny                          seconds on CPU: a smoke test
  ./launch.sh --config=experiments/transformers/gpt_pydocs.py:tiny --workdir=/tmp/gpt
  ./launch.sh --config=experiments/transformers/gpt_pydocs.py --workdir=runs/gpt_char
  ./launch.sh --config=experiments/transformers/gpt_pydocs.py --workdir=runs/gpt_char --mode=sample \
      --config.sample.prompt="The \"with\" statement" --config.sample.temperature=0.8 --config.sample.top_k=20
"""
from gen_jax.core.config import Variants
from gen_jax.families.transformers.config import shrink_to_tiny, text_config

TOKENIZERS = ('char', 'bpe')
POSITIONS = ('learned', 'sinusoidal', 'rope')
VARIANTS = Variants('tiny', *TOKENIZERS, *POSITIONS, 'peer', 'scan', 'remat', exclusive=[TOKENIZERS, POSITIONS])


def get_config(arg: str | None = None):
  v = VARIANTS.parse(arg)
  c = text_config('gpt', tokenizer=v.pick(*TOKENIZERS, default='char'), seq_len=128)
  c.num_train_steps = 3000
  c.model.update(dict(width=128, num_layers=4, num_heads=4, positions=v.pick(*POSITIONS, default='learned'),
                      dropout=0.1, attention_dropout=0.1))
  c.sample.length = 0          # the whole context
  if c.dataset.tokenizer == 'bpe':
    c.num_train_steps = 1000   # a BPE step covers ~2.9x the text of a character step: the text of `char`'s 3,000
    c.eval_every = c.checkpoint_every = 250
  c.sample.temperature = 0.8
  if 'peer' in v:
    c.optim.update(dict(schedule='constant', warmup_steps=0, weight_decay=0.01, b2=0.999, grad_clip=0.0))
  c.model.scan = 'scan' in v
  c.model.remat = 'remat' in v
  if 'tiny' in v:
    shrink_to_tiny(c)
  return c
