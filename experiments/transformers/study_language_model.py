"""GPT on pydocs, characters vs byte-level BPE: exact test bits/char, bits/token and perplexity, generated text at
several temperatures / top-k / top-p, and the trained model written as a Hugging Face GPT-2 checkpoint.

Uses (trains or resumes to the end, then restores) the runs of ``gpt_pydocs.py`` and ``gpt_pydocs.py:bpe`` in
``--runs_dir`` (the runs the docs' commands train: ``runs/transformers/gpt_char``, ``.../gpt_bpe``).

  ./launch.sh python experiments/transformers/study_language_model.py --workdir=runs/transformers/study_lm [--tiny]
Writes language_model.json (every number), language_model_samples.txt, language_model.png (test bits/char during
training) and gpt2_char/ (config.json + model.safetensors + gen_jax_logits.npz: the char model as GPT2LMHeadModel).
"""
import json
import os

import jax
import numpy as np
from absl import app, flags

from gen_jax import studies
from gen_jax.core.metrics import read_jsonl
from gen_jax.families import transformers as fam
from gen_jax.families.transformers import hf

CONFIG = 'experiments/transformers/gpt_pydocs.py'
TOKENIZERS = ('char', 'bpe')
PROMPT = 'The "with" statement'
# (name, temperature, top_k (None: no filter), top_p)
SETTINGS = (('greedy', 0.0, None, 1.0), ('T=0.5', 0.5, None, 1.0), ('T=0.8', 0.8, None, 1.0),
            ('T=1.0', 1.0, None, 1.0), ('T=1.0, top-k 10', 1.0, 10, 1.0), ('T=1.0, top-p 0.9', 1.0, None, 0.9))


def run_config(tokenizer: str, tiny: bool):
  return studies.load_spec(f'{CONFIG}:{tokenizer}' + (',tiny' if tiny else ''))


def generate(state, config, prompt: str, settings, num: int, length: int, seed: int = 0) -> dict[str, list[str]]:
  """{setting name: decoded samples} continuing ``prompt``."""
  out = {}
  for name, temperature, top_k, top_p in settings:
    c = config.copy_and_resolve_references()
    c.sample.update(dict(prompt=prompt, temperature=temperature, top_k=top_k, top_p=top_p, length=length))
    tokens = jax.jit(lambda s, r: fam.sample(s, r, num, c))(state, jax.random.key(seed))  # noqa: B023
    out[name] = fam.sampling.decode_samples(np.asarray(tokens), c)
  return out


def learning_curve(workdir: str) -> list[dict]:
  """[{step, bits_per_char}] of the evals during training (exact corpus bits/char from the logged means)."""
  rows = [r for r in read_jsonl(os.path.join(workdir, 'metrics.jsonl')) if 'eval/nll' in r]
  return [{'step': r['step'], 'bits_per_char': r['eval/nll'] / r['eval/chars'] / np.log(2)} for r in rows]


def data_stats(configs: dict) -> dict:
  """{split: {'topics', 'chars', 'tokens_<tokenizer>'}} of pydocs: the text each model reads."""
  from gen_jax.data import sources, text  # pylint: disable=g-import-not-at-top
  out = {}
  for split in ('train', 'validation', 'test'):
    for tok, config in configs.items():
      ds = sources.open_dataset(config.dataset)
      docs = text.split_documents(ds, split)
      tokens, _ = text.split_tokens(ds, config.dataset, split)
      out.setdefault(split, {'topics': len(docs), 'chars': len(text.SEPARATOR.join(docs))})[f'tokens_{tok}'] = len(tokens)
  return out


