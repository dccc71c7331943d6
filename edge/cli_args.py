"""Command-line options of ``mi-edge`` and the typed configurations they build.

The options keep BrainFlow's parameter names (``--serial-port``, ``--master-board``,
``--file``); below the CLI only :class:`edge.boards.BoardConfig` and
:class:`edge.loop.LoopConfig` travel, validated once here.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from edge.argtypes import (
    non_negative_float,
    non_negative_int,
    out_spec,
    positive_float,
    positive_int,
)
from edge.decision import DecisionConfig
from edge.errors import UsageError
from edge.loop import LoopConfig
from edge.quality import QualityConfig
from edge.serial_sink import read_link_key

if TYPE_CHECKING:
    from edge.boards import BoardConfig

__all__ = ["add_board_arguments", "add_loop_arguments", "add_output_arguments", "board_config",
           "loop_config", "decision_config", "check_link_timing", "link_key", "open_source",
           "DEVICE_TIMEOUT_MS"]

#: The receiver timeout of the example firmware (``HEARTBEAT_TIMEOUT_MS`` in the Arduino sketch).
DEVICE_TIMEOUT_MS = 500


def add_board_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the board options (BrainFlow's names) on a sub-command's parser."""
    g = parser.add_argument_group(
        "board", "the EEG source, with BrainFlow's parameter names (BrainFlowInputParams)")
    g.add_argument("--board", default="synthetic",
                   help="synthetic (default), playback, cyton, cyton-daisy, ganglion, a "
                        "BrainFlow board id, or lsl:STREAM (an LSL EEG stream by name; needs "
                        "pylsl)")
    g.add_argument("--serial-port", help="dongle port, e.g. /dev/ttyUSB0 or /dev/openbci")
    g.add_argument("--file", help="playback: BrainFlow file to play (mi-export playback)")
    g.add_argument("--master-board",
                   help="playback: board that recorded the file (default: from FILE.json)")
    g.add_argument("--ip-address", help="WiFi boards")
    g.add_argument("--ip-port", type=non_negative_int, default=0, help="WiFi boards")
    g.add_argument("--mac-address", help="BLE boards")
    g.add_argument("--serial-number", help="boards found by serial number")
    g.add_argument("--other-info", help="BrainFlow other_info")
    g.add_argument("--timeout", type=non_negative_int, default=0,
                   help="BrainFlow discovery timeout, s")
    g.add_argument("--montage",
                   help="electrode on each EEG input, in order, e.g. C3,Cz,C4,FC3,FC4,CP3,CP4,"
                        "Fz ('-' for an unused input; default: the board's OpenBCI GUI "
                        "placement; lsl: the stream's channel labels)")
    g.add_argument("--loopback", action="store_true", help="playback: loop the file forever")
    g.add_argument("--stall-timeout", type=positive_float, default=1.0,
                   help="no new sample for this long is a stall fault (default 1.0 s)")


def board_config(args: argparse.Namespace, **overrides: Any) -> BoardConfig:
    """The :class:`BoardConfig` of the options of :func:`add_board_arguments`.

    BrainFlow is imported here, not when the parser is built: ``mi-edge check`` works on a Pi
    before BrainFlow is built (deploy/README.md step 3).
    """
    from edge.boards import BoardConfig
    kw: dict[str, Any] = {
        "board": args.board,
        "serial_port": args.serial_port or "",
        "file": str(args.file) if args.file else "",
        "master_board": args.master_board,
        "ip_address": args.ip_address or "",
        "ip_port": args.ip_port,
        "mac_address": args.mac_address or "",
        "serial_number": args.serial_number or "",
        "other_info": args.other_info or "",
        "timeout": args.timeout,
        "montage": args.montage,
        "loopback": args.loopback,
        "stall_timeout_s": args.stall_timeout,
    }
    kw.update(overrides)
    return BoardConfig(**kw)


def open_source(args: argparse.Namespace, bundle: Any) -> tuple[Any, str]:
    """The EEG source of ``--board`` for ``bundle``, and its label: an LSL stream for
    ``lsl:STREAM`` (channels by the stream's labels, or ``--montage``), else a BrainFlow board."""
    kind, sep, stream = str(args.board).partition(":")
    if kind.lower() == "lsl" and sep:
        if not stream:
            raise UsageError("--board lsl:STREAM: give the LSL stream's name")
        from edge.lsl_source import LslSource

        source = LslSource(stream, bundle.channels, bundle.sfreq, montage=args.montage,
                           stall_timeout_s=args.stall_timeout)
        return source, source.label
    from edge.brainflow_source import BrainFlowSource

    board = board_config(args)
    return BrainFlowSource.from_bundle(bundle, board), board.label


