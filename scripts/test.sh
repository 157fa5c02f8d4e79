#!/usr/bin/env bash
# The project's test command: installs test prerequisites, builds everything, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --workspace
cargo test --release --workspace
