# syntax=docker/dockerfile:1.7
# CPU-only image for `ecad scheduler`, the long-running NSGA-II search driver (no GPU, no models),
# and for CLI commands run against the cluster (`docker compose run --rm cli ecad ...`).
#
# The search driver itself needs only numpy, pymoo, celery + redis, minio, pyyaml and click: cost
# tables are computed by `ecad submit` and read back from the store. But the `ecad` entry point
# still imports torch at start-up (through `ecad.cli.cost`), so by default this image installs
# torch's CPU-only wheel from the PyTorch CPU index (~200 MB instead of the multi-GB CUDA build)
# plus diffusers/transformers. Once the CLI imports torch lazily, build a torch-free image with
#     docker compose build --build-arg TORCH=none scheduler
# (or set SCHEDULER_TORCH=none in .env).
FROM python:3.11.11-slim-bookworm

ARG TORCH=cpu
ARG TORCH_VERSION=2.14.1
ARG TORCHVISION_VERSION=0.29.1
ARG TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/tmp/matplotlib

RUN useradd --create-home --uid 10001 ecad
WORKDIR /app

# Dependency layer: only the dependency files, pip's cache in a BuildKit cache mount.
COPY pyproject.toml ./
COPY deploy/requirements.py deploy/requirements.py
RUN --mount=type=cache,target=/root/.cache/pip \
    python deploy/requirements.py --no-torch > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && if [ "$TORCH" = "cpu" ]; then \
        pip install --index-url "$TORCH_CPU_INDEX" "torch==$TORCH_VERSION" \
            "torchvision==$TORCHVISION_VERSION" \
     && python deploy/requirements.py --torch-only > /tmp/torch-stack.txt \
     && pip install -r /tmp/torch-stack.txt; \
    elif [ "$TORCH" != "none" ]; then \
        echo "TORCH must be cpu or none, not '$TORCH'" >&2; exit 1; \
    fi

COPY README.md setup.py ./
COPY ecad ecad
COPY worker worker
COPY scheduler scheduler
COPY schedules schedules
COPY prompts prompts
COPY specs specs
RUN pip install --no-cache-dir --no-deps . \
 && cd / && python -c "import scheduler.service, ecad.store.s3, ecad.resources as r; r.find_spec('tiny')"

USER ecad
ENV ECAD_SCHEDULER_HEARTBEAT_FILE=/tmp/ecad-scheduler.alive
HEALTHCHECK --interval=30s --timeout=10s --start-period=2m --retries=3 \
    CMD ["python", "-m", "ecad.heartbeat", "/tmp/ecad-scheduler.alive", "120"]
CMD ["ecad", "scheduler"]
