#!/usr/bin/env bash
# Run the test suite (CPU only, tiny random-weight models, no network).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/ruff check .
# Two worker processes, each test file on one (its module fixtures built once): the real-process
# integration tests mostly wait on their workers, so the rest runs beside them. ECAD_TEST_WORKERS=0
# runs everything in this process (e.g. for pdb).
exec .venv/bin/python -m pytest -n "${ECAD_TEST_WORKERS:-2}" --dist loadfile "$@"
