#!/usr/bin/env bash
# The compile benchmark's GPU runs, cut into parts that each fit one 10-minute device call, most
# wanted first. Every part writes under $OUT (else benchmarks/results/compile-runs) and stops
# starting rows at its deadline, so a part cut short still returns what it measured.
#
#   bash benchmarks/compile/device_calls.sh 1   # CUDA tests of the compiled engine; PixArt-α
#                                               # 1024/1, block scope, compiled rows, --profile
#   bash benchmarks/compile/device_calls.sh 2   # large batch (PixArt-α 256/100): eager and
#                                               # compiled, reduce-overhead, then mode default
#   bash benchmarks/compile/device_calls.sh 3   # PixArt-α 1024/1, transformer scope: FORA-3 and
#                                               # ours_fastest (one full compilation per pattern)
#   bash benchmarks/compile/device_calls.sh 4   # PixArt-α 1024/4; FLUX.1-dev 256/1 and 256/4
#   bash benchmarks/compile/device_calls.sh 5   # FLUX.1-dev 1024/4
#   bash benchmarks/compile/device_calls.sh 6   # PixArt-α 1024/1 and 256/1 in max-autotune
#   TINY=1 bash benchmarks/compile/device_calls.sh N   # the same steps on the CPU, tiny models
#
# Needs .reference/schedules_in_paper (see README.md) and, on a machine without diffusers, the
# wheels in .whl/ (installed into /tmp/site as benchmarks/run_engine_suite.sh does).
set -uo pipefail
cd "$(dirname "$0")/../.."
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONWARNINGS=ignore
PYTHON=${PYTHON:-python3}
RESULTS=${OUT:-benchmarks/results/compile-runs}
PART=${1:?which part: 1-6}

source benchmarks/device_env.sh

if [ "${TINY:-0}" = 1 ]; then
    COMMON=(--tiny --device cpu --backend eager --repeats 1 --steps 4)
    RES_HI=64
    RES_LO=64
else
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
    COMMON=()
    RES_HI=1024
    RES_LO=256
fi

bench() {  # bench SUBDIR DEADLINE_S ARGS...
    local dir=$RESULTS/$1 deadline=$2
    shift 2
    mkdir -p "$dir"
    $PYTHON benchmarks/compile/run.py "${COMMON[@]}" --out-dir "$dir" --deadline-s "$deadline" \
        "$@" 2>&1 | tee -a "$dir/run.log"
}

case "$PART" in
1)
    if [ "${TINY:-0}" != 1 ]; then
        $PYTHON -m pytest -q -p no:cacheprovider tests/caching/test_compiled.py \
            tests/caching/test_outer.py tests/caching/test_cuda_graphs.py 2>&1 | tail -5
    fi
    bench blocks-1024 420 --only pixart --resolution "$RES_HI" --batch 1 --no-eager --profile
    ;;
2)
    bench large-reduce-overhead 330 --only pixart --large --repeats 2
    bench large-default 200 --only pixart --large --repeats 2 --mode default --no-eager
    ;;
3)
    bench transformer-scope-1024 540 --only pixart --resolution "$RES_HI" --batch 1 --no-eager \
        --scope transformer --schedule fora-3 --schedule ours_fastest
    ;;
4)
    bench pixart-1024-b4 240 --only pixart --resolution "$RES_HI" --batch 4 --no-eager
    bench flux-256 300 --only flux --resolution "$RES_LO" --batch 1 --batch 4 --no-eager
    ;;
5)
    bench flux-1024-b4 540 --only flux --resolution "$RES_HI" --batch 4 --no-eager
    ;;
6)
    bench max-autotune 540 --only pixart --resolution "$RES_HI" --resolution "$RES_LO" \
        --batch 1 --no-eager --mode max-autotune
    ;;
*)
    echo "unknown part $PART (1-6)" >&2
    exit 2
    ;;
esac
