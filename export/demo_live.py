"""Steps 4-6 of the demo (:mod:`export.demo`): live runs to the device emulator, and the tally.

Each decoder under test (the binary one, and the rest-aware one where the demo trained it) gets
its own device emulator on its own virtual serial port and its own ``mi-edge run`` against the
same BrainFlow playback file; they run side by side, so showing both costs no extra time. The
device's tally is what a wearer would live with: every command the device acted on (a DECISION
frame without HOLD, ``used``), paired in order with the decision the runtime logged for it, is
put in a cue window (cue onset to the end of its imagery + 1 s grace) or in rest.
"""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.recording import load_continuous
from edge.scoring import cue_windows, records_from_jsonl, score_decisions, score_selfpaced

__all__ = ["LiveRun", "live_runs", "summarise", "print_summary", "device_tally"]

GRACE_S = 1.0


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _tool(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def _show(cmd: list[str]) -> str:
    names = {"export.cli": "mi-export", "edge.cli": "mi-edge", "firmware_bridge.cli": "mi-bridge"}
    shown = [names.get(cmd[2], cmd[2]), *cmd[3:]] if cmd[1] == "-m" else cmd
    return " ".join(shlex.quote(c) for c in shown)


@dataclass
class LiveRun:
    """One decoder played live: its bundle, logs and processes."""

    tag: str
    bundle: Path
    workdir: Path
    decoder: str = "fgsft"
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def host_log(self) -> Path:
        return self.workdir / f"host_{self.tag}.jsonl"

    @property
    def device_log(self) -> Path:
        return self.workdir / f"device_{self.tag}.jsonl"


def _start_emulator(run: LiveRun) -> str:
    """A device emulator on a fresh pty; what it does is relayed to the terminal."""
    emu_cmd = _tool("firmware_bridge.cli", "emulate", "--json-log", str(run.device_log),
                    "--heartbeat-timeout-ms", "1000")
    _say(f"   $ {_show(emu_cmd)} &")
    emulator = subprocess.Popen(emu_cmd, stdout=subprocess.PIPE, text=True)
    run.procs.append(emulator)
    port = (emulator.stdout.readline() if emulator.stdout else "").strip()
    if not port.startswith("/"):
        emulator.kill()
        raise SystemExit(f"demo: the emulator did not open a port ({port!r})")
    _say(f"   [{run.tag}] emulator listening on {port}")

    def relay() -> None:  # show what the device sees, live
        assert emulator.stdout is not None
        for line in emulator.stdout:
            if "DECISION" in line and "HOLD" in line:
                continue  # one HOLD per hop: too chatty for the terminal
            _say(f"   [device {run.tag}] {line.rstrip()}")

    threading.Thread(target=relay, daemon=True).start()
    return port


def live_runs(runs: list[LiveRun], playback: Path) -> None:
    """Steps 4-5: an emulator and a ``mi-edge run`` per decoder, side by side, to the end of
    the playback file. The rest-aware bundle runs at its operating point (no decision flags)."""
    try:
        for run in runs:
            port = _start_emulator(run)
            cmd = _tool("edge.cli", "run", str(run.bundle), "--board", "playback", "--file",
                        str(playback), "--master-board", "cyton", "--decoder", run.decoder,
                        "--out", f"serial:{port}", "--out", f"jsonl:{run.host_log}")
            _say(f"   $ {_show(cmd)}" + (" &" if len(runs) > 1 else ""))
            run.procs.append(subprocess.Popen(cmd, text=True))
        failed = [r.tag for r in runs if r.procs[1].wait() != 0]
        if failed:
            raise SystemExit(f"demo: mi-edge run failed for {', '.join(failed)}")
    finally:
        time.sleep(0.5)
        for run in runs:
            for proc in reversed(run.procs):
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
                    try:
                        proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        proc.kill()


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip().endswith("}")]


