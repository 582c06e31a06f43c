#!/usr/bin/env bash
# Issues 6 (part 4) and 7 on one multi-GPU host, in one device call (under 10 minutes):
#   1. run.py: the search on 1 and 2 workers (one per GPU); meanwhile worker_phases.py on the
#      last GPU (idle until step 2): the worker's code path in one process (sequential, two
#      threads, two threads without scoring) against generation alone;
#   2. run.py on all GPUs (4 and 8 on an 8-GPU host, or $WORKERS_B), then the elastic run (half the workers, the rest added
#      in generation 1, a quarter SIGTERMed in generation 2), appended with the scaling table;
#   3. run.py, one worker again (label "repeat"), in the time left.
# Carry .whl-cluster (wheels.sh). Results, and a tarball of every log, land in $OUT.
#   bash benchmarks/cluster_gpu/scale_out.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
source benchmarks/cluster_gpu/prelude.sh || exit 1
OUT=${OUT:?set OUT to the results folder}
WORK=/tmp/ecad-scale
END=$((SECONDS + ${BUDGET:-560}))
left() { echo $((END - SECONDS)); }
GPUS=$(nvidia-smi -L | wc -l)
SEARCH=(--concurrency 2 --population 24 --generations 2 --prompts 20 --images-per-prompt 3
        --shard-size 60 --alone-sample "${ALONE_SAMPLE:-4}" --output-dir "$WORK/cluster")
mkdir -p "$WORK"
nvidia-smi -L > "$WORK/gpus.txt"

CUDA_VISIBLE_DEVICES=$((GPUS - 1)) timeout 240 python3 benchmarks/cluster_gpu/worker_phases.py \
  --root /tmp/ecad-phases --output-dir "$WORK/phases" > "$WORK/phases.log" 2>&1 &
phases=$!
timeout 280 python3 benchmarks/cluster_gpu/run.py --workers 1,2 "${SEARCH[@]}" 2>&1 \
  | tee "$WORK/run-1.log"
wait $phases
cp "$WORK/phases/worker_phases.json" "$OUT/"
timeout "$(left)" python3 benchmarks/cluster_gpu/run.py --append --elastic \
  --workers "${WORKERS_B:-$([ "$GPUS" -ge 8 ] && echo "4,$GPUS" || echo "$GPUS")}" "${SEARCH[@]}" \
  2>&1 | tee "$WORK/run-2.log"
timeout "$(left)" python3 benchmarks/cluster_gpu/run.py --append \
  --label repeat --workers 1 "${SEARCH[@]}" 2>&1 | tee "$WORK/run-3.log"
# At most 8 files come back: the result files at the top, every log in one tarball.
cp "$WORK/cluster/cluster_gpu.json" "$OUT/"
tar czf "$OUT/logs.tgz" -C "$WORK" . 2>/dev/null
ls -la "$OUT"
