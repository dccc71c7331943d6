"""The README's main job, offline, on the real EEG bundled in the repository (``data/``).

1. train FGSFT and STFF-DA on runs 4 and 8 of eegmmidb subject S007, on the 8 sensorimotor
   electrodes a Cyton would carry, resampled to the Cyton's 250 Hz; export one bundle;
2. verify the bundle the way the device does, evaluate every decoder on the held-out run 12;
3. write run 12 as a BrainFlow playback file for a Cyton;
4. start the device emulator on a virtual serial port (``mi-bridge emulate``);
5. run ``mi-edge run`` against BrainFlow's playback board (master Cyton), decisions out over the
   serial port; the emulator shows them arriving;
6. summarise: decisions the device accepted, cue-locked accuracy and latency, decode time.

Each step runs the real command-line tool in its own process and prints the command, so the
demo doubles as a tutorial.
"""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from edge.recording import load_continuous
from edge.scoring import records_from_jsonl, score_decisions
from export.data import DataError

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "eegmmidb"
EPOCHS = DATA_DIR / "S007_imagery_left_right.npz"
HELD_OUT = DATA_DIR / "S007_R12_continuous.npz"
CHANNELS = ["C3", "Cz", "C4", "FC3", "FC4", "CP3", "CP4", "C1"]  # one per Cyton input
TRAIN_RUNS = ("4", "8")
WINDOW = ("0.5", "2.5")
SFREQ = "250"


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _tool(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def _show(cmd: list[str]) -> str:
    names = {"export.cli": "mi-export", "edge.cli": "mi-edge", "firmware_bridge.cli": "mi-bridge"}
    shown = [names.get(cmd[2], cmd[2]), *cmd[3:]] if cmd[1] == "-m" else cmd
    return " ".join(shlex.quote(c) for c in shown)


def _run(cmd: list[str], capture: bool = False) -> str:
    _say(f"   $ {_show(cmd)}")
    r = subprocess.run(cmd, text=True, stdout=subprocess.PIPE if capture else None)
    if r.returncode != 0:
        raise SystemExit(f"demo: step failed (exit {r.returncode}): {_show(cmd)}")
    return r.stdout or ""


def run_demo(workdir: Path, grid: str = "paper", jobs: int = 2, as_json: bool = False,
             speed: float = 2.0, stffda: bool = True) -> int:
    for f in (EPOCHS, HELD_OUT):
        if not f.exists():
            raise DataError(f"{f}: bundled recording missing; run the demo from a clone of the "
                            "repository")
    workdir.mkdir(parents=True, exist_ok=True)
    bundle = workdir / "S007_cyton.mibundle"
    t0 = time.perf_counter()
    offline = _train_verify_evaluate(bundle, grid, jobs, stffda)

    _say(f"== 3/6 write held-out run 12 as a Cyton playback file (played at {speed:g}x)")
    playback = workdir / "S007_R12_cyton.csv"
    _run(_tool("export.cli", "playback", str(HELD_OUT), "--board", "cyton", "--channels",
               *CHANNELS, "--speed", f"{speed:g}", "-o", str(playback)))

    _say("== 4/6 start the device emulator on a virtual serial port")
    device_log = workdir / "device.jsonl"
    emulator, port = _start_emulator(device_log)

    _say("== 5/6 run the runtime against BrainFlow's playback board (master Cyton)")
    host_log = workdir / "host.jsonl"
    run_cmd = _tool("edge.cli", "run", str(bundle), "--board", "playback", "--file",
                    str(playback), "--master-board", "cyton", "--decoder", "fgsft",
                    "--out", f"serial:{port}", "--out", f"jsonl:{host_log}")
    try:
        _run(run_cmd)
    finally:
        time.sleep(0.5)
        emulator.send_signal(signal.SIGINT)
        try:
            emulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            emulator.kill()

    _say("== 6/6 summary")
    summary = _summarise(bundle, host_log, device_log, offline)
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    if as_json:
        print(json.dumps(summary))
    else:
        _print_summary(summary)
    return 0


def _train_verify_evaluate(bundle: Path, grid: str, jobs: int, stffda: bool) -> dict:
    """Steps 1-2: train into a fresh bundle, check it as the device does, evaluate on run 12."""
    if (bundle / "manifest.json").exists():
        for member in bundle.iterdir():
            member.unlink()
        bundle.rmdir()
    common = [str(EPOCHS), "--runs", *TRAIN_RUNS, "--window", *WINDOW, "--channels", *CHANNELS,
              "--sfreq", SFREQ, "-o", str(bundle)]
    _say(f"== 1/6 train on real EEG (eegmmidb S007, runs {', '.join(TRAIN_RUNS)}; "
         f"{len(CHANNELS)} Cyton electrodes at {SFREQ} Hz) and export one bundle")
    _run(_tool("export.cli", "fgsft", *common, "--grid", grid, "--jobs", str(jobs)))
    if stffda:
        _run(_tool("export.cli", "stffda", *common))

    _say("== 2/6 verify the bundle as the device does, evaluate on the held-out run 12")
    _run(_tool("edge.cli", "check", str(bundle)))
    offline = json.loads(_run(_tool("export.cli", "evaluate", str(bundle), str(HELD_OUT),
                                    "--json"), capture=True))
    for name, r in offline.items():
        _say(f"   {name:<22} held-out accuracy {r['accuracy']:.3f} on {r['n_trials']} trials, "
             f"kappa {r['kappa']:.2f}")
    return offline


def _start_emulator(device_log: Path) -> tuple[subprocess.Popen, str]:
    """Step 4: the device emulator on a fresh pty; its output is relayed to the terminal."""
    emu_cmd = _tool("firmware_bridge.cli", "emulate", "--json-log", str(device_log),
                    "--heartbeat-timeout-ms", "1000")
    _say(f"   $ {_show(emu_cmd)} &")
    emulator = subprocess.Popen(emu_cmd, stdout=subprocess.PIPE, text=True)
    port = (emulator.stdout.readline() if emulator.stdout else "").strip()
    if not port.startswith("/"):
        emulator.kill()
        raise SystemExit(f"demo: the emulator did not open a port ({port!r})")
    _say(f"   emulator listening on {port}")

    def relay() -> None:  # show what the device sees, live
        assert emulator.stdout is not None
        for line in emulator.stdout:
            if "DECISION" in line and "HOLD" in line:
                continue  # one HOLD per hop: too chatty for the terminal
            _say(f"   [device] {line.rstrip()}")

    threading.Thread(target=relay, daemon=True).start()
    return emulator, port


def _print_summary(summary: dict) -> None:
    d, live, offline = summary["device"], summary["live"], summary["offline"]
    print(f"device: {d['frames']} frames, {d['decisions']} decisions acted on, "
          f"{d['rejected']} rejected, {d['gaps']} sequence gaps, final state "
          f"{d['final_state']}")
    print(f"live (fgsft on the playback board): cue-locked decision accuracy "
          f"{live['decision_accuracy']:.3f} on {live['n_cues']} cues "
          f"({live['decided']:.0%} decided), latency from cue {live['latency_s_mean']:.2f} s, "
          f"aligned-window accuracy {live['aligned_window_accuracy']:.3f}, decode "
          f"{live['decode_ms_median']:.1f} ms median per window")
    for name, r in offline.items():
        print(f"offline {name}: accuracy {r['accuracy']:.3f}, kappa {r['kappa']:.2f}, ITR "
              f"{r['itr_bits_per_min']:.1f} bit/min")
    print(f"bundle {summary['bundle']}; logs {summary['logs'][0]}, {summary['logs'][1]}; "
          f"{summary['seconds']:.0f} s")


def _summarise(bundle: Path, host_log: Path, device_log: Path,
               offline: dict[str, dict]) -> dict[str, object]:
    from edge.bundle import open_bundle
    from edge.decoders import decoder_spec

    b = open_bundle(bundle)
    window = decoder_spec(b, "fgsft").window
    host = [json.loads(x) for x in host_log.read_text().splitlines() if x.strip()]
    records = records_from_jsonl(host)
    rec = load_continuous(HELD_OUT)
    live = score_decisions(records, rec, b.classes, window.tmin, window.tmax, 0.125)
    decode = sorted(float(h["decode_ms"]) for h in host if "decode_ms" in h)
    live["decode_ms_median"] = decode[len(decode) // 2] if decode else float("nan")
    dev = [json.loads(x) for x in device_log.read_text().splitlines() if x.endswith("}")]
    frames = [r for r in dev if r["event"] == "frame"]
    states = [r for r in dev if r["event"] == "state"]
    device = {
        "frames": len(frames),
        "decisions": sum(r["event"] == "command" and r.get("command", -1) >= 0 for r in dev),
        "rejected": sum(r["event"] == "reject" for r in dev),
        "gaps": sum(r["event"] == "gap" for r in dev),
        "final_state": f"{states[-1]['state']} ({states[-1]['reason']})" if states else "none",
    }
    return {"bundle": str(bundle), "offline": offline, "live": live, "device": device,
            "logs": [str(host_log), str(device_log)]}
