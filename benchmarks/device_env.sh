# Sourced by the device scripts (run from the repository root, with PYTHON set): on a machine
# without diffusers, install the wheels carried in .whl/ into /tmp/site; put the repository
# (and /tmp/site) on PYTHONPATH.
if [ -d .whl ] && ! $PYTHON -c "import diffusers" 2>/dev/null; then
    $PYTHON -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
else
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
