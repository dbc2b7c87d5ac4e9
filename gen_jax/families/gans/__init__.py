"""GAN family: the MLP GAN, DCGAN, conditional GANs (projection discriminator), StyleGAN and the
progressive GAN, with every loss and regulariser as a config choice.

The family contract (``gen_jax.families``): ``init``, ``make_train_step``, ``make_eval_step``,
``describe_nonfinite`` (``step.py``: the two-player step, n_critic D updates then one G update, both
optimizers, EMA of G), ``sample``, ``visualize`` (``sampling.py``, with ``sample_many`` and the
latent-space tools), ``validate_config`` (``config.py``, which documents every ``config.model``,
``config.gan`` and ``config.sample`` field; ``seeds.py`` trains several seeds at once for studies). Its own pieces: ``losses`` (adversarial
losses, gradient penalty, R1, path length), ``augment`` (DiffAugment / ADA), ``models`` (MLP, DCGAN,
conditioning, projection head), ``stylegan``, ``progan`` (growth inside one compiled step),
``networks`` (one calling convention for every model; the padded canvas). Shared layers:
``gen_jax.nn.equalized`` (equalized learning rate, modulated convolution), ``gen_jax.nn.normalization``
(pixel norm, minibatch std), ``gen_jax.nn.resample``. See ``experiments/gans/`` and ``docs/gans.md``.
"""
from gen_jax.families.gans import augment, losses, models, networks, progan, stylegan
from gen_jax.families.gans.config import (
                                            gan_config,
                                            mnist5k_config,
                                            shrink_to_tiny,
                                            validate_config,
)
from gen_jax.families.gans.losses import LOSSES
from gen_jax.families.gans.models import MODELS
from gen_jax.families.gans.sampling import (
                                            generate_from_latents,
                                            interpolate,
                                            map_latents,
                                            sample,
                                            sample_many,
                                            style_mix,
                                            synthesize,
                                            visualize,
)
from gen_jax.families.gans.step import (
                                            describe_nonfinite,
                                            init,
                                            make_eval_step,
                                            make_train_step,
)

DEFAULT_EXPERIMENT = 'experiments/gans/dcgan.py'  # its headline experiment (what the benchmark measures by default)

__all__ = [
                                            'DEFAULT_EXPERIMENT',
                                            'LOSSES',
                                            'MODELS',
                                            'augment',
                                            'describe_nonfinite',
                                            'gan_config',
                                            'generate_from_latents',
                                            'init',
                                            'interpolate',
                                            'losses',
                                            'make_eval_step',
                                            'make_train_step',
                                            'map_latents',
                                            'mnist5k_config',
                                            'models',
                                            'networks',
                                            'progan',
                                            'sample',
                                            'sample_many',
                                            'shrink_to_tiny',
                                            'style_mix',
                                            'stylegan',
                                            'synthesize',
                                            'validate_config',
                                            'visualize',
]
