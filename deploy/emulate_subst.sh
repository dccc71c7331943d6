# emulate_subst.sh: sourced by deploy/emulate_pi.sh. What runs instead of the guide commands that
# cannot run in an emulated Pi as written (deploy/guide.py, RULES, says which and why), the
# device emulator on a pty of this host, the emulated profile and the closing summary.
# shellcheck shell=bash disable=SC2034

# --- the device emulator ---------------------------------------------------------------------
EMULATORS=()
start_emulator() {  # start_emulator TAG: a device emulator on a new pty, linked as /dev/mi-bridge
    local tag=$1 out=$RUN_DIR/emulator_$1.out pty="" i
    (cd "$REPO" && PYTHONPATH=$REPO exec "$HOST_PYTHON" -m firmware_bridge.cli emulate \
        --json-log "$RUN_DIR/device_$tag.jsonl" --heartbeat-timeout-ms 1000) > "$out" 2>&1 &
    EMULATORS+=("$!")
    for i in $(seq 100); do pty=$(head -1 "$out" 2>/dev/null || true); [[ $pty == /dev/pts/* ]] && break; sleep 0.2; done
    [[ $pty == /dev/pts/* ]] || die "device emulator did not open a pty: $(cat "$out")"
    # a real /dev/ttyACM0 is root:dialout 0660; the runtime's users reach it through dialout
    chgrp "$(chroot "$ROOTFS" getent group dialout | cut -d: -f3)" "$pty"; chmod 0660 "$pty"
    ln -sfn "$pty" "$ROOTFS/dev/mi-bridge"
    echo "device emulator ($tag) on $pty = /dev/mi-bridge in the chroot (as udev's rule would link it)"
}

stop_emulators() {
    local pid
    for pid in "${EMULATORS[@]}"; do kill -INT "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
    EMULATORS=()
}

tally() {  # tally TAG: what the device did, from its JSON log
    python3 - "$RUN_DIR/device_$1.jsonl" "$1" <<'EOF'
import json, sys
recs = [json.loads(x) for x in open(sys.argv[1]) if x.strip().endswith("}")]
frames = [r for r in recs if r["event"] == "frame"]
acted = [r for r in frames if r.get("type") == "DECISION" and not r.get("flags")
         and r.get("outcome") == "used"]
states = [r for r in recs if r["event"] == "state"]
print(f"device tally ({sys.argv[2]}): frames {len(frames)}, decisions acted on {len(acted)}, "
      f"rejects {sum(r['event'] == 'reject' for r in recs)}, "
      f"sequence gaps {sum(r['event'] == 'gap' for r in recs)}, final state "
      + (f"{states[-1]['state']} ({states[-1]['reason']})" if states else "none"))
EOF
}

# --- BrainFlow ---------------------------------------------------------------------------------
subst_brainflow_clone() {
    if [ -z "$BRAINFLOW_SRC" ]; then loud "BRAINFLOW_SRC unset: the command runs as written"; run_pi "$1"; return; fi
    local dest; dest=$ROOTFS$(pi_cwd)/brainflow
    [ ! -e "$dest" ] || die "$dest exists"
    if git -C "$BRAINFLOW_SRC" rev-parse --git-dir >/dev/null 2>&1; then
        local gd; gd=$(cd "$BRAINFLOW_SRC" && cd "$(git rev-parse --git-dir)" && pwd)
        local commit; commit=$(git --git-dir="$gd" rev-parse --verify -q "$BRAINFLOW_REF^{commit}") \
            || die "BRAINFLOW_SRC=$BRAINFLOW_SRC has no $BRAINFLOW_REF (tags: $(git --git-dir="$gd" tag -l '5.2*' | tr '\n' ' ')); set BRAINFLOW_REF"
        BRAINFLOW_DESC="$BRAINFLOW_SRC at $BRAINFLOW_REF = $commit ($(git --git-dir="$gd" log -1 --format='%ci %s' "$commit"))"
        loud "BrainFlow source: $BRAINFLOW_DESC, NOT a clone of github.com/brainflow-dev/brainflow"
        # a checkout that tolerates a mirror without its largest blobs (prebuilt third-party
        # binaries for other platforms): they are listed, and left out
        local idx=$RUN_DIR/brainflow.index
        GIT_INDEX_FILE=$idx git --git-dir="$gd" read-tree "$commit"
        local missing; missing=$(GIT_INDEX_FILE=$idx git --git-dir="$gd" ls-files -s | awk '{print $2}' \
            | git --git-dir="$gd" cat-file --batch-check | awk '$2 == "missing" {print $1}')
        if [ -n "$missing" ]; then
            loud "blobs absent from BRAINFLOW_SRC, left out of the tree:"
            GIT_INDEX_FILE=$idx git --git-dir="$gd" ls-files -s | grep -F "$missing" | cut -f2 | tee "$RUN_DIR/brainflow.missing" | sed 's/^/    /'
            cut -f1 "$RUN_DIR/brainflow.missing" | GIT_INDEX_FILE=$idx xargs git --git-dir="$gd" update-index --force-remove
        fi
        mkdir -p "$dest"
        GIT_INDEX_FILE=$idx git --git-dir="$gd" --work-tree="$dest" checkout-index -a
    else
        BRAINFLOW_DESC="$BRAINFLOW_SRC (a source tree, not a git repository)"
        loud "BrainFlow source: $BRAINFLOW_DESC"
        cp -a "$BRAINFLOW_SRC" "$dest"
    fi
    chroot "$ROOTFS" chown -R pi:pi "$(pi_cwd)/brainflow"
}

subst_brainflow_build() {
    if [ "$BRAINFLOW_BUILD" = native ]; then loud "BRAINFLOW_BUILD=native: compiling under qemu"; run_pi "$1"; return; fi
    local tree; tree=$ROOTFS$(pi_cwd) tc=$EMU_DIR/aarch64-linux-gnu.cmake
    cat > "$tc" <<'EOF'
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_C_COMPILER_LAUNCHER ccache)
set(CMAKE_CXX_COMPILER_LAUNCHER ccache)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
EOF
    echo "on the host, in $tree: the guide's command with CMAKE_TOOLCHAIN_FILE=$tc"
    (cd "$tree" && CMAKE_TOOLCHAIN_FILE=$tc CCACHE_DIR=$EMU_DIR/cache/ccache CCACHE_BASEDIR=$tree bash -e "$1" \
        > "$RUN_DIR/brainflow_build.log" 2>&1) || { tail -30 "$RUN_DIR/brainflow_build.log"; return 1; }
    tail -3 "$RUN_DIR/brainflow_build.log"
    CCACHE_DIR=$EMU_DIR/cache/ccache ccache -s | grep -iE 'hits|misses' | head -3 || true
    chroot "$ROOTFS" chown -R pi:pi "$(pi_cwd)"
    file -L "$tree/installed/lib/libBoardController.so" | grep -q 'ARM aarch64' \
        || die "libBoardController.so is not an aarch64 library"
    file -L "$tree/installed/lib/libBoardController.so" | cut -d, -f1-2
}

# --- the workstation's side --------------------------------------------------------------------
subst_scp() {  # scp [-r] SRC... pi@HOST:[DEST] -> cp into the chroot, owned by pi (as scp as pi)
    local line args=() srcs=() dest
    line=$(sed 's/[[:space:]]#.*$//' "$1" | tr '\n' ' ')
    mapfile -d '' args < <(cd "$WS_CLONE" && HOME=$WS_HOME && eval "printf '%s\0' ${line#scp }")
    dest=${args[-1]#*:}; unset 'args[-1]'
    case $dest in "") dest=/home/pi ;; /*) ;; *) dest=/home/pi/$dest ;; esac
    local a; for a in "${args[@]}"; do [ "$a" = -r ] || srcs+=("$a"); done
    [ -d "$ROOTFS$dest" ] || die "scp: $dest is not a directory on the Pi"
    (cd "$WS_CLONE" && cp -a "${srcs[@]}" "$ROOTFS$dest/")
    for a in "${srcs[@]}"; do chroot "$ROOTFS" chown -R pi:pi "$dest/$(basename "$a")"; echo "  -> $dest/$(basename "$a")"; done
}

ws_run() { printf '    $ %s\n' "$*"; (cd "$WS_CLONE" && HOME=$WS_HOME PYTHONPATH=$WS_CLONE "$@" </dev/null); }
subst_export_fgsft() {
    ws_run "$HOST_PYTHON" -m export.cli fgsft "$DATA/S007_imagery_left_right.npz" --runs 4 8 \
        --window 0.5 2.5 --channels "${CHANNELS[@]}" --sfreq 250 --grid fast --jobs 2 \
        --no-operating-point -o S007.mibundle --sign-key "$WS_HOME/.mi-edge/release.key"
}
subst_export_stffda() {
    ws_run "$HOST_PYTHON" -m export.cli stffda "$DATA/S007_imagery_left_right.npz" --runs 4 8 \
        --window 0.5 2.5 --channels "${CHANNELS[@]}" --sfreq 250 --epochs "$STFFDA_EPOCHS" \
        --threads 2 -q -o S007.mibundle --sign-key "$WS_HOME/.mi-edge/release.key"
}
subst_export_playback() {
    ws_run "$HOST_PYTHON" -m export.cli playback "$DATA/S007_R12_continuous.npz" --board cyton \
        --channels "${CHANNELS[@]}" --speed "$PLAYBACK_SPEED" -o S007_R12.cyton.csv
}

# --- hardware, udev, systemd -------------------------------------------------------------------
subst_udev() {  # no udevd: have udev's own parser read the installed rules against a tty device
    local dev out
    dev=$(ls -d /sys/class/tty/ttyS0 /sys/class/tty/tty0 2>/dev/null | head -1)
    mount -t sysfs -o ro sysfs "$ROOTFS/sys"
    out=$(chroot "$ROOTFS" udevadm test --action=add "$dev" 2>&1) || true
    umount "$ROOTFS/sys"
    grep -F 99-mi-edge.rules <<< "$out" | sed 's/^/    /'
    grep -q 'Reading rules file: /etc/udev/rules.d/99-mi-edge.rules' <<< "$out" \
        || die "udevadm did not read /etc/udev/rules.d/99-mi-edge.rules"
    ! grep -F 99-mi-edge.rules <<< "$out" | grep -qiE 'invalid|error|fail|unknown|ignor' \
        || die "udevadm reports errors in 99-mi-edge.rules"
    echo "    99-mi-edge.rules: parsed by udevadm without a complaint"
}

subst_edit_env() {  # what the Pi user would type into the editor
    local f=$ROOTFS/etc/mi-edge/mi-edge.env
    cp "$f" "$RUN_DIR/mi-edge.env.example"
    sed -i -e 's|^MI_EDGE_BOARD_ARGS=.*|MI_EDGE_BOARD_ARGS=--board playback --file /var/lib/mi-edge/S007_R12.cyton.csv|' \
        -e 's|^#MI_EDGE_TRUSTED_KEY=|MI_EDGE_TRUSTED_KEY=|' "$f"
    diff "$RUN_DIR/mi-edge.env.example" "$f" | sed 's/^/    /' || true
}

subst_hardware_run() {
    local cmd=$RUN_DIR/hardware_run.sh
    sed -e 's|--board cyton|--board playback|' \
        -e 's|--serial-port /dev/openbci|--file /var/lib/mi-edge/S007_R12.cyton.csv --master-board cyton|' \
        "$1" > "$cmd"
    echo "  runs:"; show "$cmd"
    start_emulator guide
    local rc=0
    run_pi "$cmd" > >(tee "$RUN_DIR/runtime_guide.log") 2>&1 || rc=$?
    sleep 1.5; stop_emulators; tally guide | tee "$RUN_DIR/tally_guide.txt"
    return "$rc"
}

subst_service_verify() {  # daemon-reload itself needs a running systemd ("Failed to connect to bus")
    local out rc=0
    out=$(chroot "$ROOTFS" systemd-analyze verify /etc/systemd/system/mi-edge.service 2>&1) || rc=$?
    [ -z "$out" ] || sed 's/^/    /' <<< "$out"
    [ "$rc" = 0 ] || die "systemd-analyze verify mi-edge.service: exit $rc"
    echo "    systemd-analyze verify mi-edge.service: exit 0"
}

subst_service_run() {
    # `enable` works offline in a chroot (--now's start needs a running systemd: what follows)
    as_pi 'sudo systemctl enable mi-edge'
    chroot "$ROOTFS" systemctl is-enabled mi-edge.service
    local info=$RUN_DIR/unit.tsv user group wd timeout pre=() main=() envs=() key rest
    python3 "$REPO/deploy/guide.py" unit "$ROOTFS/etc/systemd/system/mi-edge.service" \
        "$ROOTFS/etc/mi-edge/mi-edge.env" > "$info"
    user=$(awk -F'\t' '$1 == "User" {print $2}' "$info"); group=$(awk -F'\t' '$1 == "Group" {print $2}' "$info")
    wd=$(awk -F'\t' '$1 == "WorkingDirectory" {print $2}' "$info")
    timeout=$(awk -F'\t' '$1 == "TimeoutStopSec" {print $2}' "$info")
    mapfile -t envs < <(awk -F'\t' '$1 == "env" {print $2}' "$info")
    # StateDirectory= / LogsDirectory=: systemd makes them, owned by User=
    for key in StateDirectory:/var/lib LogsDirectory:/var/log; do
        rest=$(awk -F'\t' -v k="${key%%:*}" '$1 == k {print $2}' "$info")
        [ -z "$rest" ] || chroot "$ROOTFS" install -d -o "$user" -g "$group" "${key#*:}/$rest"
    done
    # a plain command (no function) so that `&` runs it as the very process that gets SIGTERM
    local svc=(unshare --uts -- sh -c 'hostname raspberrypi && exec chroot "$@"' _ "$ROOTFS" setpriv --reuid="$user" --regid="$group" --init-groups
               env -i HOME="/var/lib/$user" USER="$user" LOGNAME="$user" SHELL=/usr/sbin/nologin
               PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin "${envs[@]}"
               /bin/sh -c 'cd "$0" && exec "$@"' "$wd")
    mapfile -d $'\t' -t pre < <(awk -F'\t' '$1 == "ExecStartPre" {sub(/^ExecStartPre\t/, ""); printf "%s", $0}' "$info")
    mapfile -d $'\t' -t main < <(awk -F'\t' '$1 == "ExecStart" {sub(/^ExecStart\t/, ""); printf "%s", $0}' "$info")
    echo "  as systemd starts it: User=$user Group=$group WorkingDirectory=$wd, EnvironmentFile"
    echo "  ExecStartPre: ${pre[*]}"; "${svc[@]}" "${pre[@]}" || die "ExecStartPre failed"
    start_emulator service
    echo "  ExecStart:    ${main[*]}"
    "${svc[@]}" "${main[@]}" > "$RUN_DIR/runtime_service.log" 2>&1 &
    local pid=$! i rc=0
    for i in $(seq "$SERVICE_SECONDS"); do sleep 1; kill -0 "$pid" 2>/dev/null || break; done
    kill -0 "$pid" 2>/dev/null || { cat "$RUN_DIR/runtime_service.log"; die "the service ended before its stop"; }
    echo "  systemctl stop: SIGTERM to the main process after ${SERVICE_SECONDS} s (TimeoutStopSec=$timeout)"
    kill -TERM "$pid"
    for i in $(seq $((${timeout:-10} * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; die "still running ${timeout} s after SIGTERM"; fi
    wait "$pid" || rc=$?
    sed 's/^/    /' "$RUN_DIR/runtime_service.log"
    sleep 1.5; stop_emulators; tally service | tee "$RUN_DIR/tally_service.txt"
    echo "  exit status after SIGTERM: $rc (systemd counts 0 as a clean stop)"
    [ "$rc" = 0 ] || die "the runtime exited $rc on SIGTERM"
    chroot "$ROOTFS" tail -n 2 /var/log/mi-edge/decisions.jsonl | cut -c1-160 | sed 's/^/    decisions.jsonl: /'
}

# --- after the guide -----------------------------------------------------------------------------
emulated_profile() {
    local banner="EMULATED: qemu-user aarch64 on an x86-64 host with shared cores. NOT Raspberry Pi figures."
    loud "$banner"
    start_emulator profile
    printf '%s\n' "/opt/mi-edge/venv/bin/mi-edge profile /var/lib/mi-edge/current.mibundle \\" \
        "    --board playback --file /var/lib/mi-edge/S007_R12.cyton.csv --out serial:/dev/mi-bridge \\" \
        "    --duration $PROFILE_SECONDS -o /home/pi/profile-emulated" > "$RUN_DIR/profile.sh"
    show "$RUN_DIR/profile.sh"
    local rc=0
    run_pi "$RUN_DIR/profile.sh" > >(tee "$RUN_DIR/profile.out") 2>&1 || rc=$?
    stop_emulators
    rm -rf "$RUN_DIR/profile-emulated"; cp -a "$ROOTFS/home/pi/profile-emulated" "$RUN_DIR/" 2>/dev/null || true
    echo "$banner" > "$RUN_DIR/profile-emulated/EMULATED.txt" 2>/dev/null || true
    loud "$banner"
    return "$rc"
}

summary() {
    local machine
    machine=$(as_pi '/opt/mi-edge/venv/bin/python -c "import platform; print(platform.machine(), platform.platform())"')
    say "summary"
    echo "wall time per step:"
    printf '  %s\n' "${STEPS[@]}"
    echo "  of which, per section of deploy/README.md:"
    local s; for s in "${SECTION_ORDER[@]}"; do
        printf '  %8.1f s    %s\n' "${SECTION_SECS[${SECTION_TITLE[$s]}]}" "${SECTION_TITLE[$s]}"
    done
    printf '  %8.1f s  total\n' "$(elapsed "$T_START")"
    echo "guide commands: $(awk -F'\t' '{c[$2]++} END {for (k in c) printf "%s %d, ", k, c[k]}' "$RUN_DIR/guide/plan.tsv" | sed 's/, $//')"
    echo "BrainFlow: ${BRAINFLOW_DESC:-cloned by the guide command}; build: $BRAINFLOW_BUILD"
    echo "the runtime's startup line (guide, section 8, the headset command on playback):"
    grep -m1 '^mi-edge: decoder' "$RUN_DIR/runtime_guide.log" | sed 's/^/  /' || true
    grep -m1 '^mi-edge: stopped' "$RUN_DIR/runtime_guide.log" | sed 's/^/  /' || true
    cat "$RUN_DIR/tally_guide.txt" "$RUN_DIR/tally_service.txt" | sed 's/^/  /'
    echo "platform.machine() in the chroot's venv python: $machine"
    echo "mi-edge profile report (EMULATED, not Pi figures): $RUN_DIR/profile-emulated/"
    echo "log: $EMU_DIR/emulate_pi.log"
}
