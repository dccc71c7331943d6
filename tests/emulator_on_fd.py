"""The device emulator on a pty master inherited from the test that started it.

``python tests/emulator_on_fd.py FD PORT LOG [--timeout-ms N] [--duration S]
[--read-bytes-per-s B] [--key HEX]``: serves the master FD (whose slave is PORT), writing one
JSON record per line to LOG, and prints ``ready`` once listening. The test keeps its own copy of
the master to read what the emulator has not read yet (the transmit backlog) and to discard it.
"""

from __future__ import annotations

import argparse
import sys

from firmware_bridge.emulator import Emulator


class InheritedPty(Emulator):
    """:class:`Emulator` reading a pty master it did not open."""

    def __init__(self, fd: int, port: str, **kw) -> None:
        super().__init__(**kw)
        self._fd, self._path = fd, port

    def open(self) -> str:
        self._master, self.port = self._fd, self._path
        self._emit({"event": "open", "port": self.port, "mode": self._mode()})
        return self.port


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("fd", type=int)
    p.add_argument("port")
    p.add_argument("log")
    p.add_argument("--timeout-ms", type=int, default=300)
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--read-bytes-per-s", type=float)
    p.add_argument("--key")
    p.add_argument("--ascii", action="store_true")
    args = p.parse_args()
    with open(args.log, "w", encoding="utf-8") as log:
        emu = InheritedPty(args.fd, args.port, heartbeat_timeout_ms=args.timeout_ms,
                           json_log=log, read_bytes_per_s=args.read_bytes_per_s,
                           key=bytes.fromhex(args.key) if args.key else None,
                           ascii_mode=args.ascii)
        emu.open()
        print("ready", flush=True)
        try:
            emu.run(args.duration)
        except KeyboardInterrupt:
            pass
        finally:
            emu.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
