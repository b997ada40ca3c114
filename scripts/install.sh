#!/usr/bin/env bash
# Installs everything TIFeD-HIL needs on a Debian machine, idempotently:
# the Arm toolchain, QEMU, the C test and fuzz tools, serial helpers, the
# Fashion-MNIST data set (/usr/share/datasets/fashion-mnist, for
# `--dataset fashion-mnist`), and a virtualenv in .venv with the harness (`tifed`) and the test tools.
# Run as root (or with sudo available). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(
  build-essential make python3 python3-venv python3-pip
  gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
  libcmocka-dev clang libclang-rt-dev socat ser2net
  dataset-fashion-mnist
)

missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "==> apt-get install ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PY=${PYTHON:-python3}
# tox >= 4.2x leaves a PEP 832 redirect *file* named .venv when no venv is
# there; it is not ours to keep.
[ -f .venv ] && rm -f .venv
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
echo "==> pip install -e .[test,flower] tox"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test,flower]" tox
echo "==> ready: .venv/bin/tifed"
