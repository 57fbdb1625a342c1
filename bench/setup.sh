#!/usr/bin/env bash
# setup.sh -- installs what bench/ needs, inside bench/ only: node_modules/ (ws, from package-lock.json)
# and .venv/ (requirements.txt: matplotlib, py-spy, pyinstrument). The app itself runs from the
# project's .venv. The shared harness (../shared/bench) is set up by bench/compare.sh on first use.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
.venv/bin/pip install -q -r requirements.txt
echo "bench setup: ok"
