#!/usr/bin/env bash
# The GPU check (bench/gpu_check.py): CUDA tests, tuner against the bare loop, precisions,
# workers per GPU; figures with the GPU's name in $OUT/gpu_results.json (or bench/).
# One call on a machine with a CUDA GPU, within 8 minutes: bash bench/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
exec timeout 560 .venv/bin/python bench/gpu_check.py --out "${OUT:-bench}/gpu_results.json" "$@"
