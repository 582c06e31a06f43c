#!/usr/bin/env bash
# Create .venv and install ECAD with its test and scoring extras. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade "pip>=23" >/dev/null 2>&1 || true
# torch first, pinned with its matching torchvision (a mismatched pair fails to import).
.venv/bin/python -m pip install -q "torch==2.14.1" "torchvision==0.29.1" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pip install -q -e ".[dev]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import ecad, torch, diffusers; print('ecad', ecad.__version__, '| torch', torch.__version__, '| diffusers', diffusers.__version__)"
