"""``mi-edge``: the runtime on the device.

* ``mi-edge check BUNDLE``: verify a bundle the way the runtime loads it (manifest hash, schema
  version, every member's size and SHA-256, every decoder built from its arrays);
* ``mi-edge run BUNDLE --board ... --out serial:PORT``: decode a BrainFlow board in real time
  and send decisions to the device;
* ``mi-edge replay BUNDLE RECORDING...``: the same loop over recordings, as fast as possible,
  scored against their cues (pseudo-online evaluation);
* ``mi-edge profile BUNDLE --board ...``: the real loop with stage probes, every decoder of the
  bundle side by side, a JSON/markdown/PNG latency report.
"""

from __future__ import annotations

import os

# Small-matrix numpy work (filters, covariances, divCSP) only slows down with several BLAS
# threads, badly so on a shared or small CPU; the user can still override these.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import logging
import platform
import signal
import sys
import warnings
from pathlib import Path

from edge.argtypes import positive_float, view_address
from edge.bundle import add_trusted_key_argument, open_bundle, verify_report
from edge.bundle_check import check_classes, check_outputs
from edge.calibrate_cli import add_subparser as add_calibrate
from edge.cli_args import (
    add_board_arguments,
    add_loop_arguments,
    add_output_arguments,
    board_config,
    check_link_timing,
    link_key,
    loop_config,
    open_source,
)
from edge.cli_main import run_command
from edge.cli_replay import add_replay_parser
from edge.decoders import decoder_spec, load_decoder
from edge.errors import BundleError
from edge.signal_check import add_subparser as add_signal_check


def cmd_check(args: argparse.Namespace) -> int:
    lines = verify_report(args.bundle, trusted_key=args.trusted_key)
    bundle = open_bundle(args.bundle, trusted_key=args.trusted_key)
    check_classes(bundle)
    selected = args.decoder or bundle.decoder_names[0]
    if selected not in bundle.decoder_names:
        raise BundleError(f"{args.bundle}: no decoder {selected!r}; it has "
                          f"{', '.join(bundle.decoder_names)}")
    decoders, warned = {}, {}
    for name in bundle.decoder_names:
        try:
            dec = load_decoder(bundle, name)
            check_outputs(bundle, dec)
        except BundleError as exc:
            # the decoder that will run must work; the others only warn (a Pi without a
            # TFLite interpreter can still run the bundle's FGSFT) unless --all asks
            if name == selected or args.all:
                raise
            warned[name] = str(exc)
            continue
        decoders[name] = {"kind": dec.kind, "n_channels": dec.n_channels,
                          "n_samples": dec.n_samples, "runs": name == selected,
                          "window": decoder_spec(bundle, name).window.to_dict(),
                          "operating_point": decoder_spec(bundle, name).operating_point}
    if args.json:
        print(json.dumps({"ok": True, "bundle": str(args.bundle),
                          "schema_version": bundle.manifest["schema_version"],
                          "classes": bundle.classes, "rest_class": bundle.rest_class,
                          "channels": bundle.channels,
                          "sfreq": bundle.sfreq, "decoder": selected, "decoders": decoders,
                          "warnings": warned}))
        return 0
    for line in lines:
        print(line)
    print(f"classes {bundle.classes}; {len(bundle.channels)} channels at {bundle.sfreq:g} Hz"
          + (f"; '{bundle.rest_class}' means no control (never a command)"
             if bundle.rest_class else ""))
    for name, d in decoders.items():
        w = d["window"]
        print(f"decoder {name} ({d['kind']}): {d['n_channels']} x {d['n_samples']} window "
              f"({w['tmax'] - w['tmin']:g} s), outputs probabilities"
              + (" <- runs" if d["runs"] else ""))
    for name, why in warned.items():
        print(f"warning: decoder {name} cannot run on this device: {why}", file=sys.stderr)
    print(f"{args.bundle}: OK")
    return 0


def _pick_decoder(bundle, name: str | None):
    return load_decoder(bundle, name or bundle.decoder_names[0])


def _describe(decision, point, rest_class) -> str:
    """The decision settings in force, and where they came from."""
    text = (f"threshold {decision.threshold:g}, dwell {decision.dwell}, refractory "
            f"{decision.refractory_s:g} s, smoothing {decision.smoothing:g}")
    text += " (bundle's operating point unless a flag said otherwise)" if point else ""
    return text + (f"; '{rest_class}' is never a command" if rest_class else "")


