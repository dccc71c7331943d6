"""Scoring a replay as the device would act on it: decisions against the cues of a recording.

Each hop's outcome (:class:`DecisionRecord`) is scored against the cues of the recording.

Self-paced (asynchronous) control, SPEC 3c, what a device that acts on every command sees:

* per cue of a command class, the window from the cue to the end of its imagery period (the
  next event) plus ``grace_s``: the first command in it is a **hit** (the cued class) or
  **wrong**; none is a **miss**;
* **false commands per minute of rest**: commands outside every cue window, per minute of the
  decoded time outside them (pooled over runs as counts / minutes: one run holds under a
  minute of rest);
* **latency**: median time from the cue to a hit.

Cue-paced figures (a system that listens only after a cue):

* **decision accuracy**: per cue, the first DECISION from a window that lies after the cue
  (window end >= ``cue + tmax``, minus half a hop) and ends before the next event; ``decided``
  is the share with one; ``latency_s_mean`` from the cue to it;
* **aligned-window accuracy**: the decoder's own argmax on the hop window that ends closest to
  ``cue + tmax`` (the window the decoder was trained and evaluated on, off by at most half a
  hop). This is the figure to compare with ``mi-export evaluate`` on the same trials.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.decision import DecisionState
from edge.recording import ContinuousRecording, event_labels

__all__ = ["DecisionRecord", "cue_windows", "score_selfpaced", "score_decisions", "pool_scores",
           "records_from_jsonl"]


@dataclass
class DecisionRecord:
    """One hop's outcome as the device would see it: time (s, recording clock), state, the
    decided (or leading) class, and the decoder's raw argmax (-1 if unknown)."""

    t: float
    state: DecisionState
    class_index: int
    raw_argmax: int


def cue_windows(rec: ContinuousRecording, classes: list[str], grace_s: float,
                labels: dict[int, str] | None = None) -> list[tuple[float, float, int]]:
    """``(cue onset, end of its imagery + grace, class index)`` of every cue of a command class,
    s. The imagery period ends at the next event (the end of the recording for the last)."""
    labels = labels if labels is not None else event_labels(rec.event_names, rec.source)
    onsets = rec.events[:, 0] / rec.sfreq
    ends = np.append(onsets[1:], rec.raw.shape[1] / rec.sfreq)
    out = []
    for onset, end, code in zip(onsets, ends, rec.events[:, 1], strict=True):
        label = labels.get(int(code))
        if label in classes:
            out.append((float(onset), float(end) + grace_s, classes.index(label)))
    return out


def score_selfpaced(t: np.ndarray, decided: np.ndarray, cls: np.ndarray,
                    cues: list[tuple[float, float, int]], span: tuple[float, float]
                    ) -> dict[str, object]:
    """Self-paced scores of one run (SPEC 3c): per cue the first command in its window is a
    hit (the cued class) or wrong, none a miss; commands outside every cue window are false,
    per minute of rest (the time in ``span``, the decoded stretch, outside the cue windows)."""
    cmd_t, cmd_c = t[decided], cls[decided]
    hits = wrong = 0
    latencies: list[float] = []
    inside = np.zeros(len(cmd_t), dtype=bool)
    covered = 0.0
    for onset, end, truth in cues:
        here = (cmd_t >= onset) & (cmd_t <= end)
        inside |= here
        covered += max(0.0, min(end, span[1]) - max(onset, span[0]))
        if here.any():
            first = int(np.flatnonzero(here)[0])
            hits += int(cmd_c[first] == truth)
            wrong += int(cmd_c[first] != truth)
            if cmd_c[first] == truth:
                latencies.append(float(cmd_t[first] - onset))
    n = len(cues)
    rest_min = max(0.0, span[1] - span[0] - covered) / 60.0
    false = int((~inside).sum())
    return {
        "n_cues": n, "hits": hits, "wrong": wrong, "misses": n - hits - wrong,
        "hit_rate": hits / n if n else float("nan"),
        "wrong_rate": wrong / n if n else float("nan"),
        "false_commands": false, "rest_min": rest_min,
        "false_per_min_rest": false / rest_min if rest_min else float("nan"),
        "latency_s_median": float(np.median(latencies)) if latencies else float("nan"),
        "latencies_s": latencies,
    }


