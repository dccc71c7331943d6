"""Electrode check before use: which channels carry EEG a decoder can trust.

:func:`check_signal` measures each channel of a few seconds of data; ``mi-edge signal-check``
(:func:`cmd_signal_check`) reads them from any BrainFlow board and prints a table (or JSON).
The runtime applies the window-level version of the same rules to every window
(:func:`edge.quality.check_window`): a window that fails is a BAD_SIGNAL fault, never a decision.

Per channel, over the whole check (thresholds in :class:`SignalThresholds`):

========== ================================================================== ==============
measure    how                                                                bad when
========== ================================================================== ==============
NaN        share of non-finite samples                                        any
railed     BrainFlow's ``DataFilter.get_railed_percentage`` at gain 24 (max   >= 90 % (warn
           magnitude as a share of the Cyton's +/-187,500 µV)                 >= 75 %)
flat       RMS of the detrended signal                                        < 0.5 µV
line noise RMS of the 50 / 60 Hz component (:func:`edge.quality.line_power`)  > 50 µV
noisy      RMS of the 2-40 Hz band (the EEG a decoder uses)                   > 100 µV
========== ================================================================== ==============

The line-noise *ratio* (line power over 2-40 Hz power) is reported as well; the verdict uses
the absolute level (see :mod:`edge.quality` for the measurements behind 50 µV). Railed and
near-railed follow the OpenBCI GUI's 90 % / 75 % marks. Lead-off impedance on a Cyton needs the
board's ``z`` commands and an attached board: it is not measured here.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from edge.quality import LINE_FREQS, line_power

__all__ = ["SignalThresholds", "ChannelSignal", "check_signal", "cmd_signal_check",
           "add_subparser"]

log = logging.getLogger(__name__)

EEG_BAND = (2.0, 40.0)


@dataclass(frozen=True)
class SignalThresholds:
    """Limits of :func:`check_signal` (µV unless stated)."""

    railed_pct: float = 90.0
    near_railed_pct: float = 75.0
    flat_uv: float = 0.5
    line_noise_uv: float = 50.0
    noisy_uv: float = 100.0
    gain: int = 24  # ADS1299 gain the railed percentage is computed for


@dataclass
class ChannelSignal:
    """What :func:`check_signal` measured on one channel, and its verdict."""

    name: str
    rms_uv: float
    eeg_rms_uv: float
    line_uv: float
    line_hz: float
    line_ratio: float
    railed_pct: float
    nan_pct: float
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_signal(data: np.ndarray, sfreq: float, names: list[str],
                 thresholds: SignalThresholds | None = None) -> list[ChannelSignal]:
    """Measure each channel and flag the bad ones.

    Parameters
    ----------
    data : ndarray, shape (n_channels, n_samples)
        EEG in µV as the board gives it (DC offsets are fine: the signal is detrended).
    sfreq : float
        Sampling rate, Hz.
    names : list of str, length n_channels
    thresholds : SignalThresholds, optional

    Returns
    -------
    list of ChannelSignal, one per channel, in order
    """
    th = thresholds or SignalThresholds()
    x = np.asarray(data, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != len(names) or x.shape[1] < 16:
        raise ValueError(f"data {x.shape}: expected ({len(names)} channels, >= 16 samples)")
    finite = np.isfinite(x)
    clean = np.where(finite, x, 0.0)
    line, band = line_power(clean, sfreq, LINE_FREQS, EEG_BAND)
    k = np.argmax(line, axis=1)
    from brainflow.data_filter import DataFilter  # here: `mi-edge check` must not need BrainFlow

    out = []
    for i, name in enumerate(names):
        row = clean[i] - np.polyval(np.polyfit(np.arange(x.shape[1]), clean[i], 1),
                                    np.arange(x.shape[1]))
        ch = ChannelSignal(
            name=name, rms_uv=float(np.sqrt(np.mean(row ** 2))),
            eeg_rms_uv=float(np.sqrt(band[i])), line_uv=float(np.sqrt(line[i, k[i]])),
            line_hz=float(LINE_FREQS[k[i]]),
            line_ratio=float(line[i, k[i]] / band[i]) if band[i] > 0 else float("inf"),
            railed_pct=float(DataFilter.get_railed_percentage(
                np.ascontiguousarray(clean[i]), th.gain)),
            nan_pct=float(100.0 * (1.0 - finite[i].mean())))
        _judge(ch, th)
        out.append(ch)
    return out


def _judge(ch: ChannelSignal, th: SignalThresholds) -> None:
    if ch.nan_pct > 0:
        ch.problems.append(f"NaN ({ch.nan_pct:.0f} % of samples)")
    if ch.railed_pct >= th.railed_pct:
        ch.problems.append(f"railed ({ch.railed_pct:.0f} % of full scale)")
    elif ch.railed_pct >= th.near_railed_pct:
        ch.warnings.append(f"near railed ({ch.railed_pct:.0f} %)")
    if ch.rms_uv < th.flat_uv:
        ch.problems.append(f"flat ({ch.rms_uv:.2g} µV RMS)")
    if ch.line_uv > th.line_noise_uv:
        ch.problems.append(f"line noise ({ch.line_uv:.0f} µV RMS at {ch.line_hz:g} Hz)")
    if ch.eeg_rms_uv > th.noisy_uv:
        ch.problems.append(f"noisy ({ch.eeg_rms_uv:.0f} µV RMS in 2-40 Hz)")


def _record(board, seconds: float) -> tuple[np.ndarray, float, list[str]]:
    """``seconds`` of every electrode of the board's montage, through BrainFlowSource."""
    from edge.brainflow_source import BrainFlowSource
    from edge.source import SourceEnded

    names = [n for n in board.resolve_montage().names if n is not None]
    sfreq = _board_rate(board)
    source = BrainFlowSource(board, names, sfreq)
    chunks = []
    need = int(round(seconds * sfreq))
    source.start()
    try:
        got = 0
        while got < need:
            try:
                chunk = source.read()
            except SourceEnded:
                break
            chunks.append(chunk.data)
            got += chunk.n_samples
            time.sleep(0.02)
    finally:
        source.stop()
    data = np.concatenate(chunks, axis=1)[:, :need] if chunks else np.zeros((len(names), 0))
    return data, sfreq, names


