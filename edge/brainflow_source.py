"""Any BrainFlow board as a :class:`edge.source.Source`.

``BrainFlowSource`` opens a board (Cyton, Cyton + Daisy, Ganglion, BrainFlow's synthetic board, or
a playback file through ``PLAYBACK_FILE_BOARD``; see :mod:`edge.boards`), maps the bundle's
channels onto the board's EEG inputs through a :class:`edge.montage.Montage`, and hands the loop
the new samples of those channels in the bundle's order, µV exactly as BrainFlow gives them.

Reading: ``BoardShim.get_board_data()`` copies every sample in BrainFlow's ring and empties it
under a mutex: it never waits, and never returns a sample twice (``get_current_board_data(n)``
would leave them there, to be de-duplicated, and miss samples when the loop polls late).

Faults:

* lost packets: the package counter is followed across reads (:class:`~edge.playback_file.\
  PackageCounter`); a jump becomes ``Chunk.lost_samples`` (256 samples or more alias);
* stall: no new sample for ``stall_timeout_s`` (``startup_timeout_s`` before the first one)
  raises :class:`SourceStalled`, or :class:`SourceLost` when the board's serial port has
  disappeared (BrainFlow does not report a silent Cyton: the watchdog is what notices);
* a ``BrainFlowError`` while streaming raises :class:`SourceLost`;
* playback: BrainFlow never says that a file has ended, and overwrites the marker row. The
  source follows the file position of every delivered sample (:mod:`edge.playback_file`),
  puts the file's cue markers back, and raises :class:`SourceEnded` after the last sample
  (unless ``loopback``). A file whose column count does not fit the master board is refused at
  :meth:`~BrainFlowSource.start`, naming the boards it would fit.

:meth:`BrainFlowSource.reconnect` stops the board and starts it again, waiting as
:class:`edge.backoff.Backoff` says (0.5 s doubling to 8 s by default) and blocking until it
streams (a ``stop_event`` lets SIGTERM end it); :meth:`BrainFlowSource.poll_reconnect` is the same
schedule one non-blocking step at a time, for a loop that keeps serving its sinks meanwhile.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from brainflow.board_shim import BoardIds, BoardShim, BrainFlowError

from edge.backoff import Backoff
from edge.boards import (
    COUNTERS,
    LOG_LEVELS,
    SERIAL_BOARDS,
    BoardConfig,
    BoardConfigError,
    board_label,
)
from edge.montage import MontageError
from edge.playback_file import (
    PackageCounter,
    PlaybackIndex,
    follow_file,
    read_playback_index,
)
from edge.source import Chunk, SourceEnded, SourceError, SourceLost, SourceStalled

__all__ = ["BrainFlowSource"]

log = logging.getLogger(__name__)


class BrainFlowSource:
    """A BrainFlow board delivering the bundle's channels.

    Parameters
    ----------
    config : BoardConfig
        The board and its parameters.
    channel_names : sequence of str, length n_channels
        The bundle's channels; rows are delivered in this order.
    sfreq : float
        The bundle's sampling rate; the board must sample at this rate (no resampling here).
    clock : callable, optional
        Monotonic time in s (the stall watchdog); injectable for tests.
    sleep : callable, optional
        Sleep used by :meth:`reconnect` between attempts; injectable for tests.

    Raises
    ------
    BoardConfigError
        The board samples at another rate than the bundle.
    MontageError
        A bundle channel is on no input of the montage.
    """

    def __init__(self, config: BoardConfig, channel_names: Sequence[str], sfreq: float, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.channel_names = list(channel_names)
        self.sfreq = float(sfreq)
        self._clock = clock
        self._sleep = sleep
        board = config.data_board_id
        self.board_id = config.board_id
        self.data_board_id = board
        self.board_sfreq = float(BoardShim.get_sampling_rate(board))
        if not np.isclose(self.board_sfreq, self.sfreq):
            raise BoardConfigError(
                f"{board_label(board)} samples at {self.board_sfreq:g} Hz but the bundle was "
                f"trained at {self.sfreq:g} Hz; the runtime does not resample: retrain, or export "
                f"the bundle at the board's rate (mi-export ... --sfreq {self.board_sfreq:g})")
        eeg_rows = BoardShim.get_eeg_channels(board)
        self.montage = config.resolve_montage()
        self.montage.check_inputs(len(eeg_rows), board_label(board))
        try:
            inputs = self.montage.indices(self.channel_names)
        except MontageError as exc:
            raise MontageError(f"{config.label}: {exc}") from None
        self.rows = [eeg_rows[i] for i in inputs]
        self.timestamp_row = BoardShim.get_timestamp_channel(board)
        self.marker_row = BoardShim.get_marker_channel(board)
        try:
            self.counter_row: int | None = BoardShim.get_package_num_channel(board)
        except BrainFlowError:
            self.counter_row = None
        spec = COUNTERS.get(board)
        self._counter = PackageCounter(*spec) if spec and self.counter_row is not None else None
        if self._counter is None:
            log.info("%s: package counter not known, lost-sample detection off",
                     board_label(board))
        self._board: BoardShim | None = None
        self._index: PlaybackIndex | None = None
        self._pos = 0
        self._last_data = 0.0
        self._backoff = Backoff(config.reconnect_initial_s, config.reconnect_max_s)
        self._attempts = 0  # poll_reconnect: attempts since the fault
        self.total_samples = 0
        self.total_lost = 0
        log.debug("%s: bundle channels %s on board rows %s (montage %s)", config.label,
                  self.channel_names, self.rows, self.montage.source)

    @classmethod
    def from_bundle(cls, bundle: Any, config: BoardConfig, **kwargs: Any) -> BrainFlowSource:
        """The source for a verified bundle (``edge.bundle.Bundle``): its channels and rate."""
        return cls(config, bundle.channels, bundle.sfreq, **kwargs)

    # -- life cycle ---------------------------------------------------------------------------

    @property
    def streaming(self) -> bool:
        return self._board is not None

    def start(self) -> None:
        """Prepare the session and start streaming.

        Raises
        ------
        SourceLost
            BrainFlow could not open or start the board (the message carries its error).
        BoardConfigError
            A playback file that the master board cannot play.
        """
        if self._board is not None:
            return
        cfg = self.config
        BoardShim.set_log_level(int(LOG_LEVELS[cfg.brainflow_log_level]))
        if cfg.is_playback:
            self._index = read_playback_index(cfg.file, self.data_board_id)
            log.info("%s: %d samples (%.1f s)", cfg.label, self._index.n_samples,
                     self._index.n_samples / self.board_sfreq)
        board = None
        try:
            board = BoardShim(cfg.board_id, cfg.input_params())
            board.prepare_session()
            if cfg.is_playback:
                board.config_board("loopback_true" if cfg.loopback else "loopback_false")
            board.start_stream(int(cfg.buffer_size))
        except BrainFlowError as exc:
            if board is not None:
                _release_quietly(board)
            raise SourceLost(f"cannot start {cfg.label}: {exc}{cfg.connection_hint()}") from exc
        self._board = board
        self._pos = 0
        self._last_data = self._clock()
        self.total_samples = 0
        if self._counter is not None:
            self._counter.reset()
        log.info("streaming from %s at %g Hz", cfg.label, self.board_sfreq)

    def stop(self) -> None:
        """Stop streaming and release the board; safe to call twice."""
        board, self._board = self._board, None
        if board is None:
            return
        _release_quietly(board)
        log.info("stopped %s", self.config.label)

    def __enter__(self) -> BrainFlowSource:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- data ---------------------------------------------------------------------------------

    def read(self) -> Chunk:
        """The samples that arrived since the last read (possibly none); never waits.

        Returns
        -------
        Chunk
            ``data`` shape (n_channels, n_samples) in µV, bundle order; ``timestamps`` and
            ``markers`` shape (n_samples,); ``lost_samples`` from the package counter.

        Raises
        ------
        SourceStalled, SourceLost, SourceEnded
            See the module docstring.
        """
        board = self._board
        if board is None:
            raise SourceError(f"{self.config.label}: read() before start()")
        try:
            raw = board.get_board_data()
        except BrainFlowError as exc:
            raise SourceLost(f"{self.config.label}: BrainFlow error while streaming: {exc}") \
                from exc
        now = self._clock()
        n = int(raw.shape[1])
        if n == 0:
            self._check_idle(now)
            return Chunk(data=np.zeros((len(self.rows), 0)), timestamps=np.zeros(0),
                         markers=np.zeros(0), lost_samples=0)
        self._last_data = now
        self._backoff.reset()  # data flows again: backoff starts over
        gaps = (self._counter.update(raw[self.counter_row]) if self._counter is not None
                else np.zeros(n, dtype=np.int64))
        markers = raw[self.marker_row].copy()
        if self._index is not None:
            restored, pos = follow_file(self._index, self._pos, raw[self.counter_row], gaps,
                                        self.config.loopback)
            if restored is None:
                log.warning("%s: delivered sample %d (counter %g) is not the next line of the "
                            "file; cue markers and end detection off", self.config.label,
                            self.total_samples + pos, np.nan_to_num(raw[self.counter_row][pos]))
                self._index = None
            else:
                self._pos = pos
                markers = np.where(markers != 0, markers, restored)
        lost = int(gaps.sum())
        if lost:
            log.warning("%s: %d sample(s) lost (package counter jumped)", self.config.label, lost)
        self.total_samples += n
        self.total_lost += lost
        return Chunk(data=np.ascontiguousarray(raw[self.rows]),
                     timestamps=raw[self.timestamp_row].copy(), markers=markers,
                     lost_samples=lost)

    def insert_marker(self, value: float) -> None:
        """Ask BrainFlow to put ``value`` (non-zero) in the marker row of the next sample."""
        if self._board is None:
            raise SourceError(f"{self.config.label}: insert_marker() before start()")
        try:
            self._board.insert_marker(float(value))
        except BrainFlowError as exc:
            raise SourceLost(f"{self.config.label}: insert_marker failed: {exc}") from exc

    def _check_idle(self, now: float) -> None:
        cfg = self.config
        if (cfg.is_playback and not cfg.loopback and self._index is not None
                and self._pos >= self._index.n_samples):
            raise SourceEnded(f"{cfg.label}: played to its end ({self._index.n_samples} "
                              f"samples, {self._index.n_samples / self.board_sfreq:.1f} s)")
        limit = cfg.stall_timeout_s if self.total_samples else cfg.startup_timeout_s
        idle = now - self._last_data
        if idle <= limit:
            return
        if cfg.serial_port and cfg.board_id in SERIAL_BOARDS and not os.path.exists(
                cfg.serial_port):
            raise SourceLost(f"{cfg.label}: serial port {cfg.serial_port} has disappeared "
                             "(dongle unplugged?)")
        if cfg.is_playback and not cfg.loopback and self.total_samples:
            # the playback board only falls silent at the end of its file
            raise SourceEnded(f"{cfg.label}: no sample for {idle:.1f} s after "
                              f"{self.total_samples}: the file has ended")
        if self.total_samples == 0:
            what = f"no sample {idle:.1f} s after start (startup timeout {limit:g} s)"
            hint = (f"; check that master_board ({board_label(self.data_board_id)}) is the board "
                    "that recorded the file" if cfg.is_playback else cfg.connection_hint())
        else:
            what = (f"no new sample for {idle:.1f} s (stall timeout {limit:g} s) after "
                    f"{self.total_samples} samples")
            hint = cfg.connection_hint()
        raise SourceStalled(f"{cfg.label}: {what}{hint}")

    # -- recovery -----------------------------------------------------------------------------

    def reconnect(self, stop_event: threading.Event | None = None) -> int:
        """Stop, then start again with exponential backoff until the board streams.

        The wait before each attempt follows :class:`edge.backoff.Backoff`; it carries over
        between calls until a read returns data, so a board that starts but never streams is
        not hammered either. ``stop_event`` (set e.g. by a SIGTERM handler) abandons the wait.
        Returns the number of attempts it took.

        Raises
        ------
        SourceLost
            After ``reconnect_attempts`` failed attempts, or when ``stop_event`` is set.
        BoardConfigError
            A configuration problem that retrying cannot fix.
        """
        cfg = self.config
        self.stop()
        attempt = 0
        try:
            while True:
                attempt += 1
                delay = self._backoff.failed(self._clock())
                log.info("%s: reconnect attempt %d in %.2f s", cfg.label, attempt, delay)
                if stop_event is not None:
                    if stop_event.wait(delay):
                        raise SourceLost(f"{cfg.label}: reconnect cancelled")
                else:
                    self._sleep(delay)
                try:
                    self.start()
                except SourceError as exc:
                    self._attempt_failed(attempt, exc)
                    continue
                log.info("%s: reconnected after %d attempt(s)", cfg.label, attempt)
                return attempt
        finally:
            self._backoff.clear()

    def poll_reconnect(self) -> bool:
        """One non-blocking step of :meth:`reconnect`, for a loop that must keep running.

        The first call after a fault stops the board and schedules an attempt after the
        current backoff delay; later calls return at once until that time has come, then try
        :meth:`start` once (rescheduling with the doubled delay when it fails). Returns True
        when the board streams again; raises as :meth:`reconnect` does (no ``stop_event``:
        between calls the loop serves its sinks and its own stop request).
        """
        now = self._clock()
        backoff = self._backoff
        if not backoff.pending:  # the first call after a fault
            self.stop()
            self._attempts = 0
            log.info("%s: reconnect attempt in %.2f s", self.config.label, backoff.failed(now))
            return False
        if not backoff.ready(now):
            return False
        self._attempts += 1
        try:
            self.start()
        except SourceError as exc:
            try:
                self._attempt_failed(self._attempts, exc)
            except SourceLost:
                backoff.clear()
                raise
            backoff.failed(now)
            return False
        log.info("%s: reconnected after %d attempt(s)", self.config.label, self._attempts)
        backoff.clear()
        return True

    def _attempt_failed(self, attempt: int, exc: SourceError) -> None:
        """Log a failed attempt; raise SourceLost once ``reconnect_attempts`` are spent."""
        cfg = self.config
        log.warning("%s: reconnect attempt %d failed: %s", cfg.label, attempt, exc)
        if cfg.reconnect_attempts is not None and attempt >= cfg.reconnect_attempts:
            raise SourceLost(f"{cfg.label}: gave up after {attempt} reconnect attempts: "
                             f"{exc}") from exc


def _release_quietly(board: BoardShim) -> None:
    try:
        board.stop_stream()
    except BrainFlowError as exc:
        log.debug("stop_stream: %s", exc)
    try:
        board.release_session()
    except BrainFlowError as exc:
        log.debug("release_session: %s", exc)
    # BoardShim.__del__ releases the session of its (board id, parameters) if one is prepared,
    # even a newer one opened by a reconnect, whenever the old object is collected (a traceback
    # can keep it alive for a while). Detach the released object from that key.
    board.board_id = int(BoardIds.NO_BOARD)
