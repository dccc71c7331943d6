#!/usr/bin/env bash
# emulate_pi.sh: run deploy/README.md end to end on an emulated arm64 Raspberry Pi OS.
#
#   sudo HOST_PYTHON=.venv/bin/python BRAINFLOW_SRC=/path/to/brainflow deploy/emulate_pi.sh
#   deploy/emulate_pi.sh --plan        # what it would run, command by command (no root needed)
#   sudo deploy/emulate_pi.sh --fresh  # forget every cache first (a from-nothing run)
#
# There is no Pi here, so the guide is run where it can be: a Debian bookworm arm64 root
# filesystem (what Raspberry Pi OS Bookworm is built on), made with debootstrap and entered with
# chroot through qemu-user (binfmt_misc). The guide's ```bash blocks are extracted by
# deploy/guide.py and run command by command, as the Pi user `pi` (passwordless sudo, as on
# Raspberry Pi OS), in the directory the previous command left; the workstation's commands run on
# this host in a copy of the clone. Commands that cannot run here as written are substituted by
# the subst_* functions below, and each prints why (deploy/guide.py, RULES):
#   - BrainFlow: `git clone` checks out BRAINFLOW_SRC when set (github.com may be out of reach);
#     `tools/build.py` runs on the host with Debian's aarch64 cross compiler. Measured here (2
#     x86-64 cores shared with other jobs): one BrainFlow translation unit (openbci/cyton.cpp,
#     preprocessed, -O3) took 5.7 s of CPU (25.5 s wall) with aarch64-linux-gnu-g++ on the host
#     and 52.7 s of CPU (228 s wall) with g++ 12 under qemu, 9x slower; the cross build of all
#     ~150 units took 18.7 min here (1120 s), so a native one would take about 3 hours.
#     BRAINFLOW_BUILD=native runs the guide's command as written, under qemu.
#   - no USB hardware: the Cyton is BrainFlow's playback board (master Cyton) replaying eegmmidb
#     S007 run 12, the microcontroller is the device emulator (`mi-bridge emulate`) on a pty of
#     this host, reached from the chroot as /dev/mi-bridge (a link made as udev would);
#   - systemd is not PID 1 in a chroot: the unit is checked with `systemd-analyze verify` and its
#     ExecStartPre/ExecStart run as systemd starts them (User=, EnvironmentFile=), then SIGTERM.
# Then `mi-edge profile` runs in the chroot: its timings are EMULATED, never Pi figures.
#
# Caches (MI_EDGE_EMULATE_DIR, default /var/cache/mi-edge-emulate): the debootstrapped root
# filesystem, a snapshot of it after the guide's section 1 (apt; keyed by those commands), pip's
# download cache and ccache for the BrainFlow build. Every run starts from a fresh copy of the
# snapshot and runs the rest of the guide, so a second run takes minutes, not half an hour.
#
# Settings (environment): HOST_PYTHON (the workstation's Python with mi-edge[export]; default
# .venv/bin/python), BRAINFLOW_SRC (a BrainFlow git repository, bare or not, or a source tree),
# BRAINFLOW_REF (default 5.23.0), BRAINFLOW_BUILD (cross|native), PLAYBACK_SPEED (default 2),
# SERVICE_SECONDS (20), PROFILE_SECONDS (30), STFFDA_EPOCHS (30), DEBIAN_MIRROR.
set -eEuo pipefail
trap 'printf "\033[1;31m[emulate_pi] FAILED (exit %s): line %s: %s\033[0m\n" "$?" "$LINENO" "$BASH_COMMAND" >&2' ERR