def cmd_run(args: argparse.Namespace) -> int:
    from edge.loop import Runtime
    from edge.outputs import open_sinks
    from edge.serial_sink import SerialSink
    from edge.view import open_view, session_meta

    check_link_timing(args)
    key = link_key(args)
    bundle = open_bundle(args.bundle, trusted_key=args.trusted_key)
    decoder = _pick_decoder(bundle, args.decoder)
    check_classes(bundle)
    check_outputs(bundle, decoder)  # a bundle that would crash the loop is refused (exit 3)
    point = decoder_spec(bundle, decoder.name).operating_point
    config = loop_config(args, realtime=True, sfreq=bundle.sfreq, operating_point=point)
    source, source_label = open_source(args, bundle)
    meta = session_meta(bundle, decoder)
    sinks = open_sinks(args.out, ascii_mode=args.ascii, baudrate=args.baud,
                       heartbeat_ms=args.heartbeat_ms, link_key=key, meta=meta)
    view = open_view(args.view, bundle, sinks, config, meta) if args.view else None
    runtime = Runtime(decoder, bundle.channels, bundle.sfreq, source,
                      sinks + ([view] if view else []), config, [view] if view else None,
                      rest_class=bundle.rest_class)

    def on_signal(signum, frame):  # noqa: ARG001
        logging.getLogger("edge").warning("%s: stopping (STOP goes to the device)",
                                          signal.Signals(signum).name)
        runtime.request_stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(f"mi-edge: decoder {decoder.name} ({decoder.kind}) on {source_label}, "
          f"{len(bundle.channels)} channels at {bundle.sfreq:g} Hz, window "
          f"{decoder.n_samples / bundle.sfreq:g} s every {args.hop:g} s -> "
          f"{', '.join(args.out)}; {_describe(config.decision, point, bundle.rest_class)}"
          + f"; machine {platform.machine()}"
          + (f"; live view at {view.url}" if view else ""),  # the address stays the last word
          file=sys.stderr, flush=True)
    stats = runtime.run(args.duration)
    summary = {"hops": stats.hops, "decisions": stats.decisions, "faults": stats.faults,
               "bad_windows": stats.bad_windows, "lost_samples": stats.lost_samples,
               "skipped_hops": stats.skipped_hops, "evidence_resets": stats.evidence_resets,
               "decode_ms_median": round(stats.decode_s.median_ms() or 0.0, 2)}
    for serial in (s for s in sinks if isinstance(s, SerialSink)):
        link = serial.link  # what the link did about a device that did not keep up
        summary.update({"link_flushes": link.flushes, "bytes_flushed": link.bytes_flushed,
                        "commands_held": link.commands_held,
                        "hellos_resent": link.hellos_resent, "max_backlog": link.max_backlog,
                        "frames_lost": link.write_failures})
    print("mi-edge: stopped; " + ", ".join(f"{k} {v}" for k, v in summary.items()),
          file=sys.stderr, flush=True)
    return 0


def _compared_decoders(bundle, primary, compare: bool) -> tuple[list, dict[str, str]]:
    """The bundle's other decoders (those that load here), and why the others did not."""
    decoders, skipped = [], {}
    for name in bundle.decoder_names if compare else []:
        if name == primary.name:
            continue
        try:
            decoders.append(load_decoder(bundle, name))
        except Exception as exc:  # noqa: BLE001 - e.g. no TFLite interpreter on this device
            skipped[name] = str(exc)
    return decoders, skipped


def _profile_outputs(args: argparse.Namespace):
    """The --out specs with a serial link first: the device's port, else a drained pty."""
    from edge.profiling import PtyDrain

    specs = [spec for spec in args.out or [] if spec not in ("serial", "serial:")]
    pty = None
    if not any(s.startswith("serial:") for s in specs):
        pty = PtyDrain().start()  # the serial write is real: a pty instead of the device
        specs.insert(0, f"serial:{pty.port}")
    return specs, pty


