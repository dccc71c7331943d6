"""``mi-bridge``: tools for the serial link between the mi-edge runtime and the device.

Subcommands: ``emulate`` (a device on a pseudo-terminal), ``send`` (a scripted host session),
``vectors`` (regenerate or check the shared test vectors) and ``c-build`` (host tests and the
ATmega328P cross-compile of the C library).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time

from edge.argtypes import non_negative_int, positive_float, positive_int
from edge.cli_main import run_command
from firmware_bridge import cbuild, vectorgen
from firmware_bridge.ascii_mode import AsciiEncoder
from firmware_bridge.emulator import Emulator, format_record
from firmware_bridge.frames import DELIMITER, FaultReason, FrameEncoder

EPILOG = """\
how the pieces fit:
  runtime (Pi) --frames--> serial port --> microcontroller (c/mi_bridge.c)
  `emulate` stands in for the microcontroller, with the same receiver rules.

try it on one machine, in two terminals:
  mi-bridge emulate --json-log /tmp/bridge.jsonl      # prints a port like /dev/pts/7
  mi-bridge send --port /dev/pts/7 --decisions 8       # a host session: HELLO, ..., STOP

protocol: firmware_bridge/PROTOCOL.md. Arduino sketch: firmware_bridge/c/examples/.
"""


def _key(text: str) -> bytes:
    """argparse type: a 16-byte MAC key as 32 hex digits."""
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 16:
        raise argparse.ArgumentTypeError(f"{text!r}: expected 32 hex digits (a 16-byte key)")
    return key


def _class_hash(text: str) -> int:
    """argparse type: a 32-bit class hash, decimal or 0x-hex; 0 accepts any model."""
    try:
        value = int(text, 0)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a 32-bit number such as "
                                         "0xe375b408 (0 = any)")
    return value


def _timeout_ms(text: str) -> int:
    """argparse type: the receiver timeout, 1..65535 ms (a u16 on the device)."""
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text}: expected 1..65535 ms")
    return value


def _class_names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",")]
    if not names or any(not n for n in names):
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated class names")
    return names


def _emulate(args: argparse.Namespace) -> int:
    log_file = open(args.json_log, "w", encoding="utf-8") if args.json_log else None

    def show(record: dict[str, object]) -> None:
        if not args.quiet and record.get("event") != "open":
            print(format_record(record), flush=True)

    emulator = Emulator(
        serial_port=args.port,
        baud=args.baud,
        heartbeat_timeout_ms=args.heartbeat_timeout_ms,
        ascii_mode=args.ascii,
        labels=args.labels,
        json_log=log_file,
        on_record=show,
        class_hash=args.class_hash,
        key=args.key,
        read_bytes_per_s=args.read_bytes_per_s,
    )
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        port = emulator.open()
        print(port, flush=True)
        if not args.quiet:
            print(
                f"# emulating the device on {port} ({'ascii' if args.ascii else 'binary'}, "
                f"timeout {args.heartbeat_timeout_ms} ms); Ctrl-C to stop",
                flush=True,
            )
        emulator.run(args.duration)
    except KeyboardInterrupt:
        pass
    finally:
        summary = emulator.summary()
        emulator.close()
        if log_file is not None:
            log_file.close()
    if not args.quiet:
        print("# summary " + json.dumps(summary), flush=True)
    return 0


def _send(args: argparse.Namespace) -> int:
    import serial

    names = args.classes
    period = 1.0 / args.rate
    with serial.serial_for_url(args.port, baudrate=args.baud) as port:
        if args.ascii:
            enc_a = AsciiEncoder(names)
            port.write(enc_a.hello())
            for i in range(args.decisions):
                port.write(enc_a.decision(i % len(names), 0.9))
                time.sleep(period)
            port.write(enc_a.stop())
        else:
            enc = FrameEncoder(key=args.key)
            port.write(DELIMITER + enc.hello(names, args.rate))
            for i in range(args.decisions):
                port.write(enc.decision(i % len(names), 0.9))
                time.sleep(period)
            if args.fault:
                port.write(enc.fault(FaultReason.BOARD_LOST))
            port.write(enc.stop() * 3)
        port.flush()
    return 0


def _vectors(args: argparse.Namespace) -> int:
    if args.check:
        fresh = vectorgen.dumps(vectorgen.build_vectors())
        current = vectorgen.VECTOR_PATH.read_text(encoding="utf-8")
        if fresh != current:
            print(f"mi-bridge: {vectorgen.VECTOR_PATH} is out of date; run `mi-bridge vectors`")
            return 1
        print(f"{vectorgen.VECTOR_PATH} is up to date")
        return 0
    path = vectorgen.write_vectors()
    doc = vectorgen.load_vectors(path)
    print(f"wrote {path}: {len(doc['vectors'])} vectors, {len(doc['scenarios'])} scenarios")
    return 0


def _c_build(args: argparse.Namespace) -> int:
    targets = ["test"] + ([] if args.no_avr else ["avr"])
    missing = cbuild.missing_tools(avr=not args.no_avr)
    if missing:
        print(f"mi-bridge: missing {', '.join(missing)}; run `make system-deps` (Debian)")
        return 1
    try:
        print(cbuild.make(targets, args.build_dir), end="")
    except cbuild.CBuildError as exc:
        print(f"mi-bridge: {exc}")
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mi-bridge",
        description="Fail-safe serial link from the mi-edge runtime to the device it drives.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    emu = sub.add_parser(
        "emulate",
        help="pretend to be the microcontroller: decode frames and show what it would do",
        description=(
            "Open a pseudo-terminal (or --port), print its path on the first line, then decode "
            "what the runtime writes with the firmware's rules: decisions, sequence gaps, CRC "
            "errors and safe-state transitions are shown live."
        ),
    )
    emu.add_argument("--port", dest="port", help="serial port to read instead of a new pty")
    emu.add_argument("--baud", type=positive_int, default=115200, help="baud rate (default 115200)")
    emu.add_argument(
        "--heartbeat-timeout-ms",
        type=_timeout_ms,
        default=500,
        help="silence before the safe state, and life of a command (default 500)",
    )
    emu.add_argument("--json-log", metavar="FILE", help="write one JSON record per line")
    emu.add_argument("--ascii", action="store_true", help="expect ASCII lines (`L 0.87`)")
    emu.add_argument("--labels", type=_class_names,
                     help="ASCII mode: comma-separated label per class, e.g. L,R")
    emu.add_argument("--duration", type=positive_float, help="stop after this many seconds")
    emu.add_argument(
        "--class-hash", type=_class_hash, default=0,
        help="class hash the device was built for (e.g. 0xe375b408 for left,right); 0 = any",
    )
    emu.add_argument("--key", type=_key,
                     help="MAC key, 32 hex digits: frames must be authenticated")
    emu.add_argument(
        "--read-bytes-per-s", type=positive_float, help="read slowly, like a busy device (testing)"
    )
    emu.add_argument("-q", "--quiet", action="store_true", help="print only the port path")
    emu.set_defaults(func=_emulate)

    send = sub.add_parser(
        "send",
        help="play a short host session to a port (to try `emulate` or a board)",
        description="HELLO, N decisions cycling through the classes, optional FAULT, STOP x3.",
    )
    send.add_argument("--port", required=True, help="serial port (e.g. the emulator's pty)")
    send.add_argument("--baud", type=positive_int, default=115200)
    send.add_argument("--classes", type=_class_names, default=["left", "right"],
                      help="comma-separated class names")
    send.add_argument("--rate", type=positive_float, default=4.0, help="decisions per second")
    send.add_argument("--decisions", type=non_negative_int, default=8)
    send.add_argument("--fault", action="store_true", help="send FAULT(board_lost) before STOP")
    send.add_argument("--ascii", action="store_true", help="ASCII mode instead of frames")
    send.add_argument("--key", type=_key, help="MAC key, 32 hex digits (binary mode)")
    send.set_defaults(func=_send)

    vec = sub.add_parser(
        "vectors",
        help="regenerate the shared test vectors from the Python encoder",
        description=f"Writes {vectorgen.VECTOR_PATH.name} (frames, rejections, scenarios).",
    )
    vec.add_argument("--check", action="store_true", help="only check the file is up to date")
    vec.set_defaults(func=_vectors)

    cb = sub.add_parser(
        "c-build",
        help="build and run the C host tests, cross-compile for ATmega328P, print flash/RAM",
    )
    cb.add_argument("--build-dir", default=None, help="build directory (default c/build)")
    cb.add_argument("--no-avr", action="store_true", help="host tests only")
    cb.set_defaults(func=_c_build)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    return run_command("mi-bridge", args.func, args, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