def run(workdir: str, tiny: bool = False, runs_dir: str = 'runs/transformers', prompt: str = PROMPT) -> dict:
  prompt = prompt[:4] if tiny else prompt      # the tiny models have a 16-token context
  results = {'device': studies.device_kind(), 'prompt': prompt,
             'data': data_stats({tok: run_config(tok, tiny) for tok in TOKENIZERS}), 'models': {}}
  texts = []
  for tok in TOKENIZERS:
    config = run_config(tok, tiny)
    run_dir = os.path.join(workdir, 'models', f'gpt_{tok}') if tiny else os.path.join(runs_dir, f'gpt_{tok}')
    _, state = studies.trained_state(config, run_dir)
    test = studies.evaluate_model(config, run_dir, state)
    corpus = fam.corpus_metrics(test)
    length = config.dataset.seq_len
    samples = generate(state, config, prompt, SETTINGS[2:3] if tiny else SETTINGS, 1 if tiny else 2, length)
    n_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(state.params))
    results['models'][tok] = {
        'run': run_dir, 'config': f'{CONFIG}:{tok}', 'parameters': n_params, 'steps': int(state.step),
        'vocab_size': fam.models.vocab_size(config), 'test_windows': test['nll']['num_samples'],
        'test': studies.flat(corpus, 4), 'curve': learning_curve(run_dir), 'samples': samples}
    texts.append(f'########## {tok} ({n_params:,} parameters, test bits/char '
                 f'{corpus["bits_per_char"]["value"]:.3f})\n')
    for name, rows in samples.items():
      for i, t in enumerate(rows):
        texts.append(f'===== {name} #{i}\n{t}\n')
    if tok == 'char':  # the write direction of the GPT-2 converter, on a trained model
      out = hf.save_gpt2(jax.device_get(state.params), config, os.path.join(workdir, 'gpt2_char'))
      c = config.copy_and_resolve_references()
      c.sample.prompt = prompt
      tokens = fam.sampling.prompt_tokens(c)[None].astype(np.int32)
      logits = fam.get_model(config).apply({'params': state.params}, tokens)[0]
      np.savez(os.path.join(out, 'gen_jax_logits.npz'), tokens=tokens, logits=np.asarray(logits))
      results['gpt2_checkpoint'] = out
  studies.save_json(os.path.join(workdir, 'language_model.json'), results)
  with open(os.path.join(workdir, 'language_model_samples.txt'), 'w', encoding='utf-8') as f:
    f.write('\n'.join(texts))
  _plot(results, workdir)
  return results


def _plot(results: dict, workdir: str) -> None:
  plt = studies.pyplot()
  fig, ax = plt.subplots(figsize=(5.5, 3.5))
  for tok, m in results['models'].items():
    if m['curve']:
      ax.plot([r['step'] for r in m['curve']], [r['bits_per_char'] for r in m['curve']], 'o-', label=tok)
  ax.set(xlabel='train step', ylabel='test bits / character', title='GPT on pydocs')
  ax.legend()
  studies.save_figure(fig, os.path.join(workdir, 'language_model.png'))


def main(argv):
  del argv
  out = run(FLAGS.workdir, FLAGS.tiny, FLAGS.runs_dir, FLAGS.prompt)
  for tok, m in out['models'].items():
    t = m['test']
    print(f'{tok:5s} {m["parameters"]:>9,d} params  test bits/char {t["bits_per_char"]:.4f} +- '
          f'{t["bits_per_char_stderr"]:.4f}  bits/token {t["bits_per_token"]:.4f}  perplexity {t["perplexity"]:.3f}')
  print(json.dumps({k: v['samples'] for k, v in out['models'].items()}, indent=1)[:3000])
  print(f'Wrote {os.path.join(FLAGS.workdir, "language_model.json")}, language_model_samples.txt, language_model.png.')


if __name__ == '__main__':
  FLAGS = flags.FLAGS
  flags.DEFINE_string('workdir', 'runs/transformers/study_lm', 'output directory')
  flags.DEFINE_bool('tiny', False, 'seconds-long smoke test of the same code')
  flags.DEFINE_string('runs_dir', 'runs/transformers', 'where the gpt_char and gpt_bpe runs live (trained if absent)')
  flags.DEFINE_string('prompt', PROMPT, 'the text the samples continue')
  app.run(main)
