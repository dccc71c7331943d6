"""A Graz-style cued calibration session recorded through BrainFlow (``mi-edge calibrate``).

Each trial (Pfurtscheller & Neuper, "Motor imagery and direct brain-computer communication",
Proc. IEEE 89(7), 2001; the timing OpenViBE's and BCI2000's Graz scenarios use):

====== ======================================================================================
0 s    fixation cross and a warning tone
2 s    class cue (terminal banner and class sound); marker ``T<k+1> <class>`` at this sample
2-6 s  motor imagery
6 s    REST; marker ``T0 rest`` at this sample
       a random 1.5-3 s rest, then the next trial
====== ======================================================================================

Classes are balanced and shuffled within each run (``trials`` per class per run); runs are
separated by breaks. Every marker is written into the stream with BrainFlow's
``BoardShim.insert_marker`` at the moment the cue is shown, so it lands on the sample being
acquired then (how far that is from the cue is measured: ``marker_delay_s`` in the sidecar).
A run ends no sooner than 4 s after its last cue (the exporter's epochs reach 4 s).

With ``view_address`` (``--view [HOST:]PORT``) the live view is the cue screen as well
(:mod:`edge.view.calibration`): every phase (fixation, cue, imagery -- the cue's arrow stays
1.25 s, as in Graz, then imagery continues --, rest, break) is pushed to the page with its run
and trial counters, beside the per-channel signal quality of the polled EEG.

Each run is written, when it ends, as

* ``SUBJECT_Rnn.csv``: BrainFlow's own file (``DataFilter.write_file``, every board row), with
  the sidecar ``SUBJECT_Rnn.csv.json`` (board, electrode of each input, marker map, timing);
  ``mi-edge run --board playback --file`` replays it;
* ``SUBJECT_Rnn_continuous.npz``: the continuous recording every ``mi-export`` trainer reads
  (``raw`` µV of the montage's electrodes, ``events`` ``[sample, code]`` with 0 = T0 rest and
  k + 1 = class k, ``event_names``, ``event_durations_s``, ``ch_names``, ``sfreq``,
  ``subject``, ``run``).

Ctrl-C keeps every completed trial: the current run is cut after its last completed trial,
written, and the session stops.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from brainflow.board_shim import BoardShim, BrainFlowError
from brainflow.data_filter import DataFilter

from edge.boards import BoardConfig, board_label
from edge.cues import SoundCues, TerminalCues
from edge.errors import UsageError
from edge.source import SourceLost

__all__ = ["Paradigm", "RunResult", "Session", "schedule"]

log = logging.getLogger(__name__)

#: The exporter epochs from 0.5 s before to 4 s after each cue: runs cover that much.
EPOCH_START_S, EPOCH_END_S = 0.5, 4.0
#: How long the live view shows the cue's arrow before it shows imagery (Graz: 1.25 s).
CUE_SHOWN_S = 1.25


@dataclass(frozen=True)
class Paradigm:
    """Trial timing (s from the fixation) and session layout."""

    classes: tuple[str, ...] = ("left_hand", "right_hand")
    trials: int = 10
    runs: int = 3
    cue_s: float = 2.0
    imagery_end_s: float = 6.0
    rest_s: tuple[float, float] = (1.5, 3.0)
    break_s: float = 30.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise UsageError(f"--classes {' '.join(self.classes)}: give two or more distinct "
                             "class names")
        if self.trials < 1 or self.runs < 1:
            raise UsageError("--trials and --runs must be >= 1")
        if not 0 <= self.cue_s < self.imagery_end_s:
            raise UsageError(f"the cue ({self.cue_s:g} s) must come before the end of imagery "
                             f"({self.imagery_end_s:g} s)")
        if not 0 <= self.rest_s[0] <= self.rest_s[1]:
            raise UsageError(f"--rest {self.rest_s[0]:g} {self.rest_s[1]:g}: expected "
                             "0 <= MIN <= MAX")

    @property
    def event_names(self) -> list[str]:
        """Name of each event code: 0 = ``T0 rest``, k + 1 = ``T<k+1> <class k>``."""
        return ["T0 rest"] + [f"T{k + 1} {c}" for k, c in enumerate(self.classes)]


def schedule(paradigm: Paradigm, rng: np.random.Generator) -> list[list[int]]:
    """Class index of every trial of every run: ``trials`` of each class, shuffled per run."""
    out = []
    for _ in range(paradigm.runs):
        order = np.repeat(np.arange(len(paradigm.classes)), paradigm.trials)
        rng.shuffle(order)
        out.append([int(k) for k in order])
    return out


@dataclass
class RunResult:
    """What one run wrote."""

    run: int
    trials: int
    csv: Path
    npz: Path
    seconds: float
    marker_delay_s: list[float] = field(default_factory=list)
    interrupted: bool = False


class _Recorder:
    """The board through BrainFlow: every row, markers, polled into a list of chunks."""

    def __init__(self, config: BoardConfig):
        self.config = config
        self.board_id = config.data_board_id
        self.sfreq = float(BoardShim.get_sampling_rate(self.board_id))
        self.ts_row = BoardShim.get_timestamp_channel(self.board_id)
        self.marker_row = BoardShim.get_marker_channel(self.board_id)
        self.eeg_rows = BoardShim.get_eeg_channels(self.board_id)
        self.chunks: list[np.ndarray] = []
        self.on_data = None  # called with each polled chunk (every row) when a view listens
        self._board: BoardShim | None = None

    def start(self) -> None:
        cfg = self.config
        try:
            self._board = BoardShim(cfg.board_id, cfg.input_params())
            self._board.prepare_session()
            self._board.start_stream(int(cfg.buffer_size))
        except BrainFlowError as exc:
            self.stop()
            raise SourceLost(f"cannot start {cfg.label}: {exc}{cfg.connection_hint()}") from exc

    def poll(self) -> None:
        data = self._board.get_board_data()
        if data.shape[1]:
            self.chunks.append(data)
            if self.on_data is not None:
                self.on_data(data)

    def marker(self, value: float) -> None:
        self._board.insert_marker(float(value))

    def take(self) -> np.ndarray:
        """Every row of the samples polled since the last take."""
        self.poll()
        data = (np.concatenate(self.chunks, axis=1) if self.chunks
                else np.zeros((BoardShim.get_num_rows(self.board_id), 0)))
        self.chunks = []
        return data

    def stop(self) -> None:
        board, self._board = self._board, None
        if board is None:
            return
        for step in (board.stop_stream, board.release_session):
            try:
                step()
            except BrainFlowError as exc:
                log.debug("%s: %s", step.__name__, exc)


class Session:
    """One calibration session: runs of cued trials on a board, written as they end.

    Parameters
    ----------
    board : BoardConfig
    paradigm : Paradigm
    out_dir : Path
    subject : str
    first_run : int
        Number of the first run (files ``SUBJECT_Rnn``); runs already on disk are refused.
    sound : bool
        Play the cue sounds (``--no-sound``: headless, tests).
    view_address : (str, int), optional
        Serve the live view there as the cue screen (port 0: a free one; ``self.view.url``).
    screen, clock, sleep
        Injectable for tests: the terminal cues, ``time.time`` and ``time.sleep``.
    """

    def __init__(self, board: BoardConfig, paradigm: Paradigm, out_dir: Path, subject: str,
                 first_run: int = 1, sound: bool = True, screen: TerminalCues | None = None,
                 clock=time.time, sleep=time.sleep,
                 view_address: tuple[str, int] | None = None):
        self.board, self.paradigm = board, paradigm
        self.out_dir, self.subject, self.first_run = Path(out_dir), subject, first_run
        self.screen = screen or TerminalCues()
        self.sounds = SoundCues(list(paradigm.classes), enabled=sound,
                                stream=self.screen.stream)
        self.clock, self.sleep = clock, sleep
        montage = board.resolve_montage()
        self.inputs = [i for i, n in enumerate(montage.names) if n is not None]
        self.ch_names = [montage.names[i] for i in self.inputs]
        self.montage = montage
        self.results: list[RunResult] = []
        for r in range(first_run, first_run + paradigm.runs):
            if self._path(r, ".csv").exists() or self._path(r, "_continuous.npz").exists():
                raise UsageError(f"{self._path(r, '.csv')}: run {r} is already recorded; "
                                 f"number the new runs with --first-run {r + 1} or use "
                                 "another --out folder")
        self.view = None
        if view_address is not None:
            from edge.view.calibration import CalibrationView

            self.view = CalibrationView(
                view_address, self.ch_names,
                float(BoardShim.get_sampling_rate(board.data_board_id)), list(paradigm.classes),
                {"subject": subject, "board": board.label})

    def _phase(self, name: str, **fields: Any) -> None:
        if self.view is not None:
            self.view.phase(name, **fields)

    def _say(self, text: str) -> None:
        self.screen.message(text)
        if self.view is not None:
            self.view.message(text)

    def _path(self, run: int, suffix: str) -> Path:
        return self.out_dir / f"{self.subject}_R{run:02d}{suffix}"

    def _wait_until(self, rec: _Recorder, t: float) -> None:
        while (left := t - self.clock()) > 0:
            rec.poll()
            self.sleep(min(left, 0.02))

    def record(self) -> list[RunResult]:
        """Run the whole session; KeyboardInterrupt propagates after the partial run is saved."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(self.paradigm.seed)
        plan = schedule(self.paradigm, rng)
        rec = _Recorder(self.board)
        if self.view is not None:
            rec.on_data = partial(self.view.samples, rows=[rec.eeg_rows[i] for i in self.inputs],
                                  ts_row=rec.ts_row)
        finished = False
        try:
            rec.start()
            for k, order in enumerate(plan):
                if k:
                    self._break(rec, k + self.first_run)
                self.results.append(self._run(rec, self.first_run + k, order, rng))
            finished = True
        finally:
            rec.stop()
            self.sounds.close()
            if self.view is not None:
                self._phase("done" if finished else "interrupted",
                            runs_saved=[r.run for r in self.results])
                self.view.close()
        return self.results

    def _break(self, rec: _Recorder, next_run: int) -> None:
        self._say(f"break: run {next_run} starts in {self.paradigm.break_s:g} s")
        self._phase("break", next_run=next_run, duration_s=self.paradigm.break_s)
        self._wait_until(rec, self.clock() + self.paradigm.break_s)

    def _run(self, rec: _Recorder, run: int, order: list[int],
             rng: np.random.Generator) -> RunResult:
        p = self.paradigm
        rec.take()  # the break is not part of the run
        cues: list[tuple[float, int]] = []  # (wall time of insert_marker, code)
        done_at = None
        try:  # the first epoch starts EPOCH_START_S before the first cue: record that much
            self._wait_until(rec, self.clock() + max(0.0, EPOCH_START_S + 0.1 - p.cue_s))
            for i, k in enumerate(order):
                t0 = self.clock()
                at = {"run": run, "last_run": self.first_run + p.runs - 1, "trial": i + 1,
                      "trials": len(order)}
                self.screen.fixation(i + 1, len(order))
                self._phase("fixation", **at, duration_s=p.cue_s)
                self.sounds.play("warning")
                self._wait_until(rec, t0 + p.cue_s)
                self.screen.cue(p.classes[k])
                self._phase("cue", **at, **{"class": p.classes[k]},
                            duration_s=p.imagery_end_s - p.cue_s)
                self.sounds.play(p.classes[k])
                cues.append((self.clock(), k + 1))
                rec.marker(k + 2)  # marker = event code + 1
                if self.view is not None:  # the arrow for CUE_SHOWN_S, then imagery
                    shown = min(p.cue_s + CUE_SHOWN_S, p.imagery_end_s)
                    self._wait_until(rec, t0 + shown)
                    self._phase("imagery", **at, **{"class": p.classes[k]},
                                duration_s=p.imagery_end_s - shown)
                self._wait_until(rec, t0 + p.imagery_end_s)
                self.screen.rest()
                cues.append((self.clock(), 0))
                rec.marker(1)
                rest_s = rng.uniform(*p.rest_s)
                self._phase("rest", **at, duration_s=rest_s)
                self._wait_until(rec, self.clock() + rest_s)
                done_at = self.clock()
            self._wait_until(rec, cues[-2][0] + EPOCH_END_S + 0.25)
        except KeyboardInterrupt:
            partial = self._save(rec, run, cues, done_at, interrupted=True)
            if partial is not None:
                self.results.append(partial)
            raise
        result = self._save(rec, run, cues, self.clock(), interrupted=False)
        assert result is not None  # every trial of the run completed
        return result

    def _save(self, rec: _Recorder, run: int, cues: list[tuple[float, int]],
              until: float | None, interrupted: bool) -> RunResult | None:
        data = rec.take()
        ts = data[rec.ts_row]
        if until is None or not data.shape[1]:
            self._say(f"run {run}: no completed trial, nothing written")
            return None
        keep = int(np.searchsorted(ts, until, side="right"))
        data = np.ascontiguousarray(data[:, :keep])
        markers = data[rec.marker_row]
        onsets = np.flatnonzero(markers != 0)
        events = np.stack([onsets, np.rint(markers[onsets]).astype(np.int64) - 1], axis=1)
        delays = [float(ts[s] - t) for s, (t, _) in zip(onsets, cues, strict=False)]
        n_trials = int(np.sum(events[:, 1] > 0))
        csv, npz = self._path(run, ".csv"), self._path(run, "_continuous.npz")
        DataFilter.write_file(data, str(csv), "w")
        self._sidecar(csv, rec, run, n_trials, delays)
        p = self.paradigm
        durations = np.where(events[:, 1] > 0, p.imagery_end_s - p.cue_s, np.nan)
        np.savez_compressed(
            npz, raw=data[[rec.eeg_rows[i] for i in self.inputs]], events=events,
            event_names=np.array(p.event_names), event_durations_s=durations,
            ch_names=np.array(self.ch_names), sfreq=rec.sfreq, subject=self.subject, run=run)
        result = RunResult(run, n_trials, csv, npz, data.shape[1] / rec.sfreq, delays,
                           interrupted)
        self._say(f"run {run}: {n_trials} trials, {result.seconds:.0f} s -> {npz}")
        return result

    def _sidecar(self, csv: Path, rec: _Recorder, run: int, n_trials: int,
                 delays: list[float]) -> None:
        p = self.paradigm
        side: dict[str, Any] = {
            "format": "mi-edge-calibration", "board": board_label(rec.board_id),
            "board_id": rec.board_id, "sfreq": rec.sfreq,
            "channels": self.montage.to_list(), "eeg_rows": list(rec.eeg_rows),
            "marker_row": rec.marker_row,
            "marker_map": {str(c + 1): name for c, name in enumerate(p.event_names)},
            "marker_note": "marker = event code + 1 at the cue sample (0 = no marker)",
            "subject": self.subject, "run": run, "trials": n_trials,
            "paradigm": asdict(p),
            "marker_delay_s": {"max_abs": max((abs(d) for d in delays), default=None),
                               "values": [round(d, 4) for d in delays]},
        }
        Path(str(csv) + ".json").write_text(json.dumps(side, indent=2) + "\n")
