#!/usr/bin/env bash
# Install PoseTransferBench into ./.venv with pinned versions (idempotent).
# torch goes first and alone: `torch==2.13.0` picks the local CPU build where one
# is offered; asked for through a dependency, pip could pull a CUDA build instead.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check torch==2.13.0
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[test]"
.venv/bin/python -c "import bench, torch; print(f'installed: torch {torch.__version__}', flush=True)"
