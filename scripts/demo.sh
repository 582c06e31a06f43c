#!/usr/bin/env bash
# Set up, then run the main job on its embedded default: a tiny random-weight PixArt-α model
# (the real architecture, built locally), no caching vs. FORA-3, on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 ECAD_CACHE_DIR=${ECAD_CACHE_DIR:-$PWD/runs/cache}
ECAD=.venv/bin/ecad
OUT=runs/demo
mkdir -p "$OUT"
$ECAD schedule make fora --family pixart-alpha --num-blocks blocks=2 --n 3 -o "$OUT/fora-3-tiny.json"
for s in no-cache fora-3; do
  args=()
  [ "$s" = fora-3 ] && args=(--schedule "$OUT/fora-3-tiny.json")
  $ECAD generate --family pixart-alpha --weights tiny "${args[@]}" \
    --prompt "a red cube on a table" --prompt "two cats on a sofa" \
    --num-images-per-prompt 2 --resolution 64 --output-dir "$OUT/$s"
done
# What the same schedule saves on the full-size model (cost model, meta device):
$ECAD cost schedules/pixart-alpha/fora-3.json --mode macs-linear
echo "images in $OUT/no-cache and $OUT/fora-3"
