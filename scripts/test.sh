#!/usr/bin/env bash
# Set up a pinned virtual environment (if needed) and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]'
# norse's torchvision requirement cannot be met beside the CPU torch; norse.torch works without it.
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt --no-deps norse==1.1.0
.venv/bin/python -m pytest -q "$@"
