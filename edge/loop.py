"""The runtime loop: source -> ring buffer -> window -> checks -> decoder -> decision -> sinks.

One loop serves a live BrainFlow board and a replayed recording: a hop is scheduled every
``hop_s`` worth of *samples*, so the same data give the same windows whatever the wall clock
does. Live, the loop sleeps until the last sample of the next hop is due (the newest sample's
timestamp plus the missing samples at the sampling rate), reads, and while some are still in
transit re-reads every millisecond; with ``poll_s`` set it polls every ``poll_s`` instead (the
behaviour before issue 15). In replay it runs as fast as it can.

The run's state (linked, deciding, faulted, stopped) has one owner, the runtime's
:class:`edge.run_state.RunStateMachine`, which tells the sinks each transition. Faults
(stalled or lost board, a stream that ended, NaN/railed/flat channels, a decoder error) put it
in FAULT (FAULT to every sink); the ring buffer and the decision evidence are cleared so no
window straddles the gap, and decisions resume only when a full window of healthy data has
arrived again (HELLO is sent on recovery). Evidence never crosses a gap: lost samples, skipped
hops (the loop fell behind) and, live, a wall-clock pause between reads longer than a hop (the
process was stopped, swapped out, starved; longer than two hops, since the loop itself sleeps
up to a hop) reset the smoothing and the dwell count, so a
decision is built only from windows after the gap. Shutdown (``request_stop``, SIGINT/SIGTERM in the
CLI) sends STOP. Observers (:mod:`edge.observers`: the profiler) see every read and hop.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

import numpy as np

from edge.decision import DecisionConfig, DecisionLayer, DecisionState
from edge.decoders import Decoder
from edge.errors import MiEdgeError
from edge.observers import RunObserver
from edge.quality import QualityConfig, check_window
from edge.ringbuffer import RingBuffer
from edge.run_state import RunState, RunStateMachine, Session
from edge.sinks import FaultReason, Sink
from edge.source import Source, SourceEnded, SourceError

__all__ = ["LoopConfig", "Runtime", "RunStats"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoopConfig:
    """``poll_s`` None: sleep until the next hop's samples are due (at least ``min_wait_s``,
    at most ``max_wait_s`` at a time, so the sinks still tick); a number: poll at that period."""

    hop_s: float = 0.125
    poll_s: float | None = None
    min_wait_s: float = 0.001
    max_wait_s: float = 0.1
    realtime: bool = True
    stop_on_end: bool = True  # a finite source (playback, replay) ends the run
    decision: DecisionConfig = field(default_factory=DecisionConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    # decoders that adapt to the wearer (edge.decoders.base): the horizon of their running
    # reference, s; None: the bundle's default, 0: off
    adapt_horizon_s: float | None = None

    def __post_init__(self) -> None:
        if self.hop_s <= 0:
            raise ValueError(f"hop {self.hop_s} s: expected > 0")
        if self.adapt_horizon_s is not None and not self.adapt_horizon_s >= 0:
            raise ValueError(f"adaptation horizon {self.adapt_horizon_s} s: expected >= 0")


class RecentDurations:
    """The last ``size`` durations (s) in a preallocated ring: bounded memory on long runs."""

    def __init__(self, size: int = 4096):
        self._values = np.zeros(size)
        self.count = 0

    def add(self, seconds: float) -> None:
        self._values[self.count % len(self._values)] = seconds
        self.count += 1

    def values(self) -> np.ndarray:
        return self._values[: min(self.count, len(self._values))]

    def median_ms(self) -> float | None:
        return float(np.median(self.values()) * 1e3) if self.count else None


@dataclass
class RunStats:
    hops: int = 0
    decisions: int = 0
    faults: int = 0
    bad_windows: int = 0
    skipped_hops: int = 0  # hops dropped because the loop fell behind
    lost_samples: int = 0
    evidence_resets: int = 0  # smoothing and dwell dropped at a gap (lost, skipped, paused)
    samples: int = 0
    reads: int = 0  # source reads (live: about one per hop when sleeping until due)
    decode_s: RecentDurations = field(default_factory=RecentDurations)


class Runtime:
    """Runs one decoder over a source and feeds the decisions to the sinks.

    Parameters
    ----------
    decoder : Decoder
    channel_names : list of str
        Names of the rows the source delivers (the bundle's channels).
    sfreq : float
    source : Source
    sinks : list of Sink
        Also the listeners of :attr:`run_state`.
    config : LoopConfig
    observers : list of edge.observers.RunObserver, optional
        Told every read and hop (``mi-edge profile``'s probes); the ring buffer keeps their
        longest window too.
    rest_class : str, optional
        The bundle's "no control" class (the decoder's last): never a command, not announced.
    """

    def __init__(self, decoder: Decoder, channel_names: list[str], sfreq: float, source: Source,
                 sinks: list[Sink], config: LoopConfig | None = None,
                 observers: list[RunObserver] | None = None, rest_class: str | None = None):
        self.decoder = decoder
        self.channel_names = channel_names
        self.sfreq = sfreq
        self.source = source
        self.sinks = sinks
        config = config or LoopConfig()
        if config.quality.sfreq is None:  # the line-noise check needs the stream's rate
            config = replace(config, quality=replace(config.quality, sfreq=float(sfreq)))
        self.config = config
        self.hop = max(1, int(round(self.config.hop_s * sfreq)))
        self.n_window = decoder.n_samples
        # a streaming decoder (causal FGSFT) filters each chunk as it arrives; it waits for its
        # filters' warm-up on top of a full window before the first decision
        open_stream = getattr(decoder, "open_stream", None)
        self.stream = open_stream() if open_stream is not None else None
        self._first_hop = self.n_window + int(getattr(decoder, "warmup_samples", 0) or 0)
        # an adapting decoder (riemann) follows the wearer's windows; its reference restarts
        # wherever the evidence does (faults, gaps)
        set_adaptation = getattr(decoder, "set_adaptation", None)
        if set_adaptation is not None:
            set_adaptation(self.config.adapt_horizon_s, self.config.hop_s)
        self._reset_adaptation = getattr(decoder, "reset_adaptation", None)
        self.observers = list(observers or [])
        longest = max([self.n_window, *(o.window_samples for o in self.observers)])
        self.ring = RingBuffer(len(channel_names), longest + 4 * self.hop)
        self.window = np.zeros((len(channel_names), self.n_window))  # reused every hop
        classes = list(decoder.classes)
        if rest_class is not None and classes[-1:] != [rest_class]:
            raise ValueError(f"rest class {rest_class!r} must be the decoder's last of {classes}")
        self.rest_class = rest_class
        self.decision = DecisionLayer(len(classes), self.config.decision,
                                      len(classes) - 1 if rest_class is not None else None)
        self.run_state = RunStateMachine(list(sinks))
        self.stats = RunStats()
        self._stop = False
        self._reconnecting = False
        self._next_hop = self._first_hop
        self._last_read: float | None = None  # monotonic time of the last read (live)

    # -- control -----------------------------------------------------------------------
    def request_stop(self) -> None:
        self._stop = True

    def _t(self) -> float:
        """Stream time of the newest sample, s (rounded as reported)."""
        return round(self.stats.samples / self.sfreq, 4)

    def _restart_window(self) -> None:
        """No window may straddle a gap: the ring buffer and a stream's filters start afresh."""
        self.ring.reset()
        if self.stream is not None:
            self.stream.reset()
        self._next_hop = self._first_hop

    def _forget(self, adaptation: bool = True) -> None:
        """Drop the decision evidence and (``adaptation``) the decoder's adapted reference: a
        fault or missing data, after which the cap may have moved."""
        self.decision.reset()
        if adaptation and self._reset_adaptation is not None:
            self._reset_adaptation()

    def _enter_fault(self, reason: FaultReason, text: str, level: int = logging.WARNING) -> None:
        self._restart_window()
        self._forget()
        was_faulted = self.run_state.state is RunState.FAULT
        # the same fault again is not news; the serial sink restates it on idle ticks
        if self.run_state.enter_fault(reason, text, self._t()) is None:
            return
        if not was_faulted:
            self.stats.faults += 1
        log.log(level, "FAULT (%s): %s", reason.name.lower(), text)

    def _gap(self, what: str, adaptation: bool = True) -> None:
        """Samples or time went missing: the evidence gathered before does not carry over (nor
        an adapted reference, unless only decisions were skipped: ``adaptation`` False)."""
        self.stats.evidence_resets += 1
        self._forget(adaptation)
        log.info("%s: smoothing and dwell restart", what)

    def _leave_fault(self) -> None:
        fault = self.run_state.fault
        log.info("healthy data again after fault: %s", fault.text if fault else None)
        self.decision.reset()
        self.run_state.recover(self._t())

    # -- the loop ----------------------------------------------------------------------
    def run(self, duration_s: float | None = None) -> RunStats:
        """Run until ``duration_s`` of wall time (live) or samples (replay), the end of a finite
        source, or :meth:`request_stop`. STOP is always sent."""
        cfg = self.config
        commands = [c for c in self.decoder.classes if c != self.rest_class]
        session = Session(tuple(commands), 1.0 / cfg.hop_s, self.rest_class)
        for sink in self.sinks:
            sink.start(session, self.run_state)
        self.run_state.link()
        t_start = time.monotonic()
        try:
            self.source.start()
            while not self._stop:
                if duration_s is not None:
                    elapsed = (time.monotonic() - t_start if cfg.realtime
                               else self.stats.samples / self.sfreq)
                    if elapsed >= duration_s:
                        break
                if not self._step() and cfg.stop_on_end:
                    break
                now = time.monotonic()
                for sink in self.sinks:
                    sink.tick(now)
                if cfg.realtime:
                    time.sleep(self._wait_s())
        finally:
            self.run_state.stop(self._t())
            self.source.stop()
        return self.stats

    def _wait_s(self) -> float:
        """How long to sleep before the next read: until the last sample of the next hop is
        sampled (from the newest sample's BrainFlow timestamp where there is one, else from
        the last read), at least ``min_wait_s`` (re-polls while it is in transit), at most
        ``max_wait_s``."""
        cfg = self.config
        if cfg.poll_s is not None:
            return cfg.poll_s
        missing = (self._next_hop - self.ring.total) / self.sfreq  # s of samples to come
        newest = self.ring.newest_timestamp()
        if newest > 1e9:  # BrainFlow Unix timestamps
            wait = newest + missing - time.time()
        else:
            since = time.monotonic() - self._last_read if self._last_read is not None else 0.0
            wait = missing - since
        return min(max(wait, cfg.min_wait_s), cfg.max_wait_s)

    def _step(self) -> bool:
        """Read and process what arrived. False when a finite source has ended."""
        if self._reconnecting:
            try:
                if not self.source.poll_reconnect():
                    return True
            except SourceError as again:
                log.info("board not back yet: %s", again)
                return True
            self._reconnecting = False
        observers = self.observers
        t_read = time.perf_counter() if observers else 0.0
        self.stats.reads += 1
        try:
            chunk = self.source.read()
        except SourceEnded as exc:
            level = logging.INFO if self.config.stop_on_end else logging.WARNING
            self._enter_fault(FaultReason.BOARD_LOST, str(exc), level)
            return False
        except SourceError as exc:
            self._enter_fault(FaultReason.BOARD_LOST, str(exc))
            self._reconnecting = True  # board gone: one non-blocking reconnect step per poll
            return True
        if self.config.realtime:  # after the read: a pause anywhere before it is seen now
            now = time.monotonic()
            if self._last_read is not None and now - self._last_read > 2 * self.config.hop_s:
                self._gap(f"{now - self._last_read:.3f} s since the last read")
            self._last_read = now
        if observers:
            t_read_end = time.perf_counter()
            for observer in observers:
                observer.on_read(chunk, self.stats.samples, t_read, t_read_end)
        if chunk.lost_samples:
            # a gap inside a window would be decoded as signal: start the window afresh
            self.stats.lost_samples += chunk.lost_samples
            log.warning("%d samples lost by the board; window restarts", chunk.lost_samples)
            self._restart_window()
            self._gap(f"{chunk.lost_samples} samples lost")
        if chunk.n_samples == 0:
            return True
        self.stats.samples += chunk.n_samples
        self.ring.push(chunk.data, chunk.timestamps)
        if self.stream is not None:
            self.stream.push(chunk.data)
        if self.ring.total < self._next_hop:
            return True
        behind = (self.ring.total - self._next_hop) // self.hop
        if behind:  # decode only the newest window; older hops are stale
            self.stats.skipped_hops += int(behind)
            self._next_hop += int(behind) * self.hop
            self._gap(f"{behind} hops skipped", adaptation=False)  # no data is missing
        self._next_hop += self.hop
        self._hop()
        return True

    def _hop(self) -> None:
        stats = self.stats
        stats.hops += 1
        window = self.ring.latest(self.n_window, self.window)
        bad = check_window(window, self.config.quality, self.channel_names)
        t = self.stats.samples / self.sfreq  # stream time of the newest sample, s
        if bad is not None:
            stats.bad_windows += 1
            self._enter_fault(FaultReason.BAD_SIGNAL, bad)
            return
        if self.run_state.state is RunState.FAULT:
            self._leave_fault()
        t0 = time.perf_counter()
        try:
            proba = (self.stream.predict_proba() if self.stream is not None
                     else self.decoder.predict_proba(window[None])[0])
        except MiEdgeError as exc:
            self._enter_fault(FaultReason.BUNDLE_ERROR, f"decoder {self.decoder.name}: {exc}")
            return
        decode_s = time.perf_counter() - t0
        stats.decode_s.add(decode_s)
        out = self.decision.update(proba, t)
        observers = self.observers
        t_decided = time.perf_counter() if observers else 0.0
        decided = out.state is DecisionState.DECISION
        if decided:
            stats.decisions += 1
        self.run_state.hop(decided, round(t, 4))
        info: dict[str, object] = {"t": round(t, 4), "decode_ms": round(decode_s * 1e3, 3),
                                   "raw_proba": [round(float(p), 4) for p in proba]}
        newest = self.ring.newest_timestamp()
        if self.config.realtime and newest > 1e9:  # BrainFlow Unix timestamps
            info["sample_age_ms"] = round((time.time() - newest) * 1e3, 2)
        for sink in self.sinks:
            sink.emit(out, info)
        for observer in observers:  # after the sinks: compared decoders never delay a decision
            observer.on_hop(self.ring, out, t0, decode_s, t_decided)
