#!/usr/bin/env bash
# Debian tools the test suite needs: avr-gcc for the ATmega328P cross-compile of the bridge's
# C library, socat for virtual serial links, chromium for the live view's browser test.
# Installed only when missing.
set -euo pipefail
need=()
command -v avr-gcc >/dev/null 2>&1 || need+=(gcc-avr avr-libc binutils-avr)
command -v socat >/dev/null 2>&1 || need+=(socat)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
# the live view's browser test (tests/test_view.py): Debian's Chromium, driven by playwright
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
