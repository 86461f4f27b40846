#!/usr/bin/env bash
# demo.sh: the main job. Installs what is missing, builds csp in release mode and runs the
# seed's worker pool, which prints each step of the producer, the workers and the closer.
# Arguments go to the program: scripts/demo.sh [jobs] [workers]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/packages.sh
ensure_packages "${build_packages[@]}"

cmake --preset release >/dev/null
cmake --build --preset release --target worker_pool >/dev/null
exec build/release/examples/worker_pool "$@"
