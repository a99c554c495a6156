#!/usr/bin/env bash
# The prepared device check (bench/devicecheck.py): on a machine with a CUDA GPU, install the
# project and print paper-size batch-1 fps (PoNA Table II) and per-model training it/s and peak
# memory, within about 8 minutes. `--cpu` runs the same check on the CPU (batch 1) to show it works.
#   bash scripts/device-check.sh            # CUDA
#   bash scripts/device-check.sh --cpu --model patn --model pona --steps 2
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/install.sh >&2
exec timeout 480 .venv/bin/python -m bench.devicecheck "$@"
