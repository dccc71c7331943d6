#!/usr/bin/env bash
# check_aarch64_wheels.sh: does every runtime dependency of mi-edge install on a Raspberry Pi
# (64-bit Raspberry Pi OS Bookworm: aarch64, glibc 2.36, CPython 3.11) from binary wheels alone?
#
#   deploy/check_aarch64_wheels.sh [DOWNLOAD_DIR]
#
# Run it on any machine with pip and access to PyPI (no Pi needed). It resolves the base
# install plus a TFLite interpreter for aarch64 with --only-binary=:all:, so a dependency that
# would need compiling on the Pi fails here. BrainFlow resolves (its PyPI wheel is
# py3-none-any) but carries no aarch64 native library: deploy/README.md step 3 builds it from
# source. The downloaded wheels can be copied to the Pi and installed with --no-index.
set -euo pipefail
dest=${1:-$(mktemp -d)}
py=${PYTHON:-python3}
plats=()
for tag in manylinux_2_17_aarch64 manylinux2014_aarch64 manylinux_2_27_aarch64 \
           manylinux_2_28_aarch64 manylinux_2_31_aarch64 manylinux_2_34_aarch64 \
           manylinux_2_35_aarch64 manylinux_2_36_aarch64; do
    plats+=(--platform "$tag")
done
"$py" -m pip download --only-binary=:all: --python-version 3.11 --implementation cp \
    --abi cp311 "${plats[@]}" -d "$dest" \
    "numpy>=1.26" "scipy>=1.11" "onnxruntime>=1.17" "brainflow>=5.12" "pyserial>=3.5" \
    "setuptools>=77.0.3,<82" "ai-edge-litert>=2.3" "cryptography>=42"
echo "aarch64 wheels for CPython 3.11 in $dest:"
ls -1 "$dest"
