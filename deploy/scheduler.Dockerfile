# syntax=docker/dockerfile:1
# CPU-only image for `ecad scheduler`, the long-running NSGA-II search driver (no GPU, no models).
#
# The search driver itself needs only numpy, pymoo, celery + redis, minio, pyyaml and click: cost
# tables are computed by `ecad submit` and read back from the store. But the `ecad` entry point
# still imports torch at start-up (through `ecad.cli.cost`), so by default this image installs
# torch's CPU-only wheel from the PyTorch CPU index (~200 MB instead of the multi-GB CUDA build)
# plus diffusers/transformers. Once the CLI imports torch lazily, build a torch-free image with
#     docker compose build --build-arg TORCH=none scheduler
# (or set SCHEDULER_TORCH=none in .env).
FROM python:3.11-slim

ARG TORCH=cpu
ARG TORCH_VERSION=2.14.1
ARG TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 ecad
WORKDIR /app

# Dependencies first (cached while only the source changes), read from pyproject.toml.
COPY pyproject.toml README.md ./
COPY deploy/requirements.py deploy/requirements.py
RUN python deploy/requirements.py --no-torch > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && if [ "$TORCH" = "cpu" ]; then \
        pip install --index-url "$TORCH_CPU_INDEX" "torch==$TORCH_VERSION" \
     && python deploy/requirements.py --torch-only > /tmp/torch-stack.txt \
     && pip install -r /tmp/torch-stack.txt; \
    elif [ "$TORCH" != "none" ]; then \
        echo "TORCH must be cpu or none, not '$TORCH'" >&2; exit 1; \
    fi

COPY ecad ecad
COPY worker worker
COPY scheduler scheduler
COPY schedules schedules
COPY prompts prompts
COPY specs specs
RUN pip install --no-deps . \
 && python -c "import scheduler.service, ecad.store.s3"

USER ecad
CMD ["ecad", "scheduler"]
