#!/usr/bin/env bash
# check_pi.sh: is this Raspberry Pi ready to run mi-edge?
#
#   deploy/check_pi.sh                 # uses /opt/mi-edge/venv, else .venv, else python3
#   MI_EDGE_VENV=~/venv deploy/check_pi.sh
#
# Prints one line per check: "ok", "WARN" (works, but not as intended) or "FAIL" (mi-edge will
# not run). Exit status: the number of FAIL lines (0 = ready). Read-only: changes nothing.

set -u
fails=0
ok()   { printf '  ok    %s\n' "$*"; }
warn() { printf '  WARN  %s\n' "$*"; }
fail() { printf '  FAIL  %s\n' "$*"; fails=$((fails + 1)); }

echo "mi-edge: Raspberry Pi check"

# --- the machine --------------------------------------------------------------------------
if [ -r /proc/device-tree/model ]; then
    ok "model: $(tr -d '\0' < /proc/device-tree/model)"
else
    warn "model: /proc/device-tree/model missing (not a Raspberry Pi?)"
fi
arch=$(uname -m)
if [ "$arch" = "aarch64" ]; then ok "arch: $arch (64-bit OS)"; else warn "arch: $arch (the guide assumes the 64-bit OS, aarch64)"; fi
if [ -r /etc/os-release ]; then
    # shellcheck disable=SC1091
    . /etc/os-release
    ok "os: ${PRETTY_NAME:-unknown}"
fi

# --- python and the packages --------------------------------------------------------------
venv=${MI_EDGE_VENV:-}
if [ -z "$venv" ]; then
    for cand in /opt/mi-edge/venv "$(dirname "$0")/../.venv"; do
        if [ -x "$cand/bin/python" ]; then venv=$cand; break; fi
    done
fi
if [ -n "$venv" ] && [ -x "$venv/bin/python" ]; then py="$venv/bin/python"; else py=$(command -v python3 || true); fi
if [ -z "$py" ]; then
    fail "python: no python3 found"
else
    pyver=$("$py" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
    case "$pyver" in
        3.11.*) ok "python: $pyver ($py)" ;;
        *) fail "python: $pyver ($py); mi-edge needs Python 3.11" ;;
    esac
    check_import() {  # module, what it is for, FAIL or WARN when missing
        local out err
        err=$(mktemp)  # what a library says on stderr (e.g. onnxruntime's cpuinfo) is not the version
        if out=$("$py" -c "$2" 2>"$err"); then ok "$1: $out"; else "$3" "$1: $(tail -n 1 "$err")"; fi
        rm -f "$err"
    }
    check_import numpy "import numpy; print(numpy.__version__)" fail
    check_import scipy "import scipy; print(scipy.__version__)" fail
    # BoardShim.get_version() loads the native BoardController library: on aarch64 that only
    # works with BrainFlow built from source (deploy/README.md, step 3).
    check_import brainflow "import warnings; warnings.simplefilter('ignore'); from importlib.metadata import version; from brainflow.board_shim import BoardShim; print(version('brainflow'), '(native core', BoardShim.get_version() + ')')" fail
    check_import onnxruntime "import onnxruntime; print(onnxruntime.__version__)" warn
    # a TFLite interpreter that can build a model (tflite-runtime 2.14 imports under numpy 2 but
    # cannot): needed only for *_tflite_int8 decoders
    check_import tflite "from edge.decoders.tflite_decoder import interpreter_classes; print(', '.join(p for _, p in interpreter_classes()))" warn
    check_import pyserial "import serial; print(serial.__version__)" fail
    check_import cryptography "import cryptography; print(cryptography.__version__)" warn  # signed bundles (MI_EDGE_TRUSTED_KEY)
    check_import mi-edge "import edge.brainflow_source, edge.bundle; print('runtime imports')" fail
    if "$py" -c "import torch" >/dev/null 2>&1; then
        warn "torch is installed in this environment; the runtime never needs it (base install only)"
    fi
fi

# --- the user and the serial ports --------------------------------------------------------
for user in mi-edge "$(id -un)"; do
    if id "$user" >/dev/null 2>&1; then
        if id -nG "$user" | tr ' ' '\n' | grep -qx dialout; then
            ok "user $user: in group dialout"
        else
            warn "user $user: not in group dialout (sudo usermod -aG dialout $user; log in again)"
        fi
    fi
done
for dev in /dev/openbci /dev/mi-bridge; do
    if [ -e "$dev" ]; then
        ok "$dev -> $(readlink -f "$dev") ($(stat -c '%G %a' "$(readlink -f "$dev")"))"
    else
        warn "$dev: absent (plugged in? deploy/99-mi-edge.rules installed?)"
    fi
done

# --- FTDI latency timer (Cyton dongle) ----------------------------------------------------
found=0
for timer in /sys/bus/usb-serial/devices/*/latency_timer; do
    [ -r "$timer" ] || continue
    found=1
    tty=$(basename "$(dirname "$timer")")
    value=$(cat "$timer")
    if [ "$value" = "1" ]; then
        ok "latency_timer $tty: 1 ms"
    else
        warn "latency_timer $tty: $value ms (Cyton packets arrive in bursts; echo 1 | sudo tee $timer)"
    fi
done
[ "$found" = 1 ] || warn "latency_timer: no FTDI serial device present (Cyton dongle not plugged in?)"

# --- the service --------------------------------------------------------------------------
if command -v systemctl >/dev/null 2>&1 && systemctl cat mi-edge.service >/dev/null 2>&1; then
    ok "mi-edge.service: $(systemctl is-enabled mi-edge.service 2>/dev/null), $(systemctl is-active mi-edge.service 2>/dev/null)"
else
    warn "mi-edge.service: not installed"
fi
[ -r /etc/mi-edge/mi-edge.env ] && ok "/etc/mi-edge/mi-edge.env present" || warn "/etc/mi-edge/mi-edge.env: absent"

echo "$fails failure(s)"
exit "$fails"
