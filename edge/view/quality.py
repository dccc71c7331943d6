"""What both pages (``run --view``, ``calibrate --view``) show about the electrodes: the last
second of signal, summarised per channel every :data:`QUALITY_EVERY_S`, pushed to the browser."""

from __future__ import annotations

import numpy as np

from edge.quality import QualityConfig
from edge.ringbuffer import RingBuffer
from edge.sinks import SinkError
from edge.view.server import EventHub, ViewServer

__all__ = ["QualityFeed", "channel_quality", "open_server", "QUALITY_EVERY_S"]

QUALITY_EVERY_S = 0.25


def channel_quality(window: np.ndarray, names: list[str],
                    cfg: QualityConfig) -> list[dict[str, object]]:
    """Per channel of ``window`` (n_channels, n_samples), µV: RMS about the mean,
    peak-to-peak and a status by :func:`edge.quality.check_window`'s thresholds."""
    out = []
    for name, x in zip(names, window, strict=True):
        if not np.isfinite(x).all():
            out.append({"channel": name, "status": "nan", "rms_uv": None, "ptp_uv": None})
            continue
        ptp = float(np.ptp(x)) if x.size else 0.0
        status = ("railed" if x.size and np.abs(x).max() >= cfg.railed_uv else
                  "flat" if ptp < cfg.flat_uv else "ok")
        out.append({"channel": name, "status": status, "rms_uv": round(float(np.std(x)), 2),
                    "ptp_uv": round(ptp, 2)})
    return out


def open_server(address: tuple[str, int], snapshot, hub: EventHub) -> ViewServer:
    """The page's HTTP server on ``address``; a port in use is a one-line SinkError."""
    try:
        return ViewServer(address, snapshot, hub)
    except OSError as exc:
        host, port = address
        raise SinkError(f"--view {host}:{port}: cannot listen ({exc}); pick another port "
                        "(0 picks a free one)") from exc


class QualityFeed:
    """Keeps the last second of each channel and publishes :func:`channel_quality` at most every
    :data:`QUALITY_EVERY_S` (clock of the caller); nothing is copied while nobody watches."""

    def __init__(self, channel_names: list[str], sfreq: float, hub: EventHub,
                 cfg: QualityConfig | None = None) -> None:
        self.channel_names = list(channel_names)
        self.cfg = cfg or QualityConfig()
        self.hub = hub
        self.latest: list[dict[str, object]] = []
        self._ring = RingBuffer(len(self.channel_names), max(1, int(round(sfreq))))
        self._window = np.zeros((len(self.channel_names), self._ring.capacity))
        self._at = 0.0

    def reset(self) -> None:
        self._ring.reset()

    def push(self, data: np.ndarray, timestamps: np.ndarray, now: float) -> None:
        """Samples (n_channels, n_samples) µV arrived at ``now`` (s)."""
        if not self.hub:
            return
        self._ring.push(data, timestamps)
        if now - self._at < QUALITY_EVERY_S or self._ring.filled == 0:
            return
        self._at = now
        n = self._ring.filled
        window = self._ring.latest(n, self._window[:, :n])
        self.latest = channel_quality(window, self.channel_names, self.cfg)
        self.hub.publish("quality", {"quality": self.latest})
