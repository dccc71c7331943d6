"""Scoring a replay as the device would act on it: decisions against the cues of a recording.

Each hop's outcome (:class:`DecisionRecord`) is scored against the cues of the recording:

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

import numpy as np

from edge.decision import DecisionState
from edge.recording import ContinuousRecording, event_labels

__all__ = ["DecisionRecord", "score_decisions", "pool_scores", "records_from_jsonl"]


@dataclass
class DecisionRecord:
    """One hop's outcome as the device would see it: time (s, recording clock), state, the
    decided (or leading) class, and the decoder's raw argmax (-1 if unknown)."""

    t: float
    state: DecisionState
    class_index: int
    raw_argmax: int


def score_decisions(records: list[DecisionRecord], rec: ContinuousRecording, classes: list[str],
                    tmin: float, tmax: float, hop_s: float) -> dict[str, object]:
    """Score one recording's hop outcomes against its cues (the metrics of the module doc).

    ``tmin``/``tmax``: the decoder's window relative to the cue at training time (s).
    """
    labels = event_labels(rec.event_names, rec.source)
    onsets = rec.events[:, 0] / rec.sfreq
    ends = np.append(onsets[1:], rec.raw.shape[1] / rec.sfreq)
    t = np.array([r.t for r in records])
    is_dec = np.array([r.state is DecisionState.DECISION for r in records], dtype=bool)
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



def pool_scores(per_file: list[dict[str, object]]) -> dict[str, object]:
    """Pool per-recording scores (cue-weighted means; rest rate averaged over recordings)."""
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


def records_from_jsonl(lines: list[dict]) -> list[DecisionRecord]:
    """Hop outcomes from the lines a ``jsonl:`` sink wrote (decision and no_decision lines)."""
    return [DecisionRecord(float(h["t"]), DecisionState(h["type"].upper()), int(h["class_index"]),
                           int(np.argmax(h["raw_proba"])) if h.get("raw_proba") else -1)
            for h in lines if h["type"] in ("decision", "no_decision")]
