#!/usr/bin/env bash
# Issues 6 (part 4) and 7 on one multi-GPU host, in two device calls (each under 10 minutes):
#   part a: run.py, the search on 1 and 2 workers (one per GPU); meanwhile worker_phases.py on
#           the last GPU (idle during part a): the worker's code path in one process,
#           ImageReward in TF32 and in bfloat16;
#   part b: run.py on all GPUs (or $WORKERS_B), then the elastic run (half the workers, the rest
#           added in generation 1, a quarter SIGTERMed in generation 2), appended to part a's
#           cluster_gpu.json (kept in /tmp while the machine stays warm) with the scaling table.
# Carry .whl-cluster (wheels.sh). Results, and a tarball of every log, land in $OUT.
#   bash benchmarks/cluster_gpu/scale_out.sh a; bash benchmarks/cluster_gpu/scale_out.sh b
set -uo pipefail
cd "$(dirname "$0")/../.."
source benchmarks/cluster_gpu/prelude.sh || exit 1
PART=${1:?part a or b}
OUT=${OUT:?set OUT to the results folder}
WORK=/tmp/ecad-scale
GPUS=$(nvidia-smi -L | wc -l)
SEARCH=(--concurrency 2 --population 24 --generations 2 --prompts 20 --images-per-prompt 3
        --shard-size 60 --alone-sample "${ALONE_SAMPLE:-4}" --output-dir "$WORK/cluster")
mkdir -p "$WORK"
nvidia-smi -L > "$WORK/gpus.txt"

if [ "$PART" = a ]; then
  (
    for dtype in float32 bfloat16; do
      CUDA_VISIBLE_DEVICES=$((GPUS - 1)) timeout 240 python3 \
        benchmarks/cluster_gpu/worker_phases.py --root /tmp/ecad-phases --ir-dtype "$dtype" \
        --output-dir "$WORK/phases-$dtype"
    done
  ) > "$WORK/phases.log" 2>&1 &
  phases=$!
  timeout "${TIME_A:-500}" python3 benchmarks/cluster_gpu/run.py --workers 1,2 "${SEARCH[@]}" \
    2>&1 | tee "$WORK/run-a.log"
  wait $phases
  for dtype in float32 bfloat16; do
    cp "$WORK/phases-$dtype/worker_phases.json" "$OUT/worker_phases-$dtype.json"
  done
else
  timeout "${TIME_B:-560}" python3 benchmarks/cluster_gpu/run.py --append --elastic \
    --workers "${WORKERS_B:-$GPUS}" "${SEARCH[@]}" 2>&1 | tee "$WORK/run-b.log"
fi
# At most 8 files come back: the result files at the top, every log in one tarball.
cp "$WORK/cluster/cluster_gpu.json" "$OUT/"
tar czf "$OUT/logs-$PART.tgz" -C "$WORK" --exclude='*.png' . 2>/dev/null
ls -la "$OUT"
