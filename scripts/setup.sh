#!/usr/bin/env bash
# Create .venv and install ECAD with its test and scoring extras. Idempotent; fails loudly.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
pip_install() {
  # pip's notices about missing local index folders are noise; errors still fail the script.
  .venv/bin/python -m pip install -q "$@" 2> >(grep -v "^WARNING: Location" >&2)
}
# torch first, pinned with its matching torchvision (a mismatched pair fails to import).
pip_install "torch==2.14.1" "torchvision==0.29.1"
pip_install -e ".[dev,scoring]"
# Debian's docker-compose: tests/deploy runs `docker-compose config` on the compose files (that
# test is skipped, saying why, without it). Where apt-get is missing or not ours, nothing changes.
if ! command -v docker-compose >/dev/null && ! docker compose version >/dev/null 2>&1 \
    && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  if ! { apt-get update -qq && apt-get install -y -qq docker-compose >/dev/null; }; then
    echo "warning: apt-get could not install docker-compose; the compose config test will be skipped" >&2
  fi
fi
# Headless Chromium for the report's browser test (which is skipped, saying why, without it).
# Debian's package installs in about 30 s; where apt-get is missing or not ours, nothing changes.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
    && [ "$(id -u)" = 0 ]; then
  if ! { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }; then
    echo "warning: apt-get could not install chromium; the report's browser test will be skipped" >&2
  fi
fi
.venv/bin/python -c "import ecad, torch, diffusers, celery, pymoo; print('ecad', ecad.__version__, '| torch', torch.__version__, '| diffusers', diffusers.__version__)"