def cmd_profile(args: argparse.Namespace) -> int:
    import dataclasses
    import time

    from edge.brainflow_source import BrainFlowSource
    from edge.loop import Runtime
    from edge.outputs import open_sinks
    from edge.profile_report import ProfileRun, build_report, markdown_table, write_report
    from edge.profiling import CpuMeter, Probes, peak_rss_bytes
    from edge.serial_sink import SerialSink
    from edge.sinks import SinkError

    check_link_timing(args)
    if args.output.exists() and not args.output.is_dir():
        raise SinkError(f"-o {args.output}: exists and is not a directory; the report is a "
                        "directory of files")
    bundle = open_bundle(args.bundle)
    primary = _pick_decoder(bundle, args.decoder)
    compare, skipped = _compared_decoders(bundle, primary, args.compare)
    specs, pty = _profile_outputs(args)
    board = board_config(args)
    source = BrainFlowSource.from_bundle(bundle, board)
    sinks = open_sinks(specs, ascii_mode=args.ascii, baudrate=args.baud,
                       heartbeat_ms=args.heartbeat_ms, link_key=link_key(args))
    serial = next(s for s in sinks if isinstance(s, SerialSink))
    point = decoder_spec(bundle, primary.name).operating_point
    config = dataclasses.replace(loop_config(args, realtime=True, sfreq=bundle.sfreq,
                                             operating_point=point), poll_s=args.poll)
    capacity = int((args.duration or 600.0) / config.hop_s * 1.25) + 64
    probes = Probes(primary.name, compare, capacity)
    serial.subscribe(probes)
    runtime = Runtime(primary, bundle.channels, bundle.sfreq, source, sinks, config,
                      observers=[probes], rest_class=bundle.rest_class)

    def on_signal(signum, frame):  # noqa: ARG001
        runtime.request_stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    where = f"pty {pty.port}" if pty else ", ".join(specs)
    print(f"mi-edge profile: {primary.name} ({primary.kind}) deciding"
          + (f", compared: {', '.join(d.name for d in compare)}" if compare else "")
          + f"; {board.label}; serial -> {where}; "
          + (f"{args.duration:g} s" if args.duration else "until Ctrl-C / end of file"),
          file=sys.stderr, flush=True)
    cpu = CpuMeter()
    started = time.time()
    try:
        stats = runtime.run(args.duration)
    finally:
        if pty is not None:
            pty.stop()
    run = ProfileRun(
        bundle=Path(args.bundle), board=board.label,
        serial_port="pty (drained)" if pty else where, primary=primary, compare=compare,
        skipped=skipped, config=config, duration_s=args.duration, compare_on=bool(args.compare),
        started_unix=started, usage=cpu.read(), peak_rss=peak_rss_bytes(), stats=stats,
        serial_dropped=serial.dropped)
    report = write_report(args.output, build_report(run, probes), probes)
    if args.json:
        print(json.dumps(report))
    else:
        print(markdown_table(report), end="")
        print(f"written to {args.output}/: {', '.join(report['files'])}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mi-edge",
        description="mi-edge runtime: verify bundles and decode EEG on the device (no torch).")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "check", help="verify a bundle (hashes, schema, decoders) before deploying it",
        description="Verify a bundle: manifest hash (and signature with --trusted-key), schema "
                    "version, each member's size and SHA-256; class names the serial link can "
                    "carry; and that the decoder run will use builds and turns test windows into "
                    "finite probabilities of the bundle's classes (the others are tried too and "
                    "only warn, e.g. without a TFLite interpreter). Exit code 0 when it is good, "
                    "3 when it is refused (the message names the member and the reason).")
    p.add_argument("bundle", type=Path)
    p.add_argument("--decoder", help="the decoder `run` will use (default: the first); it must "
                                     "work, the others only warn")
    p.add_argument("--all", action="store_true", help="every decoder must work here")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_trusted_key_argument(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser(
        "run", help="decode a BrainFlow board in real time and send decisions to the device",
        description="Read the board through BrainFlow, decode a window every hop with the "
                    "bundle's decoder, turn posteriors into debounced decisions and send them: "
                    "HELLO at start, a DECISION (or HOLD) per hop, HEARTBEAT when idle, FAULT on "
                    "a stalled/lost board or bad signal, STOP on SIGINT/SIGTERM.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""examples:
  # a Cyton on the dongle, decisions to the microcontroller on /dev/mi-bridge
  mi-edge run S007.mibundle --board cyton --serial-port /dev/openbci \\
      --montage C3,Cz,C4,FC3,FC4,CP3,CP4,C1 --out serial:/dev/mi-bridge
  # replay a BrainFlow playback file as if the Cyton were attached, to the device emulator
  mi-bridge emulate &            # prints a port such as /dev/pts/5
  mi-edge run S007.mibundle --board playback --file run12.csv --master-board cyton \\
      --out serial:/dev/pts/5 --out jsonl:decisions.jsonl
  # a radio link: every frame carries a MAC under a pre-shared key (the device has it too)
  head -c 16 /dev/urandom | xxd -p > link.key
  mi-edge run S007.mibundle --board cyton --serial-port /dev/openbci \\
      --out serial:/dev/rfcomm0 --link-key link.key
  # hobbyist ASCII lines (`L 0.87`) instead of binary frames
  mi-edge run b.mibundle --board synthetic --out serial:/dev/ttyACM0 --ascii --duration 30
  # an LSL EEG stream in (OpenBCI GUI's LSL widget), decisions and posteriors out over LSL,
  # and a live view at http://127.0.0.1:8080/ (pip install 'mi-edge[lsl]')
  mi-edge run S007.mibundle --board lsl:obci_eeg1 --out lsl:mi-edge --view 8080""")
    p.add_argument("bundle", type=Path)
    add_board_arguments(p)
    add_loop_arguments(p)
    add_output_arguments(p, required=True, out_help="serial:PORT (firmware bridge protocol), "
                         "jsonl:PATH, stdout, or lsl[:NAME] (LSL streams NAME-decisions and "
                         "NAME-posteriors, NAME default mi-edge); repeatable")
    p.add_argument("--duration", type=positive_float, help="stop after this many seconds")
    p.add_argument("--view", metavar="[HOST:]PORT", type=view_address,
                   help="serve a live view (signal quality, posteriors, state, commands, hop "
                        "timing) at http://HOST:PORT/ (HOST default 127.0.0.1); off by default")
    add_trusted_key_argument(p)
    p.set_defaults(func=cmd_run)

    add_replay_parser(sub)

    p = sub.add_parser(
        "profile", help="latency of every stage of the real loop on this device, every decoder",
        description="Run the real loop (any BrainFlow board, synthetic and playback included) "
                    "with probes at each stage: read (from the newest sample's BrainFlow "
                    "timestamp to the read that returned it: BrainFlow's delivery latency), "
                    "read_call, preprocess, decode:<decoder>, decision, serial_write, and e2e, "
                    "from the newest sample's timestamp to the return of the serial write. The "
                    "bundle's other decoders run on the same windows after each decision has "
                    "been sent, timed separately. Reports p50/p95/p99/max per stage, decisions "
                    "per second, CPU share, peak RSS and the machine; writes profile.json, "
                    "profile.md, hops.csv and PNG plots (with matplotlib) to -o DIR.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""Without --out serial:PORT the decisions go to a pseudo-terminal pair opened here
(os.openpty), drained by a thread: the serial write is a real tty write. Give the
device's port to include its driver (e.g. an FTDI adapter's latency timer).

examples:
  # a Cyton on the Pi, 60 s, decisions to the microcontroller
  mi-edge profile S007.mibundle --board cyton --serial-port /dev/openbci \\
      --out serial:/dev/mi-bridge --duration 60 -o profile/
  # no headset: BrainFlow's playback board replays a real recording in real time
  mi-export playback data/eegmmidb/S007_R12_continuous.npz --board cyton \\
      --channels C3 Cz C4 FC3 FC4 CP3 CP4 C1 -o r12.csv
  mi-edge profile S007.mibundle --board playback --file r12.csv --duration 60 -o profile/
  # the synthetic board, only the deciding decoder, JSON on stdout
  mi-edge profile b.mibundle --board synthetic --montage ... --no-compare --json""")
    p.add_argument("bundle", type=Path)
    add_board_arguments(p)
    add_loop_arguments(p)
    p.add_argument("--poll", type=positive_float, default=None,
                   help="poll the board every POLL s (the loop before issue 15); default: "
                        "sleep until the next hop's samples are due, as mi-edge run")
    p.add_argument("--compare", action=argparse.BooleanOptionalAction, default=True,
                   help="run the bundle's other decoders on the same windows (default: on)")
    add_output_arguments(p, required=False, out_help="serial:PORT (default: a drained pty), "
                         "jsonl:PATH; repeatable")
    p.add_argument("--duration", type=positive_float, default=60.0,
                   help="seconds to profile (default 60; a playback file may end sooner)")
    p.add_argument("-o", "--output", type=Path, default=Path("profile"),
                   help="report directory (default ./profile)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(func=cmd_profile)
    add_signal_check(sub)
    add_calibrate(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # BrainFlow 5.x imports pkg_resources, which warns on every start; not ours to fix here
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    return run_command("mi-edge", args.func, args, verbose=args.verbose,
                       json_errors=getattr(args, "json", False),
                       interrupted="interrupted (STOP was sent to the device)")


if __name__ == "__main__":
    sys.exit(main())
