"""BERT (encoder-only) pretrained by masked language modelling on the embedded ``pydocs`` text.

15% of the tokens are predicted; of those 80% are replaced by [MASK], 10% by a random token and 10% kept
(Devlin et al. 2019). Default: characters, windows of 128, 4 layers x 4 heads, width 128, pre-LN, GELU,
rotary positions (RoPE), no dropout, batch 16, AdamW (lr 1e-3, warm-up 100, cosine), 1,500 steps.
``--mode=eval`` reports the NLL of the masked characters (``nll``, ``tokens``; their ratio in bits is
``bits_per_token``), ``--mode=sample`` draws text by order-agnostic iterative unmasking.

Why RoPE: with BERT's learned position table the model sits near the unigram loss for hundreds of steps (a
masked character is predicted from its neighbours, and a learned absolute table must first learn where the
neighbours are); rotary positions give attention the relative offset directly (docs/transformers.md).

Variants (comma-separated, e.g. ``:tiny,post_ln``):
  char | bpe        tokenizer (default characters)
  rope | learned    positions (default rope; learned: BERT's own position table)
  post_ln           the original BERT layout (post-LN, embedding layer norm as in every BERT)
  tiny              seconds on CPU: a smoke test
  ./launch.sh --config=experiments/transformers/bert_pydocs.py:tiny --workdir=/tmp/bert
  ./launch.sh --config=experiments/transformers/bert_pydocs.py --workdir=runs/bert_char
"""
from gen_jax.core.config import Variants
from gen_jax.families.transformers.config import shrink_to_tiny, text_config

TOKENIZERS = ('char', 'bpe')
POSITIONS = ('rope', 'learned')
VARIANTS = Variants('tiny', *TOKENIZERS, *POSITIONS, 'post_ln', exclusive=[TOKENIZERS, POSITIONS])


def get_config(arg: str | None = None):
  v = VARIANTS.parse(arg)
  c = text_config('bert', tokenizer=v.pick(*TOKENIZERS, default='char'), seq_len=128)
  c.num_train_steps = 1500
  c.eval_every = c.checkpoint_every = 500
  c.optim.warmup_steps = 100
  c.model.update(dict(width=128, num_layers=4, num_heads=4, activation='gelu', dropout=0.0, attention_dropout=0.0,
                      positions=v.pick(*POSITIONS, default='rope'),
                      norm='post' if 'post_ln' in v else 'pre', layer_norm_eps=1e-12 if 'post_ln' in v else 1e-5))
  c.sample.temperature = 0.8
  if 'tiny' in v:
    shrink_to_tiny(c)
  return c
