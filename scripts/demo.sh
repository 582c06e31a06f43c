#!/usr/bin/env bash
# Set up, then run the main job on its embedded default: the tiny search (specs/tiny.yaml) — a
# random-weight PixArt-α of the real architecture, fidelity objective, on this machine's CPU,
# no Redis or MinIO — then export its Pareto front and write the HTML report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 ECAD_CACHE_DIR=${ECAD_CACHE_DIR:-$PWD/runs/cache}
export ECAD_STORE=${ECAD_STORE:-$PWD/runs/store}
ECAD=.venv/bin/ecad
mkdir -p runs
$ECAD search specs/tiny.yaml | tee runs/demo-search.log
ID=$(awk '/^search id:/ {print $3}' runs/demo-search.log)
$ECAD pareto "$ID" --export "runs/front/$ID"
$ECAD report "$ID" -o "runs/reports/$ID.html"
echo "front schedules: runs/front/$ID   report: runs/reports/$ID.html"