REPO=$(cd "$(dirname "$0")/.." && pwd)
GUIDE=$REPO/deploy/README.md
EMU_DIR=${MI_EDGE_EMULATE_DIR:-/var/cache/mi-edge-emulate}
ROOTFS=$EMU_DIR/rootfs
RUN_DIR=$EMU_DIR/run
WS_CLONE=$EMU_DIR/workstation/mi-edge
WS_HOME=$EMU_DIR/workstation/home
HOST_PYTHON=${HOST_PYTHON:-$REPO/.venv/bin/python}
# absolute, without resolving the venv's symlink: the workstation's commands run in another
# directory, where a relative .venv/bin (and its mi-export) would not be found
case $HOST_PYTHON in /*) ;; *) HOST_PYTHON=$PWD/$HOST_PYTHON ;; esac
BRAINFLOW_SRC=${BRAINFLOW_SRC:-}
BRAINFLOW_REF=${BRAINFLOW_REF:-5.23.0}
BRAINFLOW_BUILD=${BRAINFLOW_BUILD:-cross}
PLAYBACK_SPEED=${PLAYBACK_SPEED:-2}
SERVICE_SECONDS=${SERVICE_SECONDS:-20}
PROFILE_SECONDS=${PROFILE_SECONDS:-30}
STFFDA_EPOCHS=${STFFDA_EPOCHS:-30}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBOOTSTRAP_INCLUDE=sudo,ca-certificates,systemd,udev,procps
HOST_PACKAGES=(qemu-user-static binfmt-support debootstrap g++-aarch64-linux-gnu cmake make ccache)
# the bundle: 8 Cyton electrodes at 250 Hz, the guide's example montage (C3,Cz,C4,FC3,FC4,CP3,CP4,Fz)
CHANNELS=(C3 Cz C4 FC3 FC4 CP3 CP4 Fz)
DATA=data/eegmmidb

STEPS=()
T_START=$(date +%s.%N)
say() { printf '\n\033[1m[emulate_pi %6.0fs] %s\033[0m\n' "$(elapsed "$T_START")" "$*"; }
loud() { printf '\033[1;33m[emulate_pi] %s\033[0m\n' "$*"; }
die() { printf '\033[1;31m[emulate_pi] FAILED: %s\033[0m\n' "$*" >&2; exit 1; }
elapsed() { echo "$(date +%s.%N) - $1" | bc; }
timed() {  # timed NAME CMD...: run (errexit stays on inside), record the wall time
    local name=$1 t0; shift
    t0=$(date +%s.%N)
    "$@"
    STEPS+=("$(printf '%8.1f s  %s' "$(elapsed "$t0")" "$name")")
}

# --- the host ------------------------------------------------------------------------------
host_packages() {
    local missing=() p
    for p in "${HOST_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    if [ ${#missing[@]} = 0 ]; then echo "all present: ${HOST_PACKAGES[*]}"; return; fi
    echo "installing ${missing[*]}: qemu-user + binfmt run arm64 binaries, debootstrap makes the"
    echo "root filesystem, the aarch64 cross compiler + cmake + ccache build BrainFlow's core"
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
}

binfmt() {  # the kernel hands aarch64 ELF files to qemu-aarch64-static; flags F (found inside
    # chroots) and C (credentials from the binary, not from qemu: without it setuid sudo fails
    # with "effective uid is not 0")
    local entry=/proc/sys/fs/binfmt_misc/qemu-aarch64 line
    mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    if [ -e $entry ] && ! grep -q '^flags: .*C' $entry; then echo -1 > $entry; fi
    if [ ! -e $entry ]; then
        line=$(grep -v '^#' /usr/lib/binfmt.d/qemu-aarch64.conf | head -1)
        [[ ${line##*:} == *C* ]] || line="${line}C"
        echo "$line" > /proc/sys/fs/binfmt_misc/register
    fi
    grep -E '^(enabled|interpreter|flags)' $entry
}

no_mounts_under() {  # never delete a tree that still has /proc, /sys or /dev/pts mounted in it
    ! grep -q " $1/" /proc/mounts || die "$1 still has mounts: $(grep " $1/" /proc/mounts | cut -d' ' -f2 | tr '\n' ' ')"
}

base_rootfs() {  # debootstrap + what Raspberry Pi OS's imager sets up: user pi, sudo, hostname
    local base=$EMU_DIR/base
    if [ -e "$base/.done" ]; then echo "cached: $base ($(cat "$base/.done"))"; return; fi
    no_mounts_under "$base.tmp"; rm -rf --one-file-system "$base.tmp"
    debootstrap --arch=arm64 --variant=minbase --include="$DEBOOTSTRAP_INCLUDE" bookworm "$base.tmp" "$MIRROR"
    cat > "$base.tmp/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main contrib non-free non-free-firmware
deb $MIRROR bookworm-updates main contrib non-free non-free-firmware
deb http://security.debian.org/debian-security bookworm-security main contrib non-free non-free-firmware
EOF
    echo raspberrypi > "$base.tmp/etc/hostname"
    printf '127.0.0.1\tlocalhost\n127.0.1.1\traspberrypi\n' > "$base.tmp/etc/hosts"
    # no daemons start inside the chroot (the usual policy-rc.d of chroots and image builders)
    printf '#!/bin/sh\nexit 101\n' > "$base.tmp/usr/sbin/policy-rc.d"; chmod 755 "$base.tmp/usr/sbin/policy-rc.d"
    chroot "$base.tmp" useradd -m -s /bin/bash -G adm,dialout,cdrom,sudo,audio,video,plugdev,users pi
    echo 'pi ALL=(ALL) NOPASSWD: ALL' > "$base.tmp/etc/sudoers.d/010_pi-nopasswd"
    chmod 440 "$base.tmp/etc/sudoers.d/010_pi-nopasswd"
    echo "debootstrap bookworm arm64 $(date -u +%FT%TZ)" > "$base.tmp/.done"
    mv "$base.tmp" "$base"
}

section1_key() {  # the snapshot after section 1 is valid while the base and its commands are
    { cat "$EMU_DIR/base/.done"; awk -F'\t' '$4 ~ /^1\./ {print $1}' "$RUN_DIR/guide/plan.tsv" \
        | while read -r n; do cat "$RUN_DIR/guide/$n.sh"; done; } | sha256sum | cut -c1-16
}

fresh_rootfs() {
    umount_all; no_mounts_under "$ROOTFS"
    rm -rf --one-file-system "$ROOTFS"
    local snap; snap=$EMU_DIR/snapshot-section1-$(section1_key)
    if [ -e "$snap/.done" ]; then
        cp -a "$snap" "$ROOTFS"; SECTION1_CACHED=$snap; echo "restored $snap"
    else
        cp -a "$EMU_DIR/base" "$ROOTFS"; SECTION1_CACHED=""; echo "copied the debootstrapped base"
    fi
    rm -f "$ROOTFS/tmp/emu_cwd"
    host_ca
}

host_ca() {  # a network that inspects TLS (as this one does): the host's local CA certificates
    # are trusted in the chroot too, kept by later update-ca-certificates runs, and pip is told
    # to use the system bundle (its own certifi bundle does not have them)
    local crt bundle=$ROOTFS/etc/ssl/certs/ca-certificates.crt
    compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null || return 0
    mkdir -p "$ROOTFS/usr/local/share/ca-certificates"
    for crt in /usr/local/share/ca-certificates/*.crt; do
        cp "$crt" "$ROOTFS/usr/local/share/ca-certificates/"
        grep -qF "$(sed -n 2p "$crt")" "$bundle" 2>/dev/null || cat "$crt" >> "$bundle"
    done
    printf '# written by deploy/emulate_pi.sh: this network inspects TLS\n[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' \
        > "$ROOTFS/etc/pip.conf"
    echo "trusted in the chroot: the host's $(ls /usr/local/share/ca-certificates/*.crt | wc -l) local CA certificate(s) (/usr/local/share/ca-certificates)"
}

snapshot_section1() {
    local snap; snap=$EMU_DIR/snapshot-section1-$(section1_key)
    umount_all; no_mounts_under "$ROOTFS"
    rm -rf --one-file-system "$EMU_DIR"/snapshot-section1-*
    cp -a "$ROOTFS" "$snap.tmp" && mv "$snap.tmp" "$snap"
    mount_all
}

mount_all() {  # a small /dev of its own (so /dev/mi-bridge can be made as udev would), the
    # host's ptys (the device emulator's port), /proc, DNS. No /sys: the host's describes x86
    # cores, and onnxruntime's CPU probe reading it under qemu dies (SIGSEGV in `import
    # onnxruntime`, every time); subst_udev mounts it for udevadm only
    local r=$ROOTFS
    mountpoint -q "$r/proc" || mount -t proc proc "$r/proc"
    if ! mountpoint -q "$r/dev"; then
        mount -t tmpfs -o mode=755,nosuid dev "$r/dev"
        mknod -m 666 "$r/dev/null" c 1 3; mknod -m 666 "$r/dev/zero" c 1 5
        mknod -m 666 "$r/dev/full" c 1 7; mknod -m 666 "$r/dev/random" c 1 8
        mknod -m 666 "$r/dev/urandom" c 1 9; mknod -m 666 "$r/dev/tty" c 5 0
        mkdir "$r/dev/pts" "$r/dev/shm"; ln -s pts/ptmx "$r/dev/ptmx"; ln -s /proc/self/fd "$r/dev/fd"
        ln -s /proc/self/fd/0 "$r/dev/stdin"; ln -s /proc/self/fd/1 "$r/dev/stdout"; ln -s /proc/self/fd/2 "$r/dev/stderr"
    fi
    mountpoint -q "$r/dev/pts" || mount --bind /dev/pts "$r/dev/pts"
    mountpoint -q "$r/dev/shm" || mount -t tmpfs -o mode=1777 shm "$r/dev/shm"
    mkdir -p "$EMU_DIR/cache/pip" "$r/home/pi/.cache/pip"
    mountpoint -q "$r/home/pi/.cache/pip" || mount --bind "$EMU_DIR/cache/pip" "$r/home/pi/.cache/pip"
    chroot "$r" chown pi:pi /home/pi/.cache /home/pi/.cache/pip
    cp /etc/resolv.conf "$r/etc/resolv.conf"
}

umount_all() {
    local m
    for m in home/pi/.cache/pip dev/shm dev/pts dev sys proc; do
        if mountpoint -q "$ROOTFS/$m" 2>/dev/null; then umount "$ROOTFS/$m" || umount -l "$ROOTFS/$m"; fi
    done
}

# --- running the guide's commands ----------------------------------------------------------
PI_ENV=(env -i HOME=/home/pi USER=pi LOGNAME=pi SHELL=/bin/bash LANG=C.UTF-8 TERM=dumb
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
in_pi() {  # a command in the chroot, in a UTS namespace of its own named raspberrypi
    unshare --uts -- sh -c 'hostname raspberrypi && exec chroot "$@"' _ "$ROOTFS" "$@"
}
as_pi() {  # bash code, as the Pi user, in the directory the previous command left
    in_pi setpriv --reuid=pi --regid=pi --init-groups "${PI_ENV[@]}" bash -c \
        'cd "$(cat /tmp/emu_cwd 2>/dev/null || echo "$HOME")" || exit 1; set -o pipefail
         '"$1"'
         rc=$?; pwd > /tmp/emu_cwd; exit $rc' </dev/null
}
run_pi() { install -m 0644 "$1" "$ROOTFS/tmp/emu_cmd.sh"; as_pi '. /tmp/emu_cmd.sh'; }
pi_cwd() { cat "$ROOTFS/tmp/emu_cwd" 2>/dev/null || echo /home/pi; }
run_ws() {  # on the workstation (this host), in its clone, with its Python's mi-export and pip
    (cd "$WS_CLONE" && HOME=$WS_HOME PATH="$(dirname "$HOST_PYTHON"):$PATH" PYTHONPATH=$WS_CLONE \
        bash -e -o pipefail "$1" </dev/null)
}
show() { sed 's/^/    $ /' "$1"; }

workstation_clone() {  # the clone as it is now (tracked and untracked, not ignored files), and
    # a new home (the signing key pair is made by the guide's keygen on every run)
    rm -rf "$WS_CLONE" "$WS_HOME"; mkdir -p "$WS_CLONE" "$WS_HOME"
    (cd "$REPO" && git ls-files -z -co --exclude-standard | xargs -0 tar -c --ignore-failed-read -f -) \
        | tar -x -C "$WS_CLONE"
    "$HOST_PYTHON" -c 'import export, edge' || die "HOST_PYTHON=$HOST_PYTHON cannot import mi-edge[export]"
}

run_guide() {
    local n where action section why
    while IFS=$'\t' read -r n where action section why; do
        local cmd=$RUN_DIR/guide/$n.sh t0; t0=$(date +%s.%N)
        if [[ $section == 1.* && -n $SECTION1_CACHED ]]; then
            printf '\n[%s] section %s: cached (%s)\n' "$n" "$section" "$(basename "$SECTION1_CACHED")"
            show "$cmd"; continue
        fi
        printf '\n\033[1m[%s] %s | %s%s\033[0m\n' "$n" "$section" "$where" "${action:+ $action}"
        show "$cmd"
        case $where in
            pi) run_pi "$cmd" || die "guide command $n: $(head -1 "$cmd")" ;;
            workstation) run_ws "$cmd" || die "guide command $n (workstation): $(head -1 "$cmd")" ;;
            subst) loud "SUBSTITUTED: $why"; "subst_$action" "$cmd" ;;
            skip) loud "NOT RUN: $why" ;;
            *) die "plan: unknown kind $where" ;;
        esac
        local secs; secs=$(elapsed "$t0"); printf '    (%.1f s)\n' "$secs"
        if [ "$(echo "$secs >= 30" | bc)" = 1 ]; then  # the long commands get their own line
            STEPS+=("$(printf '%8.1f s      [%s] %s' "$secs" "$n" "$(head -1 "$cmd" | cut -c1-70)")")
        fi
        SECTION_SECS[$section]=$(echo "${SECTION_SECS[$section]:-0} + $secs" | bc)
        [[ " ${SECTION_ORDER[*]} " == *" ${section%% *} "* ]] || SECTION_ORDER+=("${section%% *}")
        SECTION_TITLE[${section%% *}]=$section
        if [[ $section == 1.* && -z $SECTION1_CACHED && $n == "$LAST_SECTION1" ]]; then
            say "snapshot of the root filesystem after section 1"; snapshot_section1
        fi
    done < "$RUN_DIR/guide/plan.tsv"
}

# shellcheck source=deploy/emulate_subst.sh
. "$REPO/deploy/emulate_subst.sh"

# --- main ----------------------------------------------------------------------------------
if [ "${1:-}" = --plan ]; then exec python3 "$REPO/deploy/guide.py" plan "$GUIDE"; fi
if [ "${1:-}" = --help ] || [ "${1:-}" = -h ]; then sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//;$d'; exit 0; fi
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mounts): sudo $0"
[ "$(uname -m)" = x86_64 ] || loud "host is $(uname -m), not x86_64: untested"
mkdir -p "$EMU_DIR"
exec > >(tee "$EMU_DIR/emulate_pi.log") 2>&1
if [ "${1:-}" = --fresh ]; then
    say "--fresh: deleting every cache in $EMU_DIR"
    umount_all; no_mounts_under "$ROOTFS"
    find "$EMU_DIR" -mindepth 1 -maxdepth 1 ! -name emulate_pi.log -exec rm -rf --one-file-system {} +
fi
trap 'stop_emulators; umount_all' EXIT
declare -A SECTION_SECS SECTION_TITLE; SECTION_ORDER=()

say "host packages"; timed "host packages (apt)" host_packages
say "binfmt_misc: aarch64 binaries through qemu-aarch64-static"; timed "binfmt registration" binfmt
say "the guide's commands (deploy/guide.py)"
rm -rf "$RUN_DIR"; mkdir -p "$RUN_DIR"
python3 "$REPO/deploy/guide.py" segments "$GUIDE" "$RUN_DIR/guide"
LAST_SECTION1=$(awk -F'\t' '$4 ~ /^1\./ {n=$1} END {print n}' "$RUN_DIR/guide/plan.tsv")
say "root filesystem: Debian bookworm arm64 (debootstrap)"; timed "debootstrap bookworm arm64 (base rootfs)" base_rootfs
say "a fresh root filesystem for this run"; timed "fresh rootfs (copy of the base or snapshot)" fresh_rootfs
mount_all
say "the workstation: a copy of $REPO"; timed "workstation clone" workstation_clone
for_each_section_timed() { run_guide; }
timed "the guide, deploy/README.md (all sections)" for_each_section_timed
say "mi-edge profile inside the arm64 chroot (EMULATED timings)"; timed "mi-edge profile (emulated)" emulated_profile
summary