def add_loop_arguments(p: argparse.ArgumentParser) -> None:
    """Register the decoding and decision options."""
    g = p.add_argument_group("decoding and decisions")
    g.add_argument("--decoder", help="decoder of the bundle to run (default: the first one)")
    g.add_argument("--hop", type=positive_float, default=0.125,
                   help="decode a window every HOP seconds of data (default 0.125)")
    g.add_argument("--smoothing", type=positive_float,
                   help="weight of the newest posterior in the moving average, 1 = none "
                        "(default: the bundle's operating point, else 0.5)")
    g.add_argument("--threshold", type=positive_float,
                   help="smoothed probability the leading class must reach (default: the "
                        "bundle's operating point, else 0.6)")
    g.add_argument("--dwell", type=positive_int,
                   help="consecutive windows it must lead above threshold (default: the "
                        "bundle's operating point, else 2)")
    g.add_argument("--line-noise-uv", type=non_negative_float, default=50.0,
                   help="a window with more than this RMS of 50/60 Hz on a channel is a "
                        "BAD_SIGNAL fault, not a decision (50 uV; 0 = off, e.g. to replay lab "
                        "recordings whose mains hum the decoder's band-pass removes)")
    g.add_argument("--adapt-horizon", type=non_negative_float, metavar="S",
                   help="decoders that adapt to the wearer (riemann): re-center to a running "
                        "mean of the last S seconds of windows, no labels used (default: the "
                        "bundle's; 0 = off)")
    g.add_argument("--no-adapt", action="store_true",
                   help="no online adaptation: the calibration reference only "
                        "(--adapt-horizon 0)")
    g.add_argument("--refractory", type=non_negative_float,
                   help="seconds after a decision before the next one (default: the bundle's "
                        "operating point, else 1.0)")


def decision_config(args: argparse.Namespace,
                    operating_point: dict[str, Any] | None = None) -> DecisionConfig:
    """The decision settings: each flag given wins, then the bundle's operating point (chosen
    at export on the training runs), then the built-in defaults."""
    base = DecisionConfig()
    point = operating_point or {}
    given = {"smoothing": args.smoothing, "threshold": args.threshold, "dwell": args.dwell,
             "refractory_s": args.refractory}
    kw = {k: v if v is not None else point.get(k, getattr(base, k)) for k, v in given.items()}
    try:
        return DecisionConfig(smoothing=float(kw["smoothing"]), threshold=float(kw["threshold"]),
                              dwell=int(kw["dwell"]), refractory_s=float(kw["refractory_s"]))
    except (TypeError, ValueError) as exc:
        raise UsageError(f"decision settings {kw}: {exc}") from None


def loop_config(args: argparse.Namespace, realtime: bool, sfreq: float,
                operating_point: dict[str, Any] | None = None) -> LoopConfig:
    """The :class:`LoopConfig` of the options of :func:`add_loop_arguments`, for a bundle at
    ``sfreq`` Hz (a hop must span at least one sample) whose decoder may carry an operating
    point (:func:`decision_config`)."""
    if args.hop * sfreq < 1:
        raise UsageError(f"--hop {args.hop:g}: shorter than one sample at {sfreq:g} Hz; use at "
                          f"least {1 / sfreq:g} s")
    decision = decision_config(args, operating_point)
    try:
        quality = QualityConfig(line_noise_uv=args.line_noise_uv)
        adapt = 0.0 if getattr(args, "no_adapt", False) else \
            getattr(args, "adapt_horizon", None)
        return LoopConfig(hop_s=args.hop, realtime=realtime, decision=decision, quality=quality,
                          adapt_horizon_s=adapt)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def add_output_arguments(p: argparse.ArgumentParser, required: bool, out_help: str) -> None:
    """Register where decisions go and the serial link's settings."""
    g = p.add_argument_group("outputs")
    g.add_argument("--out", action="append", required=required, type=out_spec, help=out_help)
    g.add_argument("--ascii", action="store_true", help="serial: ASCII lines, not binary frames")
    g.add_argument("--baud", type=positive_int, default=115200, help="serial baud rate (115200)")
    g.add_argument("--heartbeat-ms", type=positive_int, default=250,
                   help="HEARTBEAT after this much idle time; announced in HELLO (250); at most "
                        "half of --device-timeout-ms")
    g.add_argument("--device-timeout-ms", type=positive_int, default=DEVICE_TIMEOUT_MS,
                   help="the receiver timeout the device firmware was built with "
                        f"(default {DEVICE_TIMEOUT_MS}, the example sketch's)")
    g.add_argument("--link-key", metavar="FILE",
                   help="serial: authenticate every frame with SipHash-2-4 (PROTOCOL.md 7) "
                        "under the 16-byte key in FILE (32 hex digits or 16 raw bytes; the "
                        "device needs the same key). For links that are not a wire (radio, "
                        "Bluetooth serial)")


def link_key(args: argparse.Namespace) -> bytes | None:
    """The serial link's MAC key from ``--link-key FILE`` (None: frames carry no MAC)."""
    if not args.link_key:
        return None
    if args.ascii:
        raise UsageError("--link-key: ASCII lines carry no MAC; drop --ascii or the key")
    return read_link_key(args.link_key)


def check_link_timing(args: argparse.Namespace) -> None:
    """A heartbeat slower than half the device's timeout lets an idle link time out."""
    if args.heartbeat_ms * 2 > args.device_timeout_ms:
        raise UsageError(f"--heartbeat-ms {args.heartbeat_ms}: the device goes safe after "
                          f"{args.device_timeout_ms} ms without a frame; use at most "
                          f"{args.device_timeout_ms // 2} ms (or raise --device-timeout-ms to "
                          "what the firmware uses)")
