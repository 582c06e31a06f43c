#!/usr/bin/env bash
# The caching-engine suite in one go (one device call): PixArt-α 256 batch 100 and FLUX.1-dev 256
# batch 18, full-size architectures with random weights, 20 steps, fp16 / bf16. For each: plain
# diffusers, the all-recompute schedule, FORA-3 and the published ECAD schedules, latent and PIL
# output, median of 3 timed calls; a latency cost table calibrated on the same GPU; engine
# equivalence check; results (JSON + markdown) under $RESULTS.
#
#   bash benchmarks/run_engine_suite.sh            # on a GPU machine
#   TINY=1 bash benchmarks/run_engine_suite.sh     # CPU smoke run of the same steps, tiny models
#   ONLY=tgate bash benchmarks/run_engine_suite.sh # PixArt-α 256 batch 100: the paper's true
#                                                  # TGATE tgate(10, 1) vs its boolean twin
#
# Published schedules are read from .reference/schedules_in_paper/ (an ignored copy of
# ../shared/reference/upstream-ecad/schedules/schedules_in_paper; make it with
# `cp -r ../shared/reference/upstream-ecad/schedules/schedules_in_paper .reference/`).
# Environment: RESULTS (default benchmarks/results, or $OUT when set), ONLY=pixart|flux|tgate,
# PROFILE=1 (kernel profile of PixArt), PYTHON (default python3).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
PYTHON=${PYTHON:-python3}
RESULTS=${RESULTS:-${OUT:-benchmarks/results}}
REF=.reference/schedules_in_paper
mkdir -p "$RESULTS"

source benchmarks/device_env.sh

if [ "${TINY:-0}" = 1 ]; then
    COMMON=(--tiny --device cpu --steps 6 --repeats 2)
    PIXART=(--batch-size 2 --fora 2 --fora 3)
    FLUX=(--batch-size 1 --fora 2 --fora 3)
    TGATE=(--batch-size 2 --heuristic tgate:3:1 --heuristic tgate_without_ca_avg:3:1)
else
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
    $PYTHON -m pytest -q -p no:cacheprovider -m gpu tests/caching/test_kernels.py || true
    COMMON=(--resolution 256 --steps 20 --repeats 3)
    PIXART=(--batch-size 100 --fora 3 --schedule "$REF/pixart_alpha_256/ours_fast.json"
        --schedule "$REF/pixart_alpha_256/ours_fastest.json")
    FLUX=(--batch-size 18 --fora 3 --schedule "$REF/flux_256/ours_fast.json"
        --schedule "$REF/flux_256/ours_faster.json")
    TGATE=(--batch-size 100 --heuristic tgate:10:1 --heuristic tgate_without_ca_avg:10:1)
fi

if [ "${ONLY:-}" = tgate ]; then  # true TGATE (guidance dropped after the gate) vs plain caching
    $PYTHON -m ecad.cli bench --family pixart-alpha "${COMMON[@]}" "${TGATE[@]}" --verify \
        --out-dir "$RESULTS" --name "tgate-pixart-alpha-256-b${TGATE[1]}${TINY:+-tiny}"
    exit $?
fi

status=0
if [ "${ONLY:-pixart}" != flux ]; then
    $PYTHON -m ecad.cli bench --family pixart-alpha "${COMMON[@]}" "${PIXART[@]}" \
        --compare-engines --verify --calibrate-latency --out-dir "$RESULTS" || status=1
    if [ "${PROFILE:-0}" = 1 ] && [ "${TINY:-0}" != 1 ]; then
        $PYTHON benchmarks/profile_engine.py --family pixart-alpha --batch 100 \
            --schedule "$REF/pixart_alpha_256/ours_fastest.json" > "$RESULTS/profile-pixart.txt" \
            2>&1 || true
    fi
fi
if [ "${ONLY:-flux}" != pixart ]; then
    $PYTHON -m ecad.cli bench --family flux-dev "${COMMON[@]}" "${FLUX[@]}" \
        --verify --calibrate-latency --out-dir "$RESULTS" || status=1
fi
exit $status
