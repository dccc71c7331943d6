"""Continuous recordings (``*_continuous.npz``) for replay, shared with the exporter.

One reader for both sides: the exporter epochs these files for training, the runtime replays
them through the same loop that serves a live board.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from edge.errors import InputError

__all__ = ["ContinuousRecording", "load_continuous", "resample", "event_labels",
           "parse_event_map"]

CONTINUOUS_KEYS = ("raw", "events", "ch_names", "sfreq")


@dataclass
class ContinuousRecording:
    """A whole run as recorded, with its cue events.

    Attributes
    ----------
    raw : ndarray, shape (n_channels, n_samples)
        EEG in µV, float64.
    events : ndarray of int, shape (n_events, 2)
        ``[onset_sample, code]``; ``onset_sample`` indexes ``raw`` columns.
    event_names : list of str
    ch_names : list of str
    sfreq : float
    subject : str
    run : int
    source : Path
    """

    raw: np.ndarray
    events: np.ndarray
    event_names: list[str]
    ch_names: list[str]
    sfreq: float
    subject: str
    run: int
    source: Path

    def pick(self, channels: list[str]) -> np.ndarray:
        """Rows of ``channels`` (case-insensitive names), in that order; error names the missing."""
        lookup = {n.lower(): i for i, n in enumerate(self.ch_names)}
        missing = [c for c in channels if c.lower() not in lookup]
        if missing:
            raise InputError(f"{self.source}: channel(s) {', '.join(missing)} not in the "
                             f"recording; it has {', '.join(self.ch_names)}")
        return self.raw[[lookup[c.lower()] for c in channels]]

    def resampled(self, sfreq: float) -> ContinuousRecording:
        """The recording at another rate (polyphase), event onsets scaled."""
        if np.isclose(sfreq, self.sfreq):
            return self
        raw, _ = resample(self.raw, self.sfreq, sfreq)
        events = self.events.copy()
        events[:, 0] = np.round(events[:, 0] * sfreq / self.sfreq).astype(np.int64)
        return ContinuousRecording(raw, events, self.event_names, self.ch_names, float(sfreq),
                                   self.subject, self.run, self.source)


def resample(x: np.ndarray, sfreq: float, target: float | None) -> tuple[np.ndarray, float]:
    """Polyphase resampling along the last axis (anti-aliased by scipy)."""
    if target is None or np.isclose(sfreq, target):
        return x, sfreq
    ratio = Fraction(target / sfreq).limit_denominator(1000)
    from scipy.signal import resample_poly  # here: the runtime never resamples

    y = resample_poly(x, ratio.numerator, ratio.denominator, axis=-1)
    return y, float(target)


def load_continuous(path: str | Path, board: str | int | None = None) -> ContinuousRecording:
    """Read a continuous recording: ``*_continuous.npz`` (pickle refused), a BrainFlow file or
    an OpenBCI GUI text recording (:mod:`edge.recording_formats`; ``board``: the BrainFlow
    board that wrote a BrainFlow file, default from its sidecar or its shape)."""
    from edge import recording_formats as formats

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    kind = formats.sniff(path)
    if kind == "unknown":
        raise InputError(f"{path}: not a recording this reads; accepted: {formats.ACCEPTED}")
    if kind != "npz":
        reader = formats.read_brainflow_file if kind == "brainflow" else formats.read_openbci_txt
        return _checked(path, reader(path, board))
    try:
        with np.load(path, allow_pickle=False) as npz:
            d = {k: npz[k] for k in npz.files}
    except Exception as exc:
        raise InputError(f"{path}: not a readable npz file ({exc})") from exc
    missing = [k for k in CONTINUOUS_KEYS if k not in d]
    if missing:
        raise InputError(f"{path}: missing key(s) {', '.join(missing)}; a continuous recording "
                         f"needs {list(CONTINUOUS_KEYS)}")
    return _checked(path, d)


def _checked(path: Path, d: dict) -> ContinuousRecording:
    """A ContinuousRecording of the fields ``d`` read from ``path``, shapes checked."""
    raw = np.asarray(d["raw"], dtype=np.float64)
    events = np.asarray(d["events"], dtype=np.int64)
    if raw.ndim != 2 or events.ndim != 2 or events.shape[1] != 2:
        raise InputError(f"{path}: raw must be (channels, samples) and events (n, 2)")
    ch_names = [str(c) for c in d["ch_names"]]
    if len(ch_names) != raw.shape[0]:
        raise InputError(f"{path}: {len(ch_names)} channel names for {raw.shape[0]} rows")
    return ContinuousRecording(
        raw=raw,
        events=events,
        event_names=[str(e) for e in np.atleast_1d(d.get("event_names", np.array([])))],
        ch_names=ch_names,
        sfreq=float(d["sfreq"]),
        subject=str(d.get("subject", path.stem)),
        run=int(d.get("run", 0)),
        source=path,
    )


_TCODE = re.compile(r"^T(\d+)\s+(\S+)$")


def event_labels(event_names: list[str], source: Path | str = "recording") -> dict[int, str]:
    """Event code -> label from eegmmidb-style names (``'T1 left_hand'``, the code is the index).

    Raises InputError when the names do not follow that pattern (give the map explicitly).
    """
    out: dict[int, str] = {}
    for code, text in enumerate(event_names):
        m = _TCODE.match(text.strip())
        if m is None:
            raise InputError(
                f"{source}: cannot infer the cue classes from event names {event_names!r}; "
                "give them explicitly, e.g. --events 769=left_hand,770=right_hand"
            )
        out[code] = m.group(2)
    return out


def parse_event_map(spec: str | None) -> dict[int, str] | None:
    """``"769=left_hand,770=right_hand"`` -> ``{769: "left_hand", 770: "right_hand"}``."""
    if not spec:
        return None
    out: dict[int, str] = {}
    for part in spec.split(","):
        code, sep, name = part.partition("=")
        if not sep or not code.strip().lstrip("-").isdigit() or not name.strip():
            raise InputError(f"event map {spec!r}: expected CODE=NAME[,CODE=NAME...]")
        out[int(code)] = name.strip()
    return out