def device_tally(device: list[dict], host: list[dict], held_out: Path,
                 commands: list[str]) -> dict[str, object]:
    """Commands the device acted on, during cues vs during rest (SPEC 3c's self-paced scores
    over the device's commands, timed by the runtime's log of the decisions it sent)."""
    acted = [r for r in device if r["event"] == "frame" and r["type"] == "DECISION"
             and not r["flags"] and r["outcome"] == "used"]
    sent = [h for h in host if h["type"] == "decision"]
    hops = [float(h["t"]) for h in host if h["type"] in ("decision", "no_decision")]
    n = min(len(acted), len(sent))
    t = np.array([float(h["t"]) for h in sent[:n]])
    cls = np.array([int(h["class_index"]) for h in sent[:n]], dtype=np.int64)
    rec = load_continuous(held_out)
    span = (hops[0], hops[-1]) if hops else (0.0, 0.0)
    cues = [c for c in cue_windows(rec, commands, GRACE_S) if c[0] < span[1]]  # cues played
    s = score_selfpaced(t, np.ones(n, dtype=bool), cls, cues, span)
    during_cues = sum(any(a <= x <= b for a, b, _ in cues) for x in t.tolist())
    return {"acted_on": len(acted), "sent": len(sent), "during_cues": during_cues,
            "during_rest": n - during_cues, "rest_min": s["rest_min"],
            "false_per_min_rest": s["false_per_min_rest"], "cues": s["n_cues"],
            "hits": s["hits"], "wrong": s["wrong"], "misses": s["misses"]}


def summarise(runs: list[LiveRun], held_out: Path, offline: dict[str, dict]
              ) -> dict[str, object]:
    """Step 6: per live run, the device's state and tally and the runtime's cue-locked scores."""
    from edge.bundle import open_bundle
    from edge.decoders import decoder_spec

    rec = load_continuous(held_out)
    out: dict[str, object] = {"offline": offline, "live": {}}
    for run in runs:
        b = open_bundle(run.bundle)
        spec = decoder_spec(b, run.decoder)
        host, dev = _lines(run.host_log), _lines(run.device_log)
        live = score_decisions(records_from_jsonl(host), rec, b.commands, spec.window.tmin,
                               spec.window.tmax, 0.125, GRACE_S)
        decode = sorted(float(h["decode_ms"]) for h in host if "decode_ms" in h)
        live["decode_ms_median"] = decode[len(decode) // 2] if decode else float("nan")
        states = [r for r in dev if r["event"] == "state"]
        point = spec.operating_point
        out["live"][run.tag] = {
            "bundle": str(run.bundle), "rest_class": b.rest_class,
            "decision_settings": "bundle operating point" if point else "runtime defaults",
            "runtime": live,
            "device": {"frames": sum(r["event"] == "frame" for r in dev),
                       "rejected": sum(r["event"] == "reject" for r in dev),
                       "gaps": sum(r["event"] == "gap" for r in dev),
                       "final_state": f"{states[-1]['state']} ({states[-1]['reason']})"
                       if states else "none",
                       **device_tally(dev, host, held_out, b.commands)},
            "logs": [str(run.host_log), str(run.device_log)]}
    return out


def print_summary(summary: dict) -> None:
    for tag, r in summary["live"].items():
        d, live = r["device"], r["runtime"]
        print(f"[{tag}] device: {d['acted_on']} commands acted on: {d['during_cues']} during "
              f"cues, {d['during_rest']} during rest ({d['false_per_min_rest']:.1f} per minute "
              f"of rest over {d['rest_min']:.1f} min); {d['hits']} of {d['cues']} cues hit, "
              f"{d['wrong']} wrong, {d['misses']} missed; {d['frames']} frames, "
              f"{d['rejected']} rejected, {d['gaps']} gaps, final state {d['final_state']}")
        print(f"[{tag}] runtime ({r['decision_settings']}): cue-locked decision accuracy "
              f"{live['decision_accuracy']:.3f} on {live['n_cues']} cues "
              f"({live['decided']:.0%} decided), latency from cue {live['latency_s_mean']:.2f} s,"
              f" aligned-window accuracy {live['aligned_window_accuracy']:.3f}, decode "
              f"{live['decode_ms_median']:.1f} ms median per window")
    for name, r in summary["offline"].items():
        print(f"offline {name}: accuracy {r['accuracy']:.3f}, kappa {r['kappa']:.2f}, ITR "
              f"{r['itr_bits_per_min']:.1f} bit/min")
    logs = [log for r in summary["live"].values() for log in r["logs"]]
    print(f"logs {', '.join(logs)}; {summary['seconds']:.0f} s")
