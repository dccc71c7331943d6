"""Pseudo-online evaluation: a recording replayed through the runtime loop as fast as possible.

The recording is served in hop-sized chunks to the very loop that runs a live board (ring
buffer, window checks, decoder, decision layer); :mod:`edge.scoring` scores the outputs against
the cues.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.bundle import open_bundle
from edge.decision import DecisionOutput
from edge.decoders import decoder_spec, load_decoder
from edge.errors import InputError
from edge.loop import LoopConfig, Runtime
from edge.operating import RunTrace, sweep
from edge.recording import ContinuousRecording, event_labels, load_continuous
from edge.run_state import RunState, Transition
from edge.scoring import DecisionRecord, cue_windows, pool_scores, score_decisions
from edge.sinks import NullSink, Sink
from edge.source import Chunk, SourceEnded

__all__ = ["RecordingSource", "replay", "replay_traces"]


class RecordingSource:
    """Serves a recording in chunks, as a board would, but as fast as ``read`` is called.

    Markers carry ``code + 1`` at each event onset (0 means no marker).
    """

    def __init__(self, rec: ContinuousRecording, channels: list[str], sfreq: float,
                 chunk_samples: int):
        rec = rec.resampled(sfreq)
        self.sfreq = float(sfreq)
        self.channel_names = list(channels)
        self.data = rec.pick(channels)
        n = self.data.shape[1]
        self.timestamps = np.arange(n) / self.sfreq
        self.markers = np.zeros(n)
        onsets = rec.events[:, 0]
        ok = (onsets >= 0) & (onsets < n)
        self.markers[onsets[ok]] = rec.events[ok, 1] + 1
        self.chunk = int(chunk_samples)
        self.pos = 0

    def start(self) -> None:
        self.pos = 0

    def read(self) -> Chunk:
        if self.pos >= self.data.shape[1]:
            raise SourceEnded("end of the recording")
        sl = slice(self.pos, self.pos + self.chunk)
        self.pos += self.chunk
        return Chunk(self.data[:, sl], self.timestamps[sl], self.markers[sl])

    def poll_reconnect(self) -> bool:
        return True  # a recording never goes away

    def stop(self) -> None:
        pass


class _CollectSink(NullSink):
    """Keeps every hop's output for scoring."""

    def __init__(self) -> None:
        self.records: list[DecisionRecord] = []
        self.faults: list[tuple[float, str]] = []
        self.proba: list[list[float]] = []

    def emit(self, out: DecisionOutput, info: dict[str, object]) -> None:
        raw = info.get("raw_proba")
        if raw is not None:
            self.proba.append(list(raw))
        self.records.append(DecisionRecord(float(info["t"]), out.state, out.class_index,
                                    int(np.argmax(raw)) if raw is not None else -1))

    def on_transition(self, change: Transition) -> None:
        if change.new is RunState.FAULT and change.fault is not None:
            self.faults.append((change.t, change.fault.text))


def replay(bundle_path: str | Path, recordings: list[str | Path],
           decoders: list[str] | None = None, config: LoopConfig | None = None,
           extra_sinks: list[Sink] | None = None, grace_s: float = 1.0,
           event_map: dict[int, str] | None = None, curve: bool = True,
           ) -> dict[str, dict[str, object]]:
    """Replay recordings through each decoder of a bundle and score the decisions.

    Returns decoder name -> metrics pooled over the recordings (:mod:`edge.scoring`), the
    per-recording metrics, and (``curve``) the operating curve over threshold x dwell at the
    configured smoothing and refractory period (:func:`edge.operating.sweep`). ``event_map``
    (code -> class name) replaces eegmmidb-style event names.
    """
    bundle = open_bundle(bundle_path)
    base = config or LoopConfig()
    cfg = LoopConfig(hop_s=base.hop_s, poll_s=0.0, realtime=False, stop_on_end=True,
                     decision=base.decision, quality=base.quality,
                     adapt_horizon_s=base.adapt_horizon_s)
    names = decoders or bundle.decoder_names
    longest = max(decoder_spec(bundle, n).window.tmax - decoder_spec(bundle, n).window.tmin
                  for n in names)
    recs = [_replayable(load_continuous(path), bundle.commands, longest, event_map)
            for path in recordings]
    results: dict[str, dict[str, object]] = {}
    for name in names:
        results[name], _ = _replay_decoder(bundle, name, recordings, recs, cfg, extra_sinks,
                                           grace_s, event_map, curve)
    return results


