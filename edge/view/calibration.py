"""The live view as the cue and feedback screen of ``mi-edge calibrate ... --view [HOST:]PORT``.

The same page and server as ``mi-edge run --view`` (:mod:`edge.view`), in calibration mode:
instead of posteriors and decisions it shows the session's phase as it happens, large enough
to follow from a chair -- the fixation cross, the class cue (an arrow and the class name),
imagery, rest and the breaks between runs, with run and trial counters and a bar that fills
over each phase's duration -- beside the per-channel signal quality of the live view.

:class:`CalibrationView` is told by :class:`edge.calibrate.Session` (the session owns the
timing; the view only listens): :meth:`phase` at every phase change, :meth:`message` for what
the terminal also prints, :meth:`samples` with the EEG polled from the board. Events pushed
(Server-Sent Events): ``phase``, ``message``, ``quality``. Without ``--view`` the session has
no view and calls nothing; with a view and no browser connected, :meth:`samples` returns at
once and a phase change is one small dict.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from edge.cues import arrow_direction
from edge.quality import QualityConfig
from edge.view.quality import QualityFeed, open_server
from edge.view.server import EventHub

__all__ = ["CalibrationView", "PHASES"]

#: what the session reports, in the order a trial goes through them
PHASES = ("waiting", "fixation", "cue", "imagery", "rest", "break", "done", "interrupted")
MESSAGES_KEPT = 10


class CalibrationView:
    """The cue screen and signal quality of a calibration session, served at ``address``.

    Parameters
    ----------
    address : (str, int)
        Where to listen (port 0: a free one); bound and served at once, so the page can be
        opened before the first trial.
    channel_names : list of str
        Electrode of each EEG row given to :meth:`samples`.
    sfreq : float
    classes : list of str
    meta : dict, optional
        Shown in the page's header (subject, board).
    quality : QualityConfig, optional
        The signal thresholds (the runtime's defaults).
    """

    def __init__(self, address: tuple[str, int], channel_names: list[str], sfreq: float,
                 classes: list[str], meta: dict[str, object] | None = None,
                 quality: QualityConfig | None = None) -> None:
        self.channel_names = list(channel_names)
        self.sfreq = float(sfreq)
        self.classes = list(classes)
        self.meta = dict(meta or {})
        self.hub = EventHub()
        self.server = open_server(address, self.snapshot, self.hub)
        self.feed = QualityFeed(self.channel_names, self.sfreq, self.hub, quality)
        self.current: dict[str, object] = {"phase": "waiting"}
        self.messages: list[dict[str, object]] = []
        self.server.start()

    @property
    def url(self) -> str:
        return self.server.url

    def snapshot(self) -> dict[str, object]:
        """Everything the page shows, as JSON-able values."""
        return {"mode": "calibrate", "classes": self.classes, "channels": self.channel_names,
                "sfreq": self.sfreq, "meta": self.meta, "phase": self.current,
                "quality": self.feed.latest, "messages": list(self.messages)}

    def phase(self, name: str, **fields: Any) -> None:
        """The session entered phase ``name`` (:data:`PHASES`). ``fields``: ``run``, ``runs``,
        ``trial``, ``trials``, ``class``, ``duration_s`` (how long the phase lasts)..."""
        cls = fields.get("class")
        self.current = {"phase": name, "wall_time": round(time.time(), 3), **fields,
                        "arrow": arrow_direction(str(cls)) if cls else None}
        if self.hub:
            self.hub.publish("phase", self.current)

    def message(self, text: str) -> None:
        """A line the terminal also prints (a run saved, a break)."""
        msg = {"text": text, "wall_time": round(time.time(), 3)}
        self.messages = [*self.messages[-(MESSAGES_KEPT - 1):], msg]
        if self.hub:
            self.hub.publish("message", msg)

    def samples(self, data: np.ndarray, rows: list[int] | None = None,
                ts_row: int | None = None) -> None:
        """Samples just polled from the board, µV, shape (n_rows, n_samples): ``rows`` are the
        EEG channels' rows (default: every row), ``ts_row`` the timestamps' row. Nothing is
        copied while no browser is connected."""
        if not self.hub:
            return
        eeg = data if rows is None else data[rows]
        ts = data[ts_row] if ts_row is not None else np.zeros(data.shape[1])
        self.feed.push(eeg, ts, time.monotonic())

    def close(self) -> None:
        """Stop serving: every client gets the last phase, then its stream ends."""
        self.server.stop()
