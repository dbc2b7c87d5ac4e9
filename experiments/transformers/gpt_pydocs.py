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
  gpt2                          a Hugging Face GPT-2 checkpoint on disk (``config.model.init_from=DIR``, e.g. a
                                ``GPT2LMHeadModel`` directory: config.json, model.safetensors and GPT-2's
                                tokenizer, tokenizer.json or vocab.json + merges.txt) with its own tokenizer:
                                config.dataset.tokenizer='pretrained', whose tokenizer_dir is a reference to
                                config.model.init_from (one path for both). Dimensions of GPT-2 small (124M: 12
                                layers, 12 heads, width 768, 1,024 positions); for another size the error names
                                the fields to set. --mode=sample / --mode=eval work before any training; training
                                fine-tunes on pydocs (lr 1e-4). Samples: 4 of 128 tokens.
  tiny                          seconds on CPU: a smoke test
  ./launch.sh --config=experiments/transformers/gpt_pydocs.py:tiny --workdir=/tmp/gpt
  ./launch.sh --config=experiments/transformers/gpt_pydocs.py --workdir=runs/gpt_char
  ./launch.sh --config=experiments/transformers/gpt_pydocs.py --workdir=runs/gpt_char --mode=sample \
      --config.sample.prompt="The \"with\" statement" --config.sample.temperature=0.8 --config.sample.top_k=20
  ./launch.sh --config=experiments/transformers/gpt_pydocs.py:gpt2 --workdir=runs/gpt2 --mode=sample \
      --config.model.init_from="$GPT2_DIR" --config.sample.prompt="The meaning of life is"
"""
from gen_jax.core.config import Variants
from gen_jax.families.transformers.config import shrink_to_tiny, text_config

TOKENIZERS = ('char', 'bpe', 'gpt2')
POSITIONS = ('learned', 'sinusoidal', 'rope')
VARIANTS = Variants('tiny', *TOKENIZERS, *POSITIONS, 'peer', 'scan', 'remat', exclusive=[TOKENIZERS, POSITIONS])
GPT2_SMALL = dict(width=768, num_layers=12, num_heads=12, max_len=1024, mlp_dim=3072, activation='gelu_tanh',
                  layer_norm_eps=1e-5, tie_embeddings=True)


def gpt2(c):
  """The ``gpt2`` variant: a GPT-2 checkpoint directory (``config.model.init_from``) and its own tokenizer."""
  c.dataset.tokenizer = 'pretrained'
  c.dataset.vocab_size = 0
  c.model.update(GPT2_SMALL)
  c.dataset.tokenizer_dir = c.model.get_ref('init_from')   # one path: setting either sets both
  c.optim.update(dict(lr=1e-4, warmup_steps=100))
  c.num_train_steps = 1000
  c.sample.update(dict(num=4, length=128))


def get_config(arg: str | None = None):
  v = VARIANTS.parse(arg)
  tokenizer = v.pick(*TOKENIZERS, default='char')
  c = text_config('gpt', tokenizer='char' if tokenizer == 'gpt2' else tokenizer, seq_len=128)
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
  if tokenizer == 'gpt2':
    gpt2(c)
  c.model.scan = 'scan' in v
  c.model.remat = 'remat' in v
  if 'tiny' in v:
    shrink_to_tiny(c)
  return c
