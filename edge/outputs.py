"""``--out`` specifications to sinks: ``serial:PORT``, ``jsonl:PATH``, ``stdout``."""

from __future__ import annotations

from edge.jsonl_sink import JsonlSink
from edge.serial_sink import SerialSink
from edge.sinks import Sink

__all__ = ["open_sinks"]


def open_sinks(specs: list[str], ascii_mode: bool = False, baudrate: int = 115200,
               heartbeat_ms: int = 250, link_key: bytes | None = None) -> list[Sink]:
    """Build sinks from ``serial:PORT``, ``jsonl:PATH`` or ``stdout`` specifications; JSON
    sinks report what the serial sinks do about the link (:meth:`JsonlSink.watch`)."""
    sinks: list[Sink] = []
    for spec in specs:
        kind, _, arg = spec.partition(":")
        if kind == "serial" and arg:
            sinks.append(SerialSink(arg, baudrate, ascii_mode, heartbeat_ms,
                                    link_key=link_key))
        elif kind == "jsonl" and arg:
            sinks.append(JsonlSink(arg))
        elif spec == "stdout":
            sinks.append(JsonlSink("-"))
        else:
            raise ValueError(f"--out {spec!r}: expected serial:PORT, jsonl:PATH or stdout")
    for jsonl in (s for s in sinks if isinstance(s, JsonlSink)):
        for serial in (s for s in sinks if isinstance(s, SerialSink)):
            jsonl.watch(serial)
    return sinks
