"""Issue 10, host side, on the real runtime and real EEG: nothing stale or replayed is acted on.

* evidence never crosses a gap (lost samples, skipped hops, a paused process): a decision is
  built only from windows after it;
* the serial sink never queues a command behind output the device has not read (a frozen or
  slow device): it discards the backlog and restates HOLD/FAULT;
* the device emulator (``firmware_bridge.emulator``, the firmware's receiver rules) acts on
  0 commands older than its timeout and on 0 frames of an earlier session, replayed HELLO
  included; a DECISION at boot is ignored;
* ``mi-edge run --link-key``: frames authenticated end to end; ``--ascii``: no NUL byte, HOLD
  lines without a confidence.

On a pseudo-terminal the host cannot see what the device left unread (Linux answers TIOCOUTQ on
a pty slave with 0), so these tests create the pty here, run the emulator on the inherited
master (``emulator_on_fd.py``) and give the runtime a :class:`~edge.sinks.TransmitQueue` that
reads that master (FIONREAD) and discards from it (TCIFLUSH): what ``out_waiting`` and
``reset_output_buffer`` do on a USB serial adapter.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from conftest import S007_R12

from edge.bundle import open_bundle
from edge.decision import DecisionConfig, DecisionState
from edge.decoders import load_decoder
from edge.loop import LoopConfig, Runtime
from edge.recording import load_continuous
from edge.replay import RecordingSource
from edge.sinks import NullSink
from edge.source import Chunk

TIMEOUT_MS = 300
HERE = Path(__file__).resolve().parent

# -- evidence across gaps (in-process, no serial link) ----------------------------------------


class _Outputs(NullSink):
    def __init__(self):
        self.out: list[tuple[str, str]] = []

    def emit(self, out, info):
        self.out.append((out.state.value, out.reason))


class _GapSource(RecordingSource):
    """S007 run 12 in hop-sized chunks; each time the last output was one window short of the
    dwell (reason ``dwell``), a gap: ``pause`` (the read takes 0.3 s of wall clock: a stopped
    process), ``lost`` (the board reports lost samples) or ``skipped`` (three hops of samples
    arrive at once: the loop fell behind)."""

    def __init__(self, outputs: _Outputs, mode: str, bundle, n_gaps: int = 6):
        super().__init__(load_continuous(S007_R12), bundle.channels, bundle.sfreq, 20)
        self.outputs, self.mode, self.n_gaps = outputs, mode, n_gaps
        self.gaps: list[int] = []  # index of the first output after each gap

    def read(self):
        out = self.outputs.out
        if (len(self.gaps) < self.n_gaps and out and out[-1][1] == "dwell"
                and (not self.gaps or self.gaps[-1] < len(out))):
            self.gaps.append(len(out))
            if self.mode == "pause":
                time.sleep(0.3)
            elif self.mode == "lost":
                chunk = super().read()
                return Chunk(chunk.data, chunk.timestamps, chunk.markers, lost_samples=7)
            else:
                chunks = [super().read(), super().read(), super().read()]
                return Chunk(*(np.concatenate([getattr(c, f) for c in chunks], axis=-1)
                               for f in ("data", "timestamps", "markers")))
        elif len(self.gaps) == self.n_gaps and len(out) > self.gaps[-1] + 40:
            self.pos = self.data.shape[1]  # enough: end the run
        return super().read()


@pytest.mark.parametrize("mode", ["pause", "lost", "skipped"])
def test_no_decision_from_a_dwell_run_started_before_a_gap(s007_fast_bundle, mode):
    path, _, _ = s007_fast_bundle
    bundle = open_bundle(path)
    outputs = _Outputs()
    source = _GapSource(outputs, mode, bundle)
    config = LoopConfig(realtime=mode == "pause", poll_s=0.0,
                        decision=DecisionConfig(threshold=0.6, dwell=2, refractory_s=0.0))
    stats = Runtime(load_decoder(bundle, "fgsft"), bundle.channels, bundle.sfreq, source,
                    [outputs], config).run()
    assert len(source.gaps) == source.n_gaps
    first_after = [outputs.out[i][0] for i in source.gaps]
    print(f"{mode}: {stats.evidence_resets} evidence resets, first outputs after the gaps "
          f"{first_after}, {stats.decisions} decisions")
    # dwell 2: the window after a gap can only start a new run, never finish an old one
    assert DecisionState.DECISION.value not in first_after
    assert stats.evidence_resets >= source.n_gaps
    assert stats.decisions > 0  # and decisions resume after each gap
