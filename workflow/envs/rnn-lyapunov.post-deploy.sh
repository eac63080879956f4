#!/usr/bin/env bash
# Install rnn-lyapunov itself into the freshly created conda environment (its dependencies are
# already there). Snakemake runs this in its working directory: the repository root.
set -euo pipefail
python -m pip install --no-deps --no-build-isolation -e .
