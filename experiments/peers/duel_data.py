"""Identical synthetic batches for both sides (numpy only; NCHW here, the JAX side transposes to NHWC)."""
import numpy as np

VAE_B = 128
UNET_B = 32
GPT_B, GPT_T, GPT_V = 16, 128, 96
GAN_B, GAN_Z = 64, 64
FLOW_B = 64
NBATCH = 4


def vae_batches(seed=0):
  rng = np.random.default_rng(seed)
  return [dict(x=(rng.random((VAE_B, 1, 28, 28)) < 0.3).astype(np.float32),
               label=rng.integers(0, 10, (VAE_B,)).astype(np.int32)) for _ in range(NBATCH)]


def unet_batches(seed=0):
  rng = np.random.default_rng(seed)
  return [dict(x0=(rng.random((UNET_B, 1, 32, 32)) * 2 - 1).astype(np.float32),
               noise=rng.standard_normal((UNET_B, 1, 32, 32)).astype(np.float32),
               t=rng.integers(0, 1000, (UNET_B,)).astype(np.int64)) for _ in range(NBATCH)]


def gpt_batches(seed=0):
  """Windows of GPT_T + 1 tokens (inputs = [:, :-1], targets = [:, 1:]) over a GPT_V-symbol vocabulary."""
  rng = np.random.default_rng(seed)
  return [dict(tokens=rng.integers(0, GPT_V, (GPT_B, GPT_T + 1)).astype(np.int32)) for _ in range(NBATCH)]


def gan_batches(seed=0):
  """Real images in [-1, 1] (NCHW, 28x28x1) and the latents of the D and the G update."""
  rng = np.random.default_rng(seed)
  return [dict(x=((rng.random((GAN_B, 1, 28, 28)) < 0.3) * 2.0 - 1.0).astype(np.float32),
               z_d=rng.standard_normal((GAN_B, GAN_Z)).astype(np.float32),
               z_g=rng.standard_normal((GAN_B, GAN_Z)).astype(np.float32)) for _ in range(NBATCH)]


def flow_batches(seed=0):
  """Uniformly dequantized 8-bit 28x28x1 images in [0, 1) (NCHW), as the mnist5k pipeline delivers them."""
  rng = np.random.default_rng(seed)
  return [dict(x=((rng.integers(0, 256, (FLOW_B, 1, 28, 28)) + rng.random((FLOW_B, 1, 28, 28))) / 256.0)
               .astype(np.float32)) for _ in range(NBATCH)]