def score_decisions(records: list[DecisionRecord], rec: ContinuousRecording, classes: list[str],
                    tmin: float, tmax: float, hop_s: float, grace_s: float = 1.0,
                    labels: dict[int, str] | None = None) -> dict[str, object]:
    """Score one recording's hop outcomes against its cues (the metrics of the module doc).

    ``tmin``/``tmax``: the decoder's window relative to the cue at training time (s);
    ``classes``: the command classes (a rest class is never a cue).
    """
    labels = labels if labels is not None else event_labels(rec.event_names, rec.source)
    t = np.array([r.t for r in records])
    is_dec = np.array([r.state is DecisionState.DECISION for r in records], dtype=bool)
    cls = np.array([r.class_index for r in records])
    raw = np.array([r.raw_argmax for r in records])
    locked = _cue_locked(t, is_dec, cls, raw, rec, classes, tmax, hop_s, labels)
    span = (float(t[0]), float(t[-1])) if len(t) else (0.0, 0.0)
    sp = score_selfpaced(t, is_dec, cls, cue_windows(rec, classes, grace_s, labels), span)
    sp.pop("latencies_s")
    return {**sp, "grace_s": grace_s, **locked, "decisions": int(is_dec.sum()),
            "hops": len(records)}


def _cue_locked(t: np.ndarray, is_dec: np.ndarray, cls: np.ndarray, raw: np.ndarray,
                rec: ContinuousRecording, classes: list[str], tmax: float, hop_s: float,
                labels: dict[int, str]) -> dict[str, object]:
    """The cue-paced figures: the first decision from a window after the cue (``cue + tmax``
    minus half a hop) up to the next event, and the decoder's argmax on the aligned window."""
    correct = decided = aligned_ok = aligned_n = 0
    latencies: list[float] = []
    for onset, end, truth in cue_windows(rec, classes, 0.0, labels):
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
    n = len(cue_windows(rec, classes, 0.0, labels))
    return {
        "decision_accuracy": correct / n if n else float("nan"),
        "decided": decided / n if n else float("nan"),
        "latency_s_mean": float(np.mean(latencies)) if latencies else float("nan"),
        "aligned_window_accuracy": aligned_ok / aligned_n if aligned_n else float("nan"),
        "aligned_windows": aligned_n,
    }


def pool_scores(per_file: list[dict[str, object]]) -> dict[str, object]:
    """Pool per-recording scores: counts summed, so rates are over all cues and all rest
    minutes (one run holds under a minute of rest); latency is the cue-weighted median."""
    def total(key: str) -> float:
        return float(sum(float(f[key]) for f in per_file))

    n, rest_min = int(total("n_cues")), total("rest_min")
    aligned_n = int(total("aligned_windows"))
    aligned_ok = sum(float(f["aligned_window_accuracy"]) * int(f["aligned_windows"])
                     for f in per_file if f["aligned_windows"])
    lat = [float(f["latency_s_median"]) for f in per_file
           if not np.isnan(float(f["latency_s_median"]))]
    out = {"n_cues": n, "hits": int(total("hits")), "wrong": int(total("wrong")),
           "misses": int(total("misses")), "false_commands": int(total("false_commands")),
           "rest_min": rest_min, "decisions": int(total("decisions"))}
    out.update({
        "hit_rate": out["hits"] / n if n else float("nan"),
        "wrong_rate": out["wrong"] / n if n else float("nan"),
        "false_per_min_rest": out["false_commands"] / rest_min if rest_min else float("nan"),
        "latency_s_median": float(np.median(lat)) if lat else float("nan"),
        "aligned_window_accuracy": aligned_ok / aligned_n if aligned_n else float("nan"),
        "aligned_windows": aligned_n,
        "decode_ms_median": float(np.median([f["decode_ms_median"] for f in per_file])),
    })
    def wmean(key: str) -> float:
        vals = [(float(f[key]), int(f["n_cues"])) for f in per_file
                if not np.isnan(float(f[key]))]
        return sum(v * w for v, w in vals) / sum(w for _, w in vals) if vals else float("nan")

    out.update({k: wmean(k) for k in ("decision_accuracy", "decided", "latency_s_mean")})
    return out


def records_from_jsonl(lines: list[dict]) -> list[DecisionRecord]:
    """Hop outcomes from the lines a ``jsonl:`` sink wrote (decision and no_decision lines)."""
    return [DecisionRecord(float(h["t"]), DecisionState(h["type"].upper()), int(h["class_index"]),
                           int(np.argmax(h["raw_proba"])) if h.get("raw_proba") else -1)
            for h in lines if h["type"] in ("decision", "no_decision")]