def _board_rate(board) -> float:
    from brainflow.board_shim import BoardShim

    return float(BoardShim.get_sampling_rate(board.data_board_id))


def cmd_signal_check(args) -> int:
    """``mi-edge signal-check``: exit 0 when every channel is good, 4 when one is not."""
    from edge.cli_args import board_config
    from edge.errors import InputError

    board = board_config(args)
    print(f"mi-edge signal-check: {board.label}, {args.duration:g} s ...", file=sys.stderr,
          flush=True)
    data, sfreq, names = _record(board, args.duration)
    if data.shape[1] < sfreq:
        raise InputError(f"{board.label}: only {data.shape[1]} samples in {args.duration:g} s; "
                         "need at least one second")
    report = check_signal(data, sfreq, names)
    bad = [c.name for c in report if not c.ok]
    if args.json:
        print(json.dumps({"ok": not bad, "board": board.label, "sfreq": sfreq,
                          "seconds": data.shape[1] / sfreq, "bad": bad,
                          "channels": [asdict(c) for c in report]}))
    else:
        print(format_table(report))
        print(f"{len(report) - len(bad)}/{len(report)} channels good"
              + (f"; fix or leave out ('-' in --montage): {', '.join(bad)}" if bad else ""))
    return 4 if bad else 0


def format_table(report: list[ChannelSignal]) -> str:
    """The report as a fixed-width table, one channel a line."""
    w = max(7, *(len(c.name) for c in report)) + 2
    lines = [f"{'channel':<{w}}{'RMS µV':>8}{'2-40 Hz':>9}{'line µV':>9}{'line/EEG':>10}"
             f"{'railed %':>10}  verdict"]
    for c in report:
        verdict = "; ".join(c.problems) if c.problems else "ok"
        if c.warnings:
            verdict += " (" + "; ".join(c.warnings) + ")"
        lines.append(f"{c.name:<{w}}{c.rms_uv:>8.1f}{c.eeg_rms_uv:>9.1f}{c.line_uv:>9.1f}"
                     f"{c.line_ratio:>10.2f}{c.railed_pct:>10.1f}  {verdict}")
    return "\n".join(lines)


def add_subparser(sub) -> None:
    """Register ``signal-check`` on ``mi-edge``'s sub-command parsers."""
    import argparse

    from edge.argtypes import positive_float
    from edge.cli_args import add_board_arguments

    p = sub.add_parser(
        "signal-check", help="flag bad electrodes (railed, flat, NaN, 50/60 Hz, noisy)",
        description=__doc__.split("\n\n")[1] + " Exit code 0 when every channel is good, 4 "
                    "when one is not.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""examples:
  mi-edge signal-check --board cyton --serial-port /dev/openbci --montage C3,Cz,C4,-,-,-,-,-
  mi-edge signal-check --board synthetic --duration 3 --json""")
    add_board_arguments(p)
    p.add_argument("--duration", type=positive_float, default=4.0,
                   help="seconds of data to check (default 4)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_signal_check)
