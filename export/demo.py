"""The README's main job, offline, on the real EEG bundled in the repository (``data/``).

1. train FGSFT and STFF-DA on runs 4 and 8 of eegmmidb subject S007, on the 8 sensorimotor
   electrodes a Cyton would carry, resampled to the Cyton's 250 Hz; export one bundle (binary
   left/right: no "I am not controlling" answer); and, from the continuous runs 4 and 8, a
   rest-aware FGSFT (a control-vs-rest gate trained on the rest periods, decision settings
   chosen on the training runs: ``--rest``) into a second bundle;
2. verify the bundles the way the device does, evaluate every binary decoder on the held-out
   run 12;
3. write run 12 as a BrainFlow playback file for a Cyton;
4. start a device emulator per decoder on a virtual serial port (``mi-bridge emulate``);
5. run ``mi-edge run`` against BrainFlow's playback board (master Cyton), decisions out over the
   serial port, the binary and the rest-aware decoder side by side; the emulators show them
   arriving;
6. summarise, before (binary) and after (rest-aware): the commands each device acted on during
   the cues and during rest (false commands per minute of rest), cue-locked accuracy and
   latency, decode time (:mod:`export.demo_live`).

Each step runs the real command-line tool in its own process and prints the command, so the
demo doubles as a tutorial.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from export.data import DataError
from export.demo_live import LiveRun, _say, _show, _tool, live_runs, print_summary, summarise

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "eegmmidb"
EPOCHS = DATA_DIR / "S007_imagery_left_right.npz"
HELD_OUT = DATA_DIR / "S007_R12_continuous.npz"
TRAIN_CONTINUOUS = (DATA_DIR / "S007_R04_continuous.npz", DATA_DIR / "S007_R08_continuous.npz")
CHANNELS = ["C3", "Cz", "C4", "FC3", "FC4", "CP3", "CP4", "C1"]  # one per Cyton input
TRAIN_RUNS = ("4", "8")
WINDOW = ("0.5", "2.5")
SFREQ = "250"


def _run(cmd: list[str], capture: bool = False) -> str:
    _say(f"   $ {_show(cmd)}")
    r = subprocess.run(cmd, text=True, stdout=subprocess.PIPE if capture else None)
    if r.returncode != 0:
        raise SystemExit(f"demo: step failed (exit {r.returncode}): {_show(cmd)}")
    return r.stdout or ""


def run_demo(workdir: Path, grid: str = "paper", jobs: int = 2, as_json: bool = False,
             speed: float = 2.0, stffda: bool = True, rest: bool = True,
             rest_grid: str = "fast") -> int:
    for f in (EPOCHS, HELD_OUT, *TRAIN_CONTINUOUS):
        if not f.exists():
            raise DataError(f"{f}: bundled recording missing; run the demo from a clone of the "
                            "repository")
    workdir.mkdir(parents=True, exist_ok=True)
    bundle = workdir / "S007_cyton.mibundle"
    rest_bundle = workdir / "S007_cyton_rest.mibundle"
    t0 = time.perf_counter()
    offline = _train_verify_evaluate(bundle, grid, jobs, stffda, rest_bundle if rest else None,
                                     rest_grid)

    _say(f"== 3/6 write held-out run 12 as a Cyton playback file (played at {speed:g}x)")
    playback = workdir / "S007_R12_cyton.csv"
    _run(_tool("export.cli", "playback", str(HELD_OUT), "--board", "cyton", "--channels",
               *CHANNELS, "--speed", f"{speed:g}", "-o", str(playback)))

    runs = [LiveRun("binary", bundle, workdir)]
    if rest:
        runs.append(LiveRun("rest-aware", rest_bundle, workdir))
    _say("== 4/6 start the device emulator on a virtual serial port"
         + (" (one per decoder: binary and rest-aware, side by side)" if rest else ""))
    _say("== 5/6 run the runtime against BrainFlow's playback board (master Cyton)")
    live_runs(runs, playback)

    _say("== 6/6 summary")
    summary = summarise(runs, HELD_OUT, offline)
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    if as_json:
        print(json.dumps(summary))
    else:
        print_summary(summary)
    return 0


def _fresh(bundle: Path) -> None:
    if (bundle / "manifest.json").exists():
        for member in bundle.iterdir():
            member.unlink()
        bundle.rmdir()


def _train_verify_evaluate(bundle: Path, grid: str, jobs: int, stffda: bool,
                           rest_bundle: Path | None, rest_grid: str) -> dict:
    """Steps 1-2: train into fresh bundles, check them as the device does, evaluate on run 12."""
    _fresh(bundle)
    common = [str(EPOCHS), "--runs", *TRAIN_RUNS, "--window", *WINDOW, "--channels", *CHANNELS,
              "--sfreq", SFREQ, "-o", str(bundle)]
    _say(f"== 1/6 train on real EEG (eegmmidb S007, runs {', '.join(TRAIN_RUNS)}; "
         f"{len(CHANNELS)} Cyton electrodes at {SFREQ} Hz) and export one bundle")
    # the "before": the binary decoder at the runtime's default decision settings (an
    # operating point needs continuous training runs; this is the epoch file)
    _run(_tool("export.cli", "fgsft", *common, "--grid", grid, "--jobs", str(jobs),
               "--no-operating-point"))
    if stffda:
        _run(_tool("export.cli", "stffda", *common))
    if rest_bundle is not None:
        _fresh(rest_bundle)
        _say(f"   the rest-aware (self-paced) decoder: a control-vs-rest gate trained on the rest "
             f"periods of the continuous runs {', '.join(TRAIN_RUNS)}, decision settings chosen "
             f"on those runs (each held out in turn); {rest_grid} grid")
        _run(_tool("export.cli", "fgsft", *map(str, TRAIN_CONTINUOUS), "--window", *WINDOW,
                   "--channels", *CHANNELS, "--sfreq", SFREQ, "--rest", "--grid", rest_grid,
                   "--jobs", str(jobs), "-o", str(rest_bundle)))

    _say("== 2/6 verify the bundles as the device does, evaluate on the held-out run 12")
    _run(_tool("edge.cli", "check", str(bundle)))
    if rest_bundle is not None:
        _run(_tool("edge.cli", "check", str(rest_bundle)))
    offline = json.loads(_run(_tool("export.cli", "evaluate", str(bundle), str(HELD_OUT),
                                    "--json"), capture=True))
    for name, r in offline.items():
        _say(f"   {name:<22} held-out accuracy {r['accuracy']:.3f} on {r['n_trials']} trials, "
             f"kappa {r['kappa']:.2f}")
    return offline