def replay_traces(bundle_path: str | Path, name: str, recordings: list[str | Path],
                  hop_s: float = 0.125, grace_s: float = 1.0,
                  event_map: dict[int, str] | None = None,
                  adapt_horizon_s: float | None = None) -> list[RunTrace]:
    """Each recording's hop times and raw posteriors through the runtime loop, with its cue
    windows: what :func:`edge.operating.sweep` scores decision settings on."""
    bundle = open_bundle(bundle_path)
    window = decoder_spec(bundle, name).window
    recs = [_replayable(load_continuous(p), bundle.commands, window.tmax - window.tmin,
                        event_map) for p in recordings]
    cfg = LoopConfig(hop_s=hop_s, poll_s=0.0, realtime=False, stop_on_end=True,
                     adapt_horizon_s=adapt_horizon_s)
    return _replay_decoder(bundle, name, recordings, recs, cfg, None, grace_s, event_map,
                           False)[1]


def _replay_decoder(bundle, name: str, recordings, recs, cfg: LoopConfig, extra_sinks,
                    grace_s: float, event_map, curve: bool
                    ) -> tuple[dict[str, object], list[RunTrace]]:
    dec = load_decoder(bundle, name)
    window = decoder_spec(bundle, name).window
    per_file, traces = [], []
    for path, rec in zip(recordings, recs, strict=True):
        labels = event_map or event_labels(rec.event_names, rec.source)
        source = RecordingSource(rec, bundle.channels, bundle.sfreq,
                                 max(1, int(round(cfg.hop_s * bundle.sfreq))))
        collect = _CollectSink()
        runtime = Runtime(dec, bundle.channels, bundle.sfreq, source,
                          [collect, *(extra_sinks or [])], cfg, rest_class=bundle.rest_class)
        stats = runtime.run()
        scores = score_decisions(collect.records, rec, bundle.commands, window.tmin,
                                 window.tmax, cfg.hop_s, grace_s, labels)
        scores["file"] = Path(path).name
        scores["decode_ms_median"] = stats.decode_s.median_ms() or float("nan")
        per_file.append(scores)
        t = np.array([r.t for r in collect.records])
        if len(t):
            traces.append(RunTrace(t, np.array(collect.proba),
                                   cue_windows(rec, bundle.commands, grace_s, labels),
                                   (float(t[0]), float(t[-1]))))
    out = {"kind": dec.kind, "rest_class": bundle.rest_class,
           "decision": {"smoothing": cfg.decision.smoothing,
                        "threshold": cfg.decision.threshold, "dwell": cfg.decision.dwell,
                        "refractory_s": cfg.decision.refractory_s},
           **pool_scores(per_file), "recordings": per_file}
    if curve and traces:
        rest_index = len(bundle.classes) - 1 if bundle.rest_class else None
        out["operating_curve"] = sweep(traces, rest_index,
                                       refractories=(cfg.decision.refractory_s,),
                                       smoothings=(cfg.decision.smoothing,))
    return out, traces


def _replayable(rec: ContinuousRecording, classes: list[str], window_s: float,
                event_map: dict[int, str] | None = None) -> ContinuousRecording:
    """Refuse a recording that cannot be scored: shorter than a window, or no cue of a class
    the bundle decodes (nothing would be scored, silently)."""
    duration = rec.raw.shape[1] / rec.sfreq
    if duration < window_s:
        raise InputError(f"{rec.source}: {duration:.2f} s of data, shorter than the decoder's "
                         f"{window_s:g} s window; nothing can be decoded")
    labels = event_map or event_labels(rec.event_names, rec.source)
    cued = {labels.get(int(code)) for code in rec.events[:, 1]}
    if not cued & set(classes):
        found = ", ".join(sorted(str(c) for c in cued if c)) or "none"
        raise InputError(f"{rec.source}: no cue of the bundle's classes ({', '.join(classes)}); "
                         f"its events: {found}. Replay scores decisions against cues")
    return rec
