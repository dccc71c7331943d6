"""The live view: ``mi-edge run ... --view [HOST:]PORT`` serves one page in the browser.

What the page shows, pushed as it happens (Server-Sent Events, :mod:`edge.view.server`):

* per-channel signal quality over the last second (RMS and peak-to-peak µV; ``ok``, ``flat``,
  ``railed`` or ``nan`` by the runtime's own thresholds, :mod:`edge.quality`);
* the smoothed class posteriors as bars, the raw ones beside them;
* the decision state: no decision, decision, fault (with its reason), stopped;
* the last commands sent to the device (decisions, FAULT, HELLO on recovery, STOP, and what the
  serial link did about a device that did not read);
* hop timing: decode time, interval between hops, sample age, frames written.

:class:`LiveView` is a sink (it hears every hop and state change, after the device's link) and
an observer (:mod:`edge.observers`: reads for signal quality, hops for timing). Off by default:
the runtime then has neither. On with no browser connected it keeps references to the newest
hop and nothing else; the per-channel quality is computed only while a client watches.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any

from edge.bundle import sha256_bytes
from edge.quality import QualityConfig
from edge.run_state import RunState, Session, Transition
from edge.serial_sink import SerialSink
from edge.view.quality import QualityFeed, channel_quality, open_server
from edge.view.server import EventHub

if TYPE_CHECKING:
    from edge.decision import DecisionOutput
    from edge.run_state import RunStateMachine
    from edge.source import Chunk

__all__ = ["LiveView", "open_view", "session_meta", "channel_quality"]

#: what the page calls each run state
STATE_LABELS = {RunState.STARTING: "starting", RunState.LINKED: "no decision",
                RunState.DECISION: "decision", RunState.FAULT: "fault",
                RunState.STOPPED: "stopped"}
COMMANDS_KEPT = 20


class LiveView:
    """Sink and observer behind the live view page.

    Parameters
    ----------
    address : (str, int)
        Where to listen (port 0: a free one); bound at once.
    channel_names : list of str
    sfreq : float
    meta : dict, optional
        Shown on the page (decoder, bundle hash).
    quality : QualityConfig, optional
        The runtime's signal thresholds.
    """

    window_samples = 0  # keeps its own second of signal; the runtime's ring is not resized

    def __init__(self, address: tuple[str, int], channel_names: list[str], sfreq: float,
                 meta: dict[str, object] | None = None,
                 quality: QualityConfig | None = None) -> None:
        self.channel_names = list(channel_names)
        self.sfreq = float(sfreq)
        self.meta = dict(meta or {})
        self.hub = EventHub()
        self.server = open_server(address, self.snapshot, self.hub)
        self.feed = QualityFeed(self.channel_names, self.sfreq, self.hub, quality)
        self.classes: list[str] = []
        self.state = RunState.STARTING
        self.fault: str | None = None
        self.t = 0.0
        self.hops = 0
        self._out: DecisionOutput | None = None
        self._info: dict[str, object] = {}
        self._timing: dict[str, object] = {}
        self._last_hop: float | None = None
        self.commands: deque[dict[str, object]] = deque(maxlen=COMMANDS_KEPT)
        self.frames_written = 0

    @property
    def url(self) -> str:
        return self.server.url

    # -- what the page gets ------------------------------------------------------------------

    def _hop_dict(self) -> dict[str, object] | None:
        out = self._out
        if out is None:
            return None
        k = out.class_index
        return {"t": self._info.get("t"), "state": out.state.value.lower(),
                "class": self.classes[k] if k >= 0 else None,
                "confidence": round(float(out.confidence), 4),
                "proba": [round(float(p), 4) for p in out.smoothed],
                "raw_proba": self._info.get("raw_proba"), "reason": out.reason}

    def _state_dict(self) -> dict[str, object]:
        return {"state": self.state.value, "label": STATE_LABELS[self.state],
                "fault": self.fault, "t": self.t}

    def snapshot(self) -> dict[str, object]:
        """Everything the page shows, as JSON-able values."""
        return {"classes": self.classes, "channels": self.channel_names, "sfreq": self.sfreq,
                "meta": self.meta, **self._state_dict(), "hop": self._hop_dict(),
                "timing": {**self._timing, "hops": self.hops,
                           "frames_written": self.frames_written},
                "quality": self.feed.latest, "commands": list(self.commands)}

    def _command(self, kind: str, **fields: object) -> None:
        cmd = {"kind": kind, "t": self.t, "wall_time": round(time.time(), 3), **fields}
        self.commands.append(cmd)
        if self.hub:
            self.hub.publish("command", cmd)

    # -- sink --------------------------------------------------------------------------------

    def start(self, session: Session, run: RunStateMachine) -> None:
        self.classes = list(session.classes)
        self.meta.setdefault("hop_s", round(1.0 / session.decision_rate_hz, 6))
        self.server.start()
        self._command("hello")

    def emit(self, out: DecisionOutput, info: dict[str, object]) -> None:
        self._out, self._info = out, info
        if out.state.value == "DECISION":
            self._command("decision", **{"class": self.classes[out.class_index],
                                         "confidence": round(float(out.confidence), 4)})

    def on_transition(self, change: Transition) -> None:
        self.state, self.t = change.new, change.t
        self.fault = change.fault.text if change.new is RunState.FAULT and change.fault else None
        if change.new is RunState.FAULT:
            assert change.fault is not None
            self._command("fault", reason=change.fault.reason.name.lower(),
                          detail=change.fault.text)
        elif change.new is RunState.LINKED and change.old is RunState.FAULT:
            self._command("hello", detail="recovered")
        elif change.new is RunState.STOPPED:
            self._command("stop")
        if self.hub:
            self.hub.publish("state", self._state_dict())
        if change.new is RunState.STOPPED:
            self.server.stop()

    def tick(self, now: float) -> None:
        pass

    # -- observer ----------------------------------------------------------------------------

    def on_read(self, chunk: Chunk, first_sample: int, t_begin: float, t_end: float) -> None:
        if chunk.lost_samples:
            self.feed.reset()
        self.feed.push(chunk.data, chunk.timestamps, t_end)

    def on_hop(self, ring: Any, out: DecisionOutput, t_decode: float, decode_s: float,
               t_decided: float) -> None:
        self.hops += 1
        if self.state is not RunState.FAULT:
            self.t = float(self._info.get("t", self.t))  # type: ignore[arg-type]
        if not self.hub:
            self._last_hop = t_decode
            return
        interval = None if self._last_hop is None else (t_decode - self._last_hop) * 1e3
        self._last_hop = t_decode
        self._timing = {"decode_ms": round(decode_s * 1e3, 3),
                        "hop_interval_ms": None if interval is None else round(interval, 2),
                        "sample_age_ms": self._info.get("sample_age_ms")}
        self.hub.publish("hop", {"hop": self._hop_dict(), **self._state_dict(),
                                 "timing": {**self._timing, "hops": self.hops,
                                            "frames_written": self.frames_written}})

    def on_write(self, t_begin: float, t_end: float) -> None:
        self.frames_written += 1

    def on_link(self, event: dict[str, object]) -> None:
        self._command("link", **{k: v for k, v in event.items() if k != "kind"})


def session_meta(bundle: Any, decoder: Any) -> dict[str, object]:
    """What identifies a run's model: the bundle's manifest hash (it pins every member) and
    the decoder's name."""
    return {"bundle_sha256": sha256_bytes(bundle.manifest_bytes), "decoder": decoder.name}


def open_view(address: tuple[str, int], bundle: Any, sinks: list[Any], config: Any,
              meta: dict[str, object] | None = None) -> LiveView:
    """The live view of a run of ``bundle`` at ``address`` (``config``: the run's
    :class:`edge.loop.LoopConfig`), told what the serial links among ``sinks`` write
    (:meth:`edge.serial_sink.SerialSink.subscribe`)."""
    view = LiveView(address, bundle.channels, bundle.sfreq, meta, config.quality)
    for serial in (s for s in sinks if isinstance(s, SerialSink)):
        serial.subscribe(view)
    return view
