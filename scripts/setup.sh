#!/usr/bin/env bash
# Set up tuner on a fresh machine: the virtual environment with every package, the
# PostgreSQL server the tests use (started if it is installed but down) and, where apt is
# available, Chromium for the browser tests and PNG exports. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
export NO_ALBUMENTATIONS_UPDATE=1
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# torch/torchvision first, as a pair that imports together (see pyproject.toml).
.venv/bin/python -m pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
.venv/bin/python -m pip install --quiet -e '.[dev]'

# The lowest Optuna release pyproject.toml admits, in a small environment of its own for
# tests/test_optuna_internals.py (no torch: that test needs Optuna, SQLAlchemy, pytest).
LOWEST=$(sed -n 's/.*"optuna>=\([0-9.]*\),<.*/\1/p' pyproject.toml)
LOWEST_ENV=.venv/optuna-lowest
if ! "$LOWEST_ENV/bin/python" -c "import optuna, sys; sys.exit(optuna.__version__ != '$LOWEST')" 2>/dev/null; then
  rm -rf "$LOWEST_ENV"
  { "$PYTHON" -m venv "$LOWEST_ENV" && "$LOWEST_ENV/bin/python" -m pip install --quiet \
      "optuna==$LOWEST" "sqlalchemy>=2.0" "psycopg[binary]>=3.1" filelock grpcio protobuf \
      pytest; } \
    || echo "setup: could not install Optuna $LOWEST; its test will skip"
fi

# PostgreSQL on 127.0.0.1:5432 for the tests (trust auth, database "test").
if command -v pg_isready >/dev/null; then
  if ! pg_isready -h 127.0.0.1 -p 5432 -q && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  fi
  pg_isready -h 127.0.0.1 -p 5432 -q || echo "setup: PostgreSQL is not up; its tests will skip"
fi

# Chromium: browser tests and PNG exports (kaleido). Optional: tests skip without it.
if { ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; } && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
     chromium chromium-driver >/dev/null) || echo "setup: could not install chromium; browser tests will skip"
fi
echo "setup: done (.venv ready)"
