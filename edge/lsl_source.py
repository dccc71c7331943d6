"""An LSL EEG stream as a :class:`edge.source.Source`: ``mi-edge run --board lsl:STREAM``.

The stream is found by name on the local network (``pylsl.resolve_byprop``); its channels are
matched to the bundle's by the labels in its meta-data (``desc/channels/channel/label``, the
XDF convention OpenBCI GUI and most LSL apps follow), case-insensitively as a montage is, and
``--montage`` names them when the stream does not. The stream's nominal rate must be the
bundle's (no resampling here). Samples are µV; channels whose ``unit`` says volts or millivolts
are scaled to µV.

Timestamps: LSL's clock (``local_clock``, corrected for the sender's clock offset) converted to
Unix seconds at start, so the loop reports the sample age as it does for BrainFlow.

Faults, as for BrainFlow:

* gaps: LSL carries no package counter, so lost samples are read off the timestamps: a step
  longer than one sample period plus ``jitter_s`` counts ``round(step * sfreq) - 1`` samples
  lost (``Chunk.lost_samples``), and the loop restarts its window;
* stall: no new sample for ``stall_timeout_s`` (``startup_timeout_s`` before the first)
  raises :class:`SourceStalled`; :meth:`LslSource.poll_reconnect` returns True as soon as
  samples flow again;
* the sender vanished (liblsl's ``LostError``) raises :class:`SourceLost`; the source then looks
  for the stream by name again, with back-off, until it is back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from edge.backoff import Backoff
from edge.errors import InputError
from edge.lsl import channel_labels, channel_units, import_pylsl, lsl_errors
from edge.montage import Montage, MontageError, parse_montage
from edge.source import Chunk, SourceError, SourceLost, SourceStalled

__all__ = ["LslSource", "LslStreamError"]

log = logging.getLogger(__name__)

_TO_UV = {"v": 1e6, "volt": 1e6, "volts": 1e6, "mv": 1e3, "millivolt": 1e3,
          "millivolts": 1e3}


class LslStreamError(InputError):
    """The LSL stream does not fit the bundle (rate, channels, format)."""


class LslSource:
    """The samples of an LSL stream, the bundle's channels in the bundle's order.

    Parameters
    ----------
    stream : str
        The stream's name (``StreamInfo.name()``), as in ``--board lsl:NAME``.
    channel_names : sequence of str, length n_channels
        The bundle's channels.
    sfreq : float
        The bundle's rate; the stream's nominal rate must match.
    montage : str or sequence, optional
        Channel labels of the stream, in order, where its meta-data has none (or to override).
    stall_timeout_s, startup_timeout_s : float
        No new sample for this long (before the first sample: ``startup_timeout_s``) is a stall.
    resolve_timeout_s : float
        How long :meth:`start` looks for the stream on the network.
    jitter_s : float
        Timestamp jitter tolerated before a step counts as lost samples.
    clock : callable
        Monotonic time, s (the stall watchdog).
    """

    def __init__(self, stream: str, channel_names: Sequence[str], sfreq: float, *,
                 montage: str | Sequence[str | None] | None = None,
                 stall_timeout_s: float = 1.0, startup_timeout_s: float = 5.0,
                 resolve_timeout_s: float = 5.0, jitter_s: float = 0.02,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.pylsl = import_pylsl()
        self._lost_error, self._timeout_error = lsl_errors()
        self.stream = stream
        self.channel_names = list(channel_names)
        self.sfreq = float(sfreq)
        self.montage = montage
        self.stall_timeout_s = stall_timeout_s
        self.startup_timeout_s = startup_timeout_s
        self.resolve_timeout_s = resolve_timeout_s
        self.jitter_s = jitter_s
        self._clock = clock
        self._inlet: Any = None
        self.rows: list[int] = []
        self.scale = np.ones(len(self.channel_names))
        self._last_ts: float | None = None
        self._last_data = 0.0
        self._to_unix = 0.0
        self._backoff = Backoff(0.5, 4.0)
        self.total_samples = 0
        self.total_lost = 0

    @property
    def label(self) -> str:
        return f"LSL stream {self.stream!r}"

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Find the stream, check it against the bundle and open an inlet.

        Raises
        ------
        SourceLost
            No stream of that name is visible.
        LslStreamError
            Its rate, channels or format cannot feed the bundle (exit code 4).
        """
        if self._inlet is None:
            self._open(self.resolve_timeout_s, list_visible=True)

    def _open(self, timeout: float, list_visible: bool = False) -> None:
        pylsl = self.pylsl
        found = pylsl.resolve_byprop("name", self.stream, 1, timeout)
        if not found:
            seen = (sorted({f"{s.name()} ({s.type()})" for s in pylsl.resolve_streams(0.5)})
                    if list_visible else [])
            raise SourceLost(f"{self.label}: not found on the network within {timeout:g} s"
                             + (f" (visible: {', '.join(seen) or 'none'}); check the sender "
                                "runs and that multicast reaches this machine"
                                if list_visible else ""))
        inlet = pylsl.StreamInlet(found[0], max_buflen=60, recover=False,
                                  processing_flags=pylsl.proc_clocksync)
        try:
            self._configure(inlet.info(timeout=timeout))
            inlet.open_stream(timeout=timeout)
        except self._timeout_error as exc:
            raise SourceLost(f"{self.label}: found but not answering ({exc})") from exc
        self._inlet = inlet
        self._to_unix = time.time() - pylsl.local_clock()
        self._last_ts = None
        self._last_data = self._clock()
        self.total_samples = 0
        log.info("streaming from %s: stream channels %s at %g Hz", self.label, self.rows,
                 self.sfreq)

    def _configure(self, info: Any) -> None:
        """Check the rate and format, map the bundle's channels onto the stream's."""
        rate = float(info.nominal_srate())
        if not np.isclose(rate, self.sfreq):
            what = "an irregular rate" if rate == 0 else f"{rate:g} Hz"
            raise LslStreamError(
                f"{self.label} samples at {what} but the bundle was trained at {self.sfreq:g} "
                f"Hz; the runtime does not resample: stream at {self.sfreq:g} Hz or export the "
                f"bundle at the stream's rate (mi-export ... --sfreq {rate:g})")
        if info.channel_format() == self.pylsl.cf_string:
            raise LslStreamError(f"{self.label} carries strings (a marker stream?), not EEG")
        n = int(info.channel_count())
        if self.montage is not None:
            montage = parse_montage(self.montage, "--montage")
        else:
            labels = channel_labels(info)
            if not any(labels):
                raise LslStreamError(
                    f"{self.label} ({n} channels) names none of its channels in its meta-data "
                    "(desc/channels/channel/label); give them with --montage NAME,NAME,... in "
                    "stream order")
            montage = Montage(tuple(labels), f"channel labels of {self.label}")
        montage.check_inputs(n, self.label)
        try:
            self.rows = montage.indices(self.channel_names)
        except MontageError as exc:
            raise MontageError(f"{self.label}: {exc}") from None
        units = channel_units(info) if self.montage is None else []
        self.scale = np.array([_TO_UV.get(units[r].lower(), 1.0) if r < len(units) else 1.0
                               for r in self.rows])

    def stop(self) -> None:
        """Close the inlet; safe to call twice."""
        inlet, self._inlet = self._inlet, None
        if inlet is not None:
            try:
                inlet.close_stream()
            except Exception as exc:  # noqa: BLE001 - already gone
                log.debug("close_stream: %s", exc)

    # -- data ---------------------------------------------------------------------------------

    def read(self) -> Chunk:
        """The samples that arrived since the last read (possibly none); never waits."""
        inlet = self._inlet
        if inlet is None:
            raise SourceError(f"{self.label}: read() before start()")
        try:
            samples, stamps = inlet.pull_chunk(timeout=0.0, max_samples=8192)
        except self._lost_error as exc:
            self.stop()
            raise SourceLost(f"{self.label}: the sender went away ({exc})") from exc
        now = self._clock()
        if not stamps:
            self._check_idle(now)
            return Chunk(data=np.zeros((len(self.rows), 0)), timestamps=np.zeros(0),
                         markers=np.zeros(0))
        self._last_data = now
        ts = np.asarray(stamps, dtype=np.float64)
        data = np.asarray(samples, dtype=np.float64).T[self.rows] * self.scale[:, None]
        lost = self._lost(ts)
        if lost:
            log.warning("%s: %d sample(s) lost (timestamp gap)", self.label, lost)
        self._last_ts = float(ts[-1])
        self.total_samples += len(ts)
        self.total_lost += lost
        return Chunk(data=np.ascontiguousarray(data), timestamps=ts + self._to_unix,
                     markers=np.zeros(len(ts)), lost_samples=lost)

    def _lost(self, ts: np.ndarray) -> int:
        """Samples missing between consecutive timestamps (module doc)."""
        steps = np.diff(ts) if self._last_ts is None else np.diff(ts, prepend=self._last_ts)
        late = steps > 1.0 / self.sfreq + self.jitter_s
        if not late.any():
            return 0
        return int(np.maximum(np.round(steps[late] * self.sfreq) - 1, 0).sum())

    def _check_idle(self, now: float) -> None:
        limit = self.stall_timeout_s if self.total_samples else self.startup_timeout_s
        if now - self._last_data <= limit:
            return
        if self.total_samples == 0:
            raise SourceStalled(f"{self.label}: no sample within {limit:g} s of start "
                                "(startup timeout); is the sender streaming?")
        raise SourceStalled(f"{self.label}: no new sample for over {limit:g} s (stall "
                            f"timeout) after {self.total_samples} samples")

    # -- recovery -----------------------------------------------------------------------------

    def poll_reconnect(self) -> bool:
        """One non-blocking step back after a stall or a lost sender: True once samples flow.

        A stalled inlet is kept and asked whether samples are waiting; a lost one is replaced
        by looking for the stream by name again, no more often than the back-off allows.
        """
        now = self._clock()
        if self._inlet is not None:
            try:
                waiting = self._inlet.samples_available()
            except self._lost_error:
                waiting = 0
                self.stop()
            if waiting:
                self._last_data = now
                return True
            if self._inlet is not None:
                return False
        if not self._backoff.pending:
            self._backoff.failed(now)
            return False
        if not self._backoff.ready(now):
            return False
        try:
            self._open(0.1)  # short: the loop keeps serving its sinks between attempts
        except SourceError as exc:
            log.info("%s: not back yet (%s); retry in %.2f s", self.label, exc,
                     self._backoff.failed(now))
            return False
        self._backoff.reset()
        log.info("%s: found again", self.label)
        return True
