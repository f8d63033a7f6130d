#!/usr/bin/env bash
# Make the Python 3.10 environment with Lava (lava-nc requires Python < 3.11)
# and regenerate the Lava golden traces in tests/fixtures/lava/.
#
#   bash scripts/lava_golden.sh            # env in /tmp/lava310 (override LAVA_ENV)
#
# The environment lives outside the repository; the main project (Python 3.11)
# never imports Lava. Only the .npz traces it writes are committed.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
LAVA_ENV="${LAVA_ENV:-/tmp/lava310}"
PY310="${PY310:-$HOME/.pyenv/versions/3.10.13/bin/python}"
LAVA_VERSION="0.10.0"

if [ ! -x "$LAVA_ENV/bin/python" ]; then
    "$PY310" -m venv "$LAVA_ENV"
    "$LAVA_ENV/bin/pip" install --quiet --upgrade pip
    "$LAVA_ENV/bin/pip" install --quiet "lava-nc==$LAVA_VERSION"
fi
"$LAVA_ENV/bin/python" -c "import lava, sys; print('lava-nc', '$LAVA_VERSION', 'python', sys.version.split()[0])"
exec "$LAVA_ENV/bin/python" "$REPO/scripts/lava_golden.py" --out "$REPO/tests/fixtures/lava" "$@"
