"""Transformer family: GPT (decoder-only, text), a pixel GPT (ImageGPT-style, images as pixel sequences) and
BERT (encoder-only, masked-language-model pretraining), on the shared attention and block of ``gen_jax/nn``.

The family contract (``gen_jax.families``): ``init``, ``make_train_step``, ``make_eval_step``,
``starts_pretrained`` (``step.py``), ``sample``, ``visualize``, ``save_samples``, ``sampler_cost`` (``sampling.py``),
``validate_config`` (``config.py``, which documents every ``config.model`` and ``config.sample`` field). Its own pieces:
``models`` (GPT, BERT), ``losses`` (next-token, pixel and MLM losses), ``decoding`` (KV-cache generation in
one compiled loop, greedy / temperature / top-k / top-p, the uncached reference), ``metrics`` (exact
corpus bits/char, bits/token and perplexity; ``summarize_eval``), ``hf`` (Hugging Face GPT-2 and BERT
checkpoints, read and written with ``safetensors``), ``sentence`` (all-MiniLM-L6-v2 sentence embeddings).
See ``experiments/transformers/`` and ``docs/transformers.md``.
"""
from gen_jax.families.transformers import decoding, hf, losses, metrics
from gen_jax.families.transformers.config import MODELS, validate_config
from gen_jax.families.transformers.metrics import corpus_metrics, summarize_eval
from gen_jax.families.transformers.models import BERT, GPT, get_model
from gen_jax.families.transformers.sampling import sample, sampler_cost, save_samples, visualize
from gen_jax.families.transformers.step import init, make_eval_step, make_loss_fn, make_train_step, starts_pretrained

DEFAULT_EXPERIMENT = 'experiments/transformers/gpt_pydocs.py'  # its headline experiment (what the benchmark measures by default)

__all__ = ['DEFAULT_EXPERIMENT', 'init', 'make_train_step', 'make_eval_step', 'make_loss_fn', 'sample', 'visualize', 'save_samples',
           'sampler_cost', 'validate_config', 'summarize_eval', 'starts_pretrained', 'corpus_metrics', 'get_model',
           'GPT', 'BERT', 'MODELS', 'decoding', 'hf', 'losses', 'metrics']
