# syntax=docker/dockerfile:1.7
# CPU-only, torch-free image for `ecad scheduler`, the long-running NSGA-II search driver (no GPU,
# no models): numpy, pymoo, celery + redis, minio, pyyaml and click. Cost tables are computed by
# `ecad submit` and read back from the store, and the `ecad` command starts without torch. CLI
# commands that run a model (`ecad submit`, `ecad report`) use the worker image: compose's `cli`
# service.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/tmp/matplotlib

RUN useradd --create-home --uid 10001 ecad
WORKDIR /app

# Dependency layer: every package at the version and sha256 hash of the lock file (made by
# deploy/lock.sh), so a rebuild installs the same packages; pip's cache in a BuildKit cache mount.
COPY deploy/requirements-scheduler.lock deploy/requirements-scheduler.lock
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --require-hashes --no-deps -r deploy/requirements-scheduler.lock

COPY README.md setup.py ./
COPY ecad ecad
COPY schedules schedules
COPY prompts prompts
COPY specs specs
RUN pip install --no-cache-dir --no-deps . \
 && cd / && python -c "import ecad.scheduler.service, ecad.store.s3, ecad.resources as r; r.find_spec('tiny')"

USER ecad
# One BLAS thread: pre-selection's fit + predict stays within a second per generation at
# population 72 (0.37-0.41 s; 0.8-1.6 s with two spinning threads, benchmarks/preselection/).
ENV ECAD_SCHEDULER_HEARTBEAT_FILE=/tmp/ecad-scheduler.alive \
    OPENBLAS_NUM_THREADS=1
HEALTHCHECK --interval=30s --timeout=10s --start-period=2m --retries=3 \
    CMD ["python", "-m", "ecad.heartbeat", "/tmp/ecad-scheduler.alive", "120"]
CMD ["ecad", "scheduler"]
