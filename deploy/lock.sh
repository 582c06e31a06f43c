#!/bin/sh
# Regenerate the images' lock files (exact versions + sha256 hashes of every distribution), so a
# rebuild installs the same packages: pip install --require-hashes refuses anything else.
#     sh deploy/lock.sh          # needs uv (pip install uv) and access to PyPI
# Inputs: pyproject.toml through deploy/requirements.py, and the torch pins below (the
# Dockerfiles' TORCH_VERSION / TORCHVISION_VERSION). Linux x86_64, Python 3.11 (the images' base).
set -eu
cd "$(dirname "$0")/.."
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
compile() {  # compile OUT: requirements on stdin
  uv pip compile - --generate-hashes --python-version 3.11 \
    --python-platform x86_64-manylinux_2_28 --no-header --quiet -o "$1"
  echo "wrote $1"
}
{ python deploy/requirements.py --extra scoring
  echo "torch==$TORCH_VERSION"
  echo "torchvision==$TORCHVISION_VERSION"; } | compile deploy/requirements-worker.lock
# The scheduler image is torch-free: the search driver reads stored cost tables.
python deploy/requirements.py --no-torch | compile deploy/requirements-scheduler.lock
