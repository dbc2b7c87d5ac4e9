"""Optimizers and learning-rate schedules from ``config.optim``.

Fields of ``config.optim`` (all optional except ``name`` and ``lr``):
  name: 'adam' | 'adamw' | 'sgd'
  lr: peak learning rate
  b1, b2, eps: Adam moments (defaults 0.9, 0.999, 1e-8)
  weight_decay: decoupled weight decay for adamw (default 1e-4)
  momentum, nesterov: for sgd (defaults 0.9, False)
  schedule: 'constant' | 'cosine' | 'linear' (decay after warm-up; default 'constant')
  warmup_steps: linear warm-up from 0 (default 0)
  end_lr_factor: final lr as a fraction of ``lr`` for cosine/linear (default 0.0)
  grad_clip: global-norm clipping threshold, 0 or None to disable (default 1.0)
  ema_decay: EMA decay of parameters, 0 to disable (default 0.999)
"""
from typing import Any

import optax

from gen_jax.core.errors import ConfigError

OPTIMIZERS = ('adam', 'adamw', 'sgd')
SCHEDULES = ('constant', 'cosine', 'linear')


def validate_optim_config(optim: Any, num_train_steps: int) -> None:
  """Raises ConfigError for an unknown optimizer/schedule or impossible values."""
  name = optim.get('name', None)
  if name not in OPTIMIZERS:
    raise ConfigError(f'config.optim.name={name!r} is not an optimizer; allowed: {", ".join(OPTIMIZERS)}.')
  sched = optim.get('schedule', 'constant')
  if sched not in SCHEDULES:
    raise ConfigError(f'config.optim.schedule={sched!r} is unknown; allowed: {", ".join(SCHEDULES)}.')
  lr = optim.get('lr', None)
  if not isinstance(lr, (int, float)) or lr <= 0:
    raise ConfigError(f'config.optim.lr={lr!r} must be a positive number.')
  warmup = optim.get('warmup_steps', 0)
  if warmup < 0 or (sched != 'constant' and warmup >= num_train_steps):
    raise ConfigError(f'config.optim.warmup_steps={warmup} must be >= 0 and (with a decaying schedule) '
                      f'smaller than config.num_train_steps={num_train_steps}.')
  decay = optim.get('ema_decay', 0.999)
  if not 0.0 <= decay < 1.0:
    raise ConfigError(f'config.optim.ema_decay={decay} must lie in [0, 1); 0 disables the EMA.')


def make_schedule(optim: Any, num_train_steps: int) -> optax.Schedule:
  """Warm-up followed by a constant, cosine or linear decay, as a function of the step."""
  lr = float(optim.lr)
  warmup = int(optim.get('warmup_steps', 0))
  sched = optim.get('schedule', 'constant')
  end = lr * float(optim.get('end_lr_factor', 0.0))
  if sched == 'constant':
    decay = optax.constant_schedule(lr)
  elif sched == 'cosine':
    decay = optax.cosine_decay_schedule(lr, max(num_train_steps - warmup, 1), alpha=end / lr)
  else:
    decay = optax.linear_schedule(lr, end, max(num_train_steps - warmup, 1))
  if warmup == 0:
    return decay
  return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), decay], [warmup])


def make_optimizer(optim: Any, num_train_steps: int) -> optax.GradientTransformation:
  """The optax transformation described by ``config.optim`` (clipping included)."""
  validate_optim_config(optim, num_train_steps)
  schedule = make_schedule(optim, num_train_steps)
  name = optim.name
  if name == 'adam':
    opt = optax.adam(schedule, b1=optim.get('b1', 0.9), b2=optim.get('b2', 0.999), eps=optim.get('eps', 1e-8))
  elif name == 'adamw':
    opt = optax.adamw(schedule, b1=optim.get('b1', 0.9), b2=optim.get('b2', 0.999), eps=optim.get('eps', 1e-8),
                      weight_decay=optim.get('weight_decay', 1e-4))
  else:
    opt = optax.sgd(schedule, momentum=optim.get('momentum', 0.9) or None, nesterov=optim.get('nesterov', False))
  clip = optim.get('grad_clip', 1.0)
  if clip:
    opt = optax.chain(optax.clip_by_global_norm(float(clip)), opt)
  return opt
