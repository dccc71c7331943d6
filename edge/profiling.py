"""Latency probes for the runtime loop, and what a profile needs to describe its machine.

:class:`Probes` is a run observer (:mod:`edge.observers`): subscribed to the loop
(:class:`edge.loop.Runtime` ``observers=``) it hears every read and hop, subscribed to the serial
sink (:meth:`edge.serial_sink.SerialSink.subscribe`) every write. Without it (``mi-edge run``)
the loop pays one truth test per read and per hop. With it, each hop that reaches the decoder
fills one row of preallocated float64 columns, one per stage, by name: no list grows, no dict is
built,
the clock is read with ``time.perf_counter`` (plus one ``time.time`` per read, to relate the
loop to BrainFlow's Unix timestamps).

Stages (seconds in the table, milliseconds in reports):

``read``
    Waiting for and reading board data: from the BrainFlow timestamp of the newest sample of the
    window to the return of the ``read()`` that delivered it. This is BrainFlow's delivery
    latency as the loop sees it (BrainFlow's reader thread stamps a sample when it parses the
    packet; the sample then waits in BrainFlow's ring until the loop polls, every ``poll_s``).
    Only where timestamps are Unix seconds (live boards, the playback board).
``read_call``
    The ``read()`` call alone (``get_board_data`` + counter and marker bookkeeping).
``preprocess``
    From the return of that read to the start of the decoder: package-counter handling, ring
    push, hop scheduling, window copy, NaN/railed/flat checks.
``decode:<name>``
    The primary decoder's ``predict_proba`` (the loop's own timer), and every compared decoder
    on the same hop's window (its own window length), run *after* the decision has been sent so
    that they do not delay it. Their outputs are discarded.
``decision``
    The decision layer's update.
``serial_write``
    ``write`` + ``flush`` of the DECISION (or HOLD) frame on the serial sink.
``e2e``
    From the newest sample's BrainFlow timestamp to the return of the serial write:
    ``read`` + everything the loop did until the write returned. ``e2e - read`` is our own
    processing.

The probe cost per hop is measured by :meth:`Probes.self_cost` (the same calls on a scratch
table) and reported next to the stage times.
"""

from __future__ import annotations

import os
import platform
import resource
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge.decision import DecisionOutput, DecisionState
from edge.observers import RunObserver

__all__ = ["Probes", "percentiles", "machine_info", "peak_rss_bytes", "CpuMeter", "PtyDrain"]

#: Fixed columns of the table, before the decoders' columns.
BASE_STAGES = ("read", "read_call", "preprocess", "decision", "serial_write", "e2e")
#: Newest-sample timestamps further than this from the wall clock are not Unix time.
_MAX_AGE_S = 60.0


