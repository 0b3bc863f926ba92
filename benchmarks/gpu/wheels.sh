#!/usr/bin/env bash
# The wheels a GPU machine needs beside its own image, for Python 3.12 on manylinux x86-64, into
# benchmarks/gpu/wheels/ (ignored by git; under 60 MiB, what one device call may carry).
#
# The image has JAX with CUDA, torch, numpy, pandas, scikit-learn, scipy, matplotlib, rich and pyyaml, and neither
# TensorFlow, Keras, Optuna, MLflow, pydantic nor SQLAlchemy. What kerashpo imports on a JAX or torch search that
# exports a .keras file and an MLflow model is downloaded with its dependencies, less what the image holds.
#
#     bash benchmarks/gpu/wheels.sh            # then: run the check with benchmarks/gpu/wheels carried
set -euo pipefail
cd "$(dirname "$0")"
rm -rf wheels && mkdir wheels
pip download --quiet --disable-pip-version-check --dest wheels --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform any \
    keras optuna mlflow-skinny pydantic sqlalchemy alembic 2>&1 | grep -v "^WARNING: Location" || true
# In the image already (its own packages and theirs).
for name in numpy pyyaml rich pygments markdown_it_py mdurl typing_extensions packaging ml_dtypes \
            jax jaxlib torch pandas scipy scikit_learn matplotlib pillow six python_dateutil pytz tzdata \
            filelock jinja2 markupsafe fsspec sympy networkx mpmath; do
    rm -f wheels/"$name"-*.whl
done
size=$(du -sm wheels | cut -f1)
ls wheels | sed 's/-[0-9].*//' | tr '\n' ' '
echo
echo "benchmarks/gpu/wheels: $(ls wheels | wc -l) wheels, ${size} MiB"
if [ "$size" -ge 60 ]; then
    echo "over 60 MiB: a device call carries at most 64 MiB with the working tree" >&2
    exit 1
fi
