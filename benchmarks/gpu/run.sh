#!/usr/bin/env bash
# The GPU check: what a GPU gives kerashpo's trials and searches on JAX and torch, against the same machine's CPU
# cores, in one call of at most 8 minutes. It writes OUTDIR/results.json and OUTDIR/results.md (check.py says what
# each part measures).
#
#     bash benchmarks/gpu/wheels.sh                                  # here: the wheels that machine lacks
#     bash benchmarks/gpu/run.sh OUTDIR                              # there, benchmarks/gpu/wheels carried
#     JAX_PLATFORMS=cpu QUICK=1 bash benchmarks/gpu/run.sh OUTDIR    # its CPU mode (CI): under 3 minutes, 2 cores
#
# Where kerashpo is not installed (the GPU machine), a scratch virtual environment on top of the machine's own
# packages takes the carried wheels, and kerashpo runs from this working tree.
set -euo pipefail
out=$(realpath -m "${1:?usage: run.sh OUTDIR}")
cd "$(dirname "$0")/../.."
root=$PWD
mkdir -p "$out"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
if ! python3 -c "import kerashpo" 2>/dev/null; then
    python3 -m venv --system-site-packages "$scratch/venv"
    "$scratch/venv/bin/python" -m pip install --quiet --no-index --no-deps benchmarks/gpu/wheels/*.whl
    mkdir -p "$scratch/src" && ln -s "$root" "$scratch/src/kerashpo"  # the repository root is the package
    export PATH="$scratch/venv/bin:$PATH" PYTHONPATH="$scratch/src${PYTHONPATH:+:$PYTHONPATH}"
fi
export TF_CPP_MIN_LOG_LEVEL=3
check() { python3 benchmarks/gpu/check.py "$@" --out "$out"; }

check sanity
gpu=$(python3 -c "import jax; print(int(any(d.platform == 'gpu' for d in jax.devices())))")
# Each part in its own process: Keras picks its backend, and JAX its platform, once per process.
on_cpu() { JAX_PLATFORMS=cpu CUDA_VISIBLE_DEVICES= "$@"; }
for backend in jax torch; do
    if [ "$gpu" = 1 ]; then KERAS_BACKEND=$backend check epochs --device gpu; fi
    KERAS_BACKEND=$backend on_cpu check epochs --device cpu
done
if [ "$gpu" = 1 ]; then
    workers=4  # several workers sharing the one GPU (each takes its memory as it needs it)
    for data in cnn table; do
        KERAS_BACKEND=jax check search --device gpu --data "$data" --workers 1
        KERAS_BACKEND=jax on_cpu check search --device cpu --data "$data" --workers 1
    done
    KERAS_BACKEND=jax check search --device gpu --data table --workers "$workers"
else
    for data in cnn table; do KERAS_BACKEND=jax check search --device cpu --data "$data" --workers 1; done
    KERAS_BACKEND=jax check search --device cpu --data table --workers 2
fi
check report