class Probes(RunObserver):
    """Per-hop stage timings of one run, in preallocated named columns.

    Parameters
    ----------
    primary : str
        Name of the decoder that makes the decisions.
    compare : sequence of Decoder, optional
        Other decoders run on the same windows after each decision was sent, timed separately.
    capacity : int
        Hops the columns hold at first; they double when full (a rare allocation, never per
        hop).

    Attributes
    ----------
    stages : list of str
        Column names: :data:`BASE_STAGES`, ``decode:<primary>``, ``decode:<compared>``...
    columns : dict of str to ndarray, each shape (capacity,)
        Seconds per stage; NaN where a stage did not happen. Entries ``[:n]`` are filled.
    t_hop : ndarray, shape (capacity,)
        ``perf_counter`` time of each hop's decision, s.
    decided : ndarray of bool, shape (capacity,)
        Whether the hop produced a DECISION (not a HOLD).

    Notes
    -----
    ``serial_write`` and ``e2e`` need the serial sink's writes: subscribe the probes to it
    (``sink.subscribe(probes)``); otherwise both stay empty.
    """

    def __init__(self, primary: str, compare: Sequence[Any] = (), capacity: int = 4096):
        self.primary = primary
        self.compare = list(compare)
        self._primary_key = f"decode:{primary}"
        self.stages = [*BASE_STAGES, self._primary_key,
                       *(f"decode:{d.name}" for d in self.compare)]
        cap = max(16, int(capacity))
        self.columns = {name: np.full(cap, np.nan) for name in self.stages}
        self.t_hop = np.zeros(cap)
        self.decided = np.zeros(cap, dtype=bool)
        self.n = 0
        # one reusable window buffer per compared decoder (no allocation per hop)
        self._windows = [np.zeros((d.n_channels, d.n_samples)) for d in self.compare]
        self._decode_cols = [self.columns[f"decode:{d.name}"] for d in self.compare]
        self.compare_errors = {d.name: 0 for d in self.compare}
        self.window_samples = max((d.n_samples for d in self.compare), default=0)
        self.read_begin = self.read_end = self.read_wall = 0.0  # the last read
        self.write_begin = self.write_end = 0.0  # the last serial write
        self.non_unix_timestamps = 0
        self.t_start = time.perf_counter()

    # -- the hot path (observer callbacks) ----------------------------------------------------
    def on_read(self, chunk: Any, first_sample: int, t_begin: float, t_end: float) -> None:
        self.read_begin = t_begin
        self.read_end = t_end
        self.read_wall = time.time()

    def on_write(self, t_begin: float, t_end: float) -> None:
        self.write_begin = t_begin
        self.write_end = t_end

    def on_hop(self, ring: Any, out: Any, t_decode: float, decode_s: float,
               t_decided: float) -> None:
        """Record one hop (the loop calls it after the sinks got the decision)."""
        n = self.n
        if n == self.t_hop.shape[0]:
            self._grow()
        c = self.columns
        c["preprocess"][n] = t_decode - self.read_end
        c["read_call"][n] = self.read_end - self.read_begin
        c[self._primary_key][n] = decode_s
        c["decision"][n] = t_decided - t_decode - decode_s
        age = self.read_wall - ring.newest_timestamp()
        unix = 0.0 <= age < _MAX_AGE_S
        if unix:
            c["read"][n] = age
        else:
            self.non_unix_timestamps += 1
        if self.write_end > t_decided:  # this hop's frame went out
            c["serial_write"][n] = self.write_end - self.write_begin
            if unix:
                c["e2e"][n] = age + (self.write_end - self.read_end)
        self.t_hop[n] = t_decided
        self.decided[n] = out.state is DecisionState.DECISION
        self.n = n + 1
        if self.compare:
            self._run_compare(ring, n)

    def _run_compare(self, ring: Any, n: int) -> None:
        total = ring.total
        for k, dec in enumerate(self.compare):
            buf = self._windows[k]
            if total < buf.shape[1]:  # its window is longer than what is buffered yet
                continue
            ring.latest(buf.shape[1], buf)
            t = time.perf_counter()
            try:
                dec.predict_proba(buf[None])
            except Exception:  # noqa: BLE001 - a compared decoder never stops the loop
                self.compare_errors[dec.name] += 1
                continue
            self._decode_cols[k][n] = time.perf_counter() - t

    def _grow(self) -> None:
        cap = self.t_hop.shape[0]
        for name, col in self.columns.items():
            self.columns[name] = np.concatenate([col, np.full(cap, np.nan)])
        self._decode_cols = [self.columns[f"decode:{d.name}"] for d in self.compare]
        self.t_hop = np.concatenate([self.t_hop, np.zeros(cap)])
        self.decided = np.concatenate([self.decided, np.zeros(cap, dtype=bool)])

    # -- results ------------------------------------------------------------------------------
    def column(self, stage: str) -> np.ndarray:
        """Seconds of one stage over the filled hops, NaN where it did not happen."""
        return self.columns[stage][: self.n]

    def summary(self) -> dict[str, dict[str, float | int | None]]:
        """p50/p95/p99/max/mean (ms) and count of every stage."""
        return {name: percentiles(self.column(name)) for name in self.stages}

    def self_cost(self, n: int = 20000) -> dict[str, float]:
        """Cost of the probes per hop, measured on a scratch recorder with the loop's calls.

        Times ``n`` repetitions of what profiling adds to one read and one hop (the clock reads
        around ``read()`` and :meth:`on_read`, the ``perf_counter`` after the decision,
        :meth:`on_hop` without compared decoders, with a write after the decision so that the
        e2e branch runs), minus the same loop with nothing in it.

        Returns
        -------
        dict
            ``per_hop_us`` (probes of one hop plus one read), ``per_read_us`` (the probes of a
            read without a hop; the loop polls ~``hop_s / poll_s`` times per hop).
        """

        class _Ring:
            total = 1

            @staticmethod
            def newest_timestamp() -> float:
                return time.time()

        scratch = Probes(self.primary, capacity=n + 1)
        scratch.on_write(0.0, float("inf"))
        ring, out = _Ring(), DecisionOutput(DecisionState.NO_DECISION, 0, 0.5, np.zeros(2))
        pc = time.perf_counter
        t0 = pc()
        for _ in range(n):
            pass
        empty = pc() - t0
        t0 = pc()
        for _ in range(n):
            t_read = pc()
            scratch.on_read(None, 0, t_read, pc())
        reads = pc() - t0 - empty
        t0 = pc()
        for _ in range(n):
            t_read = pc()
            scratch.on_read(None, 0, t_read, pc())
            t_dec = pc()
            scratch.on_hop(ring, out, t_dec, 1e-3, t_dec)
        hops = pc() - t0 - empty
        return {"per_hop_us": 1e6 * hops / n, "per_read_us": 1e6 * reads / n, "repeats": n}


