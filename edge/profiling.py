"""Latency probes for the runtime loop, and what a profile needs to describe its machine.

The loop (:class:`edge.loop.Runtime`) takes an optional :class:`Probes`; without one (the
default, ``mi-edge run``) it pays a ``None`` test per read and per hop and nothing else. With
one, each hop that reaches the decoder fills one row of a preallocated float64 table: no list
grows, no dict is built, the clock is read with ``time.perf_counter`` (plus one ``time.time``
per read, to relate the loop to BrainFlow's Unix timestamps).

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

__all__ = ["Probes", "percentiles", "machine_info", "peak_rss_bytes", "CpuMeter", "PtyDrain"]

#: Fixed columns of the table, before the decoders' columns.
BASE_STAGES = ("read", "read_call", "preprocess", "decision", "serial_write", "e2e")
#: Newest-sample timestamps further than this from the wall clock are not Unix time.
_MAX_AGE_S = 60.0


class Probes:
    """Per-hop stage timings of one run, in a preallocated table.

    Parameters
    ----------
    primary : str
        Name of the decoder that makes the decisions.
    compare : sequence of Decoder, optional
        Other decoders run on the same windows after each decision was sent, timed separately.
    serial : object, optional
        The serial sink (:class:`edge.sinks.SerialSink`); its ``write_done`` and ``write_s``
        give the ``serial_write`` and ``e2e`` stages. Without it both stay empty.
    capacity : int
        Hops the table holds at first; it doubles when full (a rare allocation, never per hop).

    Attributes
    ----------
    stages : list of str
        Column names: :data:`BASE_STAGES`, ``decode:<primary>``, ``decode:<compared>``...
    table : ndarray, shape (capacity, n_stages)
        Seconds; NaN where a stage did not happen. Rows ``[:n]`` are filled.
    t_hop : ndarray, shape (capacity,)
        ``perf_counter`` time of each hop's decision, s.
    decided : ndarray of bool, shape (capacity,)
        Whether the hop produced a DECISION (not a HOLD).
    """

    def __init__(self, primary: str, compare: Sequence[Any] = (), serial: Any = None,
                 capacity: int = 4096):
        self.primary = primary
        self.compare = list(compare)
        self.serial = serial
        self.stages = [*BASE_STAGES, f"decode:{primary}",
                       *(f"decode:{d.name}" for d in self.compare)]
        self.col = {name: k for k, name in enumerate(self.stages)}
        cap = max(16, int(capacity))
        self.table = np.full((cap, len(self.stages)), np.nan)
        self.t_hop = np.zeros(cap)
        self.decided = np.zeros(cap, dtype=bool)
        self.n = 0
        # one reusable window buffer per compared decoder (no allocation per hop)
        self._windows = [np.zeros((d.n_channels, d.n_samples)) for d in self.compare]
        self.compare_errors = {d.name: 0 for d in self.compare}
        self.max_window = max((d.n_samples for d in self.compare), default=0)
        # set by the loop around each read()
        self.read_begin = 0.0
        self.read_end = 0.0
        self.read_wall = 0.0
        self.non_unix_timestamps = 0
        self.t_start = time.perf_counter()

    # -- the hot path -------------------------------------------------------------------------
    def hop(self, ring: Any, t_decode: float, decode_s: float, t_decided: float,
            decided: bool) -> None:
        """Record one hop; called by the loop after the sinks got the decision.

        Parameters
        ----------
        ring : edge.ringbuffer.RingBuffer
            Holds the window (compared decoders copy their own from it).
        t_decode : float
            ``perf_counter`` when the primary decoder started.
        decode_s : float
            Its duration, s.
        t_decided : float
            ``perf_counter`` when the decision layer returned.
        decided : bool
        """
        n = self.n
        if n == self.table.shape[0]:
            self._grow()
        row = self.table[n]
        row[2] = t_decode - self.read_end  # preprocess
        row[1] = self.read_end - self.read_begin  # read_call
        row[6] = decode_s
        row[3] = t_decided - t_decode - decode_s  # decision
        age = self.read_wall - ring.newest_timestamp()
        unix = 0.0 <= age < _MAX_AGE_S
        if unix:
            row[0] = age
        else:
            self.non_unix_timestamps += 1
        serial = self.serial
        if serial is not None and serial.write_done > t_decided:  # this hop's frame went out
            row[4] = serial.write_s
            if unix:
                row[5] = age + (serial.write_done - self.read_end)
        self.t_hop[n] = t_decided
        self.decided[n] = decided
        self.n = n + 1
        if self.compare:
            self._run_compare(ring, row)

    def _run_compare(self, ring: Any, row: np.ndarray) -> None:
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
            row[7 + k] = time.perf_counter() - t

    def _grow(self) -> None:
        cap = self.table.shape[0]
        self.table = np.concatenate([self.table, np.full_like(self.table, np.nan)])
        self.t_hop = np.concatenate([self.t_hop, np.zeros(cap)])
        self.decided = np.concatenate([self.decided, np.zeros(cap, dtype=bool)])

    # -- results ------------------------------------------------------------------------------
    def column(self, stage: str) -> np.ndarray:
        """Seconds of one stage over the filled hops, NaN where it did not happen."""
        return self.table[: self.n, self.col[stage]]

    def summary(self) -> dict[str, dict[str, float | int | None]]:
        """p50/p95/p99/max/mean (ms) and count of every stage."""
        return {name: percentiles(self.column(name)) for name in self.stages}

    def self_cost(self, n: int = 20000) -> dict[str, float]:
        """Cost of the probes per hop, measured on a scratch recorder with the loop's calls.

        Times ``n`` repetitions of what profiling adds to one read and one hop (the clock reads
        around ``read()``, the ``perf_counter`` after the decision, :meth:`hop` without compared
        decoders), minus the same loop with nothing in it.

        Returns
        -------
        dict
            ``per_hop_us`` (probes of one hop plus one read), ``per_read_us`` (the clock reads
            of a read without a hop; the loop polls ~``hop_s / poll_s`` times per hop).
        """

        class _Ring:
            total = 1

            @staticmethod
            def newest_timestamp() -> float:
                return time.time()

        class _Serial:  # a write that "returned" after the decision: the e2e branch runs too
            write_s = 1e-5
            write_done = float("inf")

        scratch = Probes(self.primary, serial=_Serial(), capacity=n + 1)
        ring = _Ring()
        pc, wall = time.perf_counter, time.time
        t0 = pc()
        for _ in range(n):
            pass
        empty = pc() - t0
        t0 = pc()
        for _ in range(n):
            scratch.read_begin = pc()
            scratch.read_end = pc()
            scratch.read_wall = wall()
        reads = pc() - t0 - empty
        t0 = pc()
        for _ in range(n):
            scratch.read_begin = pc()
            scratch.read_end = pc()
            scratch.read_wall = wall()
            t_dec = pc()
            scratch.hop(ring, t_dec, 1e-3, t_dec, False)
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
