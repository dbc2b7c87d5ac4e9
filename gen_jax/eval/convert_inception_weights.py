"""Converts pytorch-fid's Inception weights (.pth) to the .npz that ``load_inception_features`` reads.

    # once, wherever PyTorch is installed (gen_jax itself never downloads anything):
    #   https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth
    python -m gen_jax.eval.convert_inception_weights pt_inception-2015-12-05-6726825d.pth inception_fid.npz

Each state_dict entry is stored under its own key, in PyTorch layout, as float32; the
``num_batches_tracked`` counters are dropped. The keys and shapes are checked against
``gen_jax.eval.inception.inception_param_spec()`` before writing, and the SHA-256 of the
written file is printed (pass it as ``expected_sha256`` to pin the file). Use the file with
``config.eval.feature_net='inception:/path/to/inception_fid.npz'``.
"""
from __future__ import annotations

import sys

import numpy as np

from gen_jax.eval.feature_net import sha256_hex
from gen_jax.eval.inception import torch_state_to_variables


def state_dict_to_arrays(state_dict: dict) -> dict[str, np.ndarray]:
  """{key: float32 numpy array} of a state dict (torch tensors or arrays), counters dropped."""
  out = {}
  for key, value in state_dict.items():
    if key.endswith('num_batches_tracked'):
      continue
    if hasattr(value, 'detach'):
      value = value.detach().cpu().numpy()
    out[key] = np.asarray(value, np.float32)
  return out


def convert(src: str, dst: str) -> str:
  """Reads ``src`` (.pth, needs torch; or an existing .npz) and writes ``dst`` (.npz); returns its SHA-256."""
  if src.endswith('.npz'):
    with np.load(src) as npz:
      arrays = state_dict_to_arrays({k: npz[k] for k in npz.files})
  else:
    import torch  # pylint: disable=g-import-not-at-top
    arrays = state_dict_to_arrays(torch.load(src, map_location='cpu'))
  torch_state_to_variables(arrays)  # raises FeatureNetError naming missing / misshaped keys
  np.savez(dst, **arrays)
  with open(dst, 'rb') as f:
    return sha256_hex(f.read())


def main(argv: list[str]) -> None:
  if len(argv) != 3:
    print(__doc__, file=sys.stderr)
    sys.exit(2)
  digest = convert(argv[1], argv[2])
  print(f'Wrote {argv[2]} (sha256 {digest}).')


if __name__ == '__main__':
  main(sys.argv)
