#!/usr/bin/env bash
# Quick start, step 1: install everything, then the main job: federated TIFeD
# training on a mixed fleet of four emulated Cortex-M4 boards (two MPS2-AN386,
# two STM32F405) under QEMU, every update checked bit for bit against the
# NumPy reference. Results land in results/quickstart/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/tifed run \
  --board qemu-mps2-an386 --board qemu-netduinoplus2 --devices 4 \
  --mode full --dataset digits --model 64-32-10 --out results/quickstart "$@"
