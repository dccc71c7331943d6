"""Pseudo-online evaluation: a recording replayed through the runtime loop as fast as possible.

The recording is served in hop-sized chunks to the very loop that runs a live board (ring
buffer, window checks, decoder, decision layer), and the outputs are scored against the cues:

* **decision accuracy**: per cue, the first DECISION from a window that lies after the cue
  (window end >= ``cue + tmax``, minus half a hop) and ends before the next event is right or
  wrong; no decision counts as a miss (``decided`` is the share with one). Earlier windows
  are mostly pre-cue data: a binary decoder has no "rest" answer, so what it says there is not
  about the cue;
* **latency**: from the cue to that first decision (mean, median);
* **false decisions during rest**: DECISIONs from windows lying entirely in a rest period, per
  minute of such windows;
* **aligned-window accuracy**: the decoder's own argmax on the hop window that ends closest to
  ``cue + tmax`` (the window the decoder was trained and evaluated on, off by at most half a
  hop). This is the figure to compare with ``mi-export evaluate`` on the same trials.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.bundle import open_bundle
from edge.decision import DecisionOutput, DecisionState
from edge.decoders import load_decoder
from edge.loop import LoopConfig, Runtime
from edge.recording import ContinuousRecording, event_labels, load_continuous
from edge.run_state import RunState, Transition
from edge.sinks import NullSink, Sink
from edge.source import Chunk, SourceEnded

__all__ = ["RecordingSource", "replay"]


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


@dataclass
class _Record:
    t: float
    state: DecisionState
    class_index: int
    raw_argmax: int


class _CollectSink(NullSink):
    """Keeps every hop's output for scoring."""

    def __init__(self) -> None:
        self.records: list[_Record] = []
        self.faults: list[tuple[float, str]] = []

    def emit(self, out: DecisionOutput, info: dict[str, object]) -> None:
        raw = info.get("raw_proba")
        self.records.append(_Record(float(info["t"]), out.state, out.class_index,
                                    int(np.argmax(raw)) if raw is not None else -1))

    def on_transition(self, change: Transition) -> None:
        if change.new is RunState.FAULT and change.fault is not None:
            self.faults.append((change.t, change.fault.text))


def _score(records: list[_Record], rec: ContinuousRecording, classes: list[str], sfreq: float,
           tmin: float, tmax: float, hop_s: float) -> dict[str, object]:
    labels = event_labels(rec.event_names, rec.source)
    onsets = rec.events[:, 0] / rec.sfreq
    ends = np.append(onsets[1:], rec.raw.shape[1] / rec.sfreq)
    t = np.array([r.t for r in records])
    is_dec = np.array([r.state is DecisionState.DECISION for r in records])
    cls = np.array([r.class_index for r in records])
    raw = np.array([r.raw_argmax for r in records])
    correct = decided = aligned_ok = aligned_n = n_cues = 0
    latencies: list[float] = []
    rest_s = false_in_rest = 0.0
    for (onset, end), code in zip(zip(onsets, ends, strict=True), rec.events[:, 1], strict=True):
        label = labels.get(int(code))
        if label in classes:
            n_cues += 1
            truth = classes.index(label)
            inside = np.flatnonzero(is_dec & (t >= onset + tmax - hop_s / 2) & (t <= end))
            if inside.size:
                decided += 1
                correct += int(cls[inside[0]] == truth)
                latencies.append(float(t[inside[0]] - onset))
            if len(t):
                k = int(np.argmin(np.abs(t - (onset + tmax))))
                if abs(t[k] - (onset + tmax)) <= hop_s / 2 + 1e-9 and raw[k] >= 0:
                    aligned_n += 1
                    aligned_ok += int(raw[k] == truth)
        elif label == "rest":
            first = onset + (tmax - tmin)  # the first window that lies entirely in the rest
            rest_s += max(0.0, end - first)
            false_in_rest += int(np.sum(is_dec & (t >= first) & (t <= end)))
    return {
        "n_cues": n_cues,
        "decision_accuracy": correct / n_cues if n_cues else float("nan"),
        "decided": decided / n_cues if n_cues else float("nan"),
        "accuracy_of_decided": correct / decided if decided else float("nan"),
        "latency_s_mean": float(np.mean(latencies)) if latencies else float("nan"),
        "latency_s_median": float(np.median(latencies)) if latencies else float("nan"),
        "false_decisions_in_rest": int(false_in_rest),
        "false_decisions_per_min_rest": false_in_rest / (rest_s / 60.0) if rest_s else 0.0,
        "aligned_window_accuracy": aligned_ok / aligned_n if aligned_n else float("nan"),
        "aligned_windows": aligned_n,
        "decisions": int(is_dec.sum()),
        "hops": len(records),
    }


def replay(bundle_path: str | Path, recordings: list[str | Path],
           decoders: list[str] | None = None, config: LoopConfig | None = None,
           extra_sinks: list[Sink] | None = None) -> dict[str, dict[str, object]]:
    """Replay recordings through each decoder of a bundle and score the decisions.

    Returns decoder name -> metrics (pooled over the recordings) and per-recording metrics.
    """
    bundle = open_bundle(bundle_path)
    base = config or LoopConfig()
    cfg = LoopConfig(hop_s=base.hop_s, poll_s=0.0, realtime=False, stop_on_end=True,
                     decision=base.decision, quality=base.quality)
    results: dict[str, dict[str, object]] = {}
    for name in decoders or bundle.decoder_names:
        dec = load_decoder(bundle, name)
        window = bundle.decoder_spec(name)["window"]
        tmin, tmax = float(window["tmin"]), float(window["tmax"])
        per_file = []
        for path in recordings:
            rec = load_continuous(path)
            source = RecordingSource(rec, bundle.channels, bundle.sfreq,
                                     max(1, int(round(cfg.hop_s * bundle.sfreq))))
            collect = _CollectSink()
            runtime = Runtime(dec, bundle.channels, bundle.sfreq, source,
                              [collect, *(extra_sinks or [])], cfg)
            stats = runtime.run()
            scores = _score(collect.records, rec, bundle.classes, bundle.sfreq, tmin, tmax,
                            cfg.hop_s)
            scores["file"] = Path(path).name
            scores["decode_ms_median"] = stats.decode_s.median_ms() or float("nan")
            per_file.append(scores)
        pooled = _pool(per_file)
        results[name] = {"kind": dec.kind, **pooled, "recordings": per_file}
    return results


def _pool(per_file: list[dict[str, object]]) -> dict[str, object]:
    n = sum(int(f["n_cues"]) for f in per_file)
    aligned_n = sum(int(f["aligned_windows"]) for f in per_file)

    def wsum(key: str, weight: str) -> float:
        vals = [(float(f[key]), float(f[weight])) for f in per_file if f[weight]]
        total = sum(w for _, w in vals)
        return sum(v * w for v, w in vals if not np.isnan(v)) / total if total else float("nan")

    return {
        "n_cues": n,
        "decision_accuracy": wsum("decision_accuracy", "n_cues"),
        "decided": wsum("decided", "n_cues"),
        "latency_s_mean": wsum("latency_s_mean", "n_cues"),
        "false_decisions_per_min_rest": float(np.mean([f["false_decisions_per_min_rest"]
                                                       for f in per_file])),
        "aligned_window_accuracy": wsum("aligned_window_accuracy", "aligned_windows"),
        "aligned_windows": aligned_n,
        "decode_ms_median": float(np.median([f["decode_ms_median"] for f in per_file])),
    }
