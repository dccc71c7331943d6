"""A real recording published as an LSL EEG stream, the way OpenBCI GUI or an amplifier's LSL
app publishes one: float32 samples, channel labels and units in the meta-data, per-sample
timestamps. Used by the LSL tests; ``python tests/lsl_player.py NAME`` plays S007 run 12."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np


class LslPlayer:
    """Push ``raw`` (n_channels, n_samples, µV at ``sfreq``) as stream ``name`` in a thread.

    ``speed`` > 1 plays faster than real time (timestamps follow the wall clock, the nominal
    rate stays ``sfreq``); ``pause`` = (sample, seconds) stops pushing for a while there.
    """

    def __init__(self, name: str, raw: np.ndarray, ch_names: list[str], sfreq: float,
                 speed: float = 1.0, chunk_s: float = 0.01,
                 pause: tuple[int, float] | None = None) -> None:
        import pylsl

        self.pylsl = pylsl
        info = pylsl.StreamInfo(name, "EEG", len(ch_names), sfreq, pylsl.cf_float32,
                                f"test-{name}")
        chans = info.desc().append_child("channels")
        for ch in ch_names:
            c = chans.append_child("channel")
            c.append_child_value("label", ch)
            c.append_child_value("unit", "microvolts")
            c.append_child_value("type", "EEG")
        self.outlet = pylsl.StreamOutlet(info)
        self.raw = np.ascontiguousarray(raw.T, dtype=np.float32)  # (n_samples, n_channels)
        self.sfreq, self.speed, self.chunk_s, self.pause = sfreq, speed, chunk_s, pause
        self.stop = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self, wait_consumer_s: float = 30.0) -> LslPlayer:
        self.wait_consumer_s = wait_consumer_s
        self.thread.start()
        return self

    def _run(self) -> None:
        self.outlet.wait_for_consumers(self.wait_consumer_s)
        rate = self.sfreq * self.speed
        n = self.raw.shape[0]
        t0 = self.pylsl.local_clock()
        wall0 = time.monotonic()
        paused = False
        while self.sent < n and not self.stop.is_set():
            due = min(n, int((time.monotonic() - wall0) * rate))
            if self.pause and not paused and due >= self.pause[0]:
                due = self.pause[0]
            if due > self.sent:
                idx = np.arange(self.sent, due)
                self.outlet.push_chunk(self.raw[self.sent:due], (t0 + idx / rate).tolist())
                self.sent = due
            if self.pause and not paused and self.sent >= self.pause[0]:
                paused = True
                time.sleep(self.pause[1])
                t0 += self.pause[1]
                wall0 += self.pause[1]
            time.sleep(self.chunk_s)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


if __name__ == "__main__":
    from conftest import CYTON_CHANNELS, S007_R12

    from edge.recording import load_continuous

    rec = load_continuous(S007_R12).resampled(250.0)
    player = LslPlayer(sys.argv[1] if len(sys.argv) > 1 else "S007", rec.pick(CYTON_CHANNELS),
                       CYTON_CHANNELS, 250.0).start(wait_consumer_s=600)
    player.thread.join()