def percentiles(x: np.ndarray) -> dict[str, float | int | None]:
    """``n``, ``p50_ms``, ``p95_ms``, ``p99_ms``, ``max_ms``, ``mean_ms`` of seconds ``x``
    (NaNs ignored; None when there is no value)."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None,
                "mean_ms": None}
    p50, p95, p99 = np.percentile(x, [50, 95, 99]) * 1e3
    return {"n": int(x.size), "p50_ms": round(float(p50), 4), "p95_ms": round(float(p95), 4),
            "p99_ms": round(float(p99), 4), "max_ms": round(float(x.max() * 1e3), 4),
            "mean_ms": round(float(x.mean() * 1e3), 4)}


class CpuMeter:
    """Process CPU time (all threads: the loop, BrainFlow's reader, the pty drain) over wall
    time, from :func:`os.times`."""

    def __init__(self) -> None:
        self.start()

    def start(self) -> None:
        t = os.times()
        self._cpu = t.user + t.system
        self._wall = time.monotonic()

    def read(self) -> dict[str, float]:
        t = os.times()
        cpu = t.user + t.system - self._cpu
        wall = max(time.monotonic() - self._wall, 1e-9)
        cores = os.cpu_count() or 1
        return {"cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
                "cpu_share_of_one_core": round(cpu / wall, 4),
                "cpu_share_of_machine": round(cpu / wall / cores, 4)}


def peak_rss_bytes() -> int:
    """Peak resident set size of this process, bytes.

    ``VmHWM`` from ``/proc/self/status`` where there is one: ``getrusage``'s ``ru_maxrss``
    survives ``exec``, so a process started by a big parent (a benchmark that imported torch)
    would report the parent's peak. Elsewhere ``ru_maxrss`` (KiB on Linux, bytes on macOS).
    """
    for line in (_read("/proc/self/status") or "").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(ru if platform.system() == "Darwin" else ru * 1024)


def _read(path: str) -> str | None:
    try:
        return Path(path).read_bytes().decode("utf-8", "replace").strip("\x00\n ")
    except OSError:
        return None


def _cpuinfo() -> dict[str, str]:
    text = _read("/proc/cpuinfo") or ""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip()
        if sep and key in ("model name", "Model", "Hardware", "CPU part", "Processor") \
                and key not in out:
            out[key] = value.strip()
    return out


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on.

    CPU model from ``/proc/cpuinfo`` (``model name``; on ARM boards ``Model``/``Hardware``), the
    board from ``/proc/device-tree/model`` (``Raspberry Pi 4 Model B Rev 1.4``) when present,
    cores, memory, load average (a busy machine measures slower), CPU frequency governor and SoC
    temperature when the kernel exposes them, and the versions of the libraries on the path.
    """
    info = _cpuinfo()
    cpu = info.get("model name") or info.get("Processor") or info.get("Hardware") \
        or platform.processor() or platform.machine()
    mem_total = None
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            mem_total = round(int(line.split()[1]) / 1024**2, 2)
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    temp = _read("/sys/class/thermal/thermal_zone0/temp")
    versions = {}
    for mod in ("numpy", "scipy", "onnxruntime", "brainflow"):
        try:
            from importlib.metadata import version

            versions[mod] = version(mod)
        except Exception:  # noqa: BLE001 - not installed
            versions[mod] = None
    return {
        "cpu_model": cpu,
        "device_model": _read("/proc/device-tree/model") or info.get("Model"),
        "machine": platform.machine(),
        "system": platform.platform(),
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "mem_total_gib": mem_total,
        "load_avg_1_5_15": load,
        "cpu_governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "soc_temp_c": round(int(temp) / 1000, 1) if temp and temp.isdigit() else None,
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "versions": versions,
    }


class PtyDrain:
    """A pseudo-terminal pair standing in for the device: the serial sink writes to the slave
    (``port``) exactly as to a USB serial adapter, a thread reads and discards what arrives on
    the master so the writes never block on a full buffer.

    A real device may take longer per write (USB latency timer, baud rate): profile with
    ``--out serial:/dev/...`` to measure it.
    """

    def __init__(self) -> None:
        import threading

        self._master, self._slave = os.openpty()
        self.port = os.ttyname(self._slave)
        self.bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, name="pty-drain", daemon=True)

    def start(self) -> PtyDrain:
        self._thread.start()
        return self

    def _drain(self) -> None:
        import select

        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.2)
            if not ready:
                continue
            try:
                self.bytes += len(os.read(self._master, 65536))
            except OSError:  # the slave side is closed
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for fd in (self._slave, self._master):
            try:
                os.close(fd)
            except OSError:
                pass
