# syntax=docker/dockerfile:1.7
# GPU worker image for `ecad worker --gpu auto` (and the one-shot `ecad weights fetch`).
#
# One CUDA stack: a slim Python base plus torch from PyPI, whose Linux wheels bring their own
# CUDA libraries (nvidia-* wheels). The host needs only the NVIDIA driver and the NVIDIA
# Container Toolkit, which mounts the driver into the container; no CUDA base image.
FROM python:3.11.11-slim-bookworm

# torch 2.14.1 / torchvision 0.29.1: pinned in deploy/lock.sh, installed from the lock file.

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HOME=/cache/huggingface \
    ECAD_CACHE_DIR=/cache/ecad \
    MPLCONFIGDIR=/tmp/matplotlib

RUN useradd --create-home --uid 10001 ecad \
 && mkdir -p /cache/huggingface /cache/ecad \
 && chown -R ecad:ecad /cache
WORKDIR /app

# Dependency layer: every package at the version and sha256 hash of the lock file (made by
# deploy/lock.sh from pyproject.toml and the torch pin above), so a rebuild installs the same
# packages; rebuilt only when the lock changes. pip's cache survives in a BuildKit cache mount.
COPY deploy/requirements-worker.lock deploy/requirements-worker.lock
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --require-hashes --no-deps -r deploy/requirements-worker.lock

# The project itself (specs, prompt sets and schedules go inside the package: setup.py).
COPY README.md setup.py ./
COPY ecad ecad
COPY schedules schedules
COPY prompts prompts
COPY specs specs
RUN pip install --no-cache-dir --no-deps . \
 && cd / && python -c "import ecad.worker.tasks, ecad.store.s3, ecad.resources as r; r.find_spec('tiny')"

# The model cache (HF_HOME, ECAD_CACHE_DIR) is a volume; a new named volume starts with this
# directory's ownership, so the unprivileged user can write to it.
VOLUME ["/cache"]
USER ecad
HEALTHCHECK --interval=15s --timeout=10s --start-period=15m --retries=3 \
    CMD ["python", "-m", "ecad.worker.health"]
CMD ["ecad", "worker", "--gpu", "auto"]
