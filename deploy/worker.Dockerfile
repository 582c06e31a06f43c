# syntax=docker/dockerfile:1
# GPU worker image for `ecad worker --gpu 0`: runs the cached diffusers pipelines and the scorers.
#
# One worker process per GPU: each container is given one GPU (the compose file's NVIDIA device
# reservation), which it sees as GPU 0. torch comes from PyPI, whose Linux wheels bundle their
# CUDA libraries; the host needs only the NVIDIA driver and the NVIDIA Container Toolkit.
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-runtime-ubuntu24.04
FROM ${CUDA_IMAGE}

ARG TORCH_VERSION=2.14.1
ARG TORCHVISION_VERSION=0.29.1

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HF_HOME=/cache/huggingface \
    ECAD_CACHE_DIR=/cache/ecad

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv "$VIRTUAL_ENV" \
 && pip install --upgrade "pip>=23"

RUN useradd --create-home --uid 10001 ecad \
 && mkdir -p /cache/huggingface /cache/ecad \
 && chown -R ecad:ecad /cache
WORKDIR /app

# torch first, pinned with its matching torchvision (a mismatched pair fails to import); then
# the rest of the core dependencies and the scoring extra, read from pyproject.toml.
COPY pyproject.toml README.md ./
COPY deploy/requirements.py deploy/requirements.py
RUN pip install "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" \
 && python deploy/requirements.py --extra scoring > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt

COPY ecad ecad
COPY worker worker
COPY scheduler scheduler
COPY schedules schedules
COPY prompts prompts
COPY specs specs
RUN pip install --no-deps ".[scoring]" \
 && python -c "import worker.tasks, ecad.store.s3"

# The model cache (HF_HOME, ECAD_CACHE_DIR) is a volume; a new named volume starts with this
# directory's ownership, so the unprivileged user can write to it.
VOLUME ["/cache"]
USER ecad
CMD ["ecad", "worker", "--gpu", "0"]
