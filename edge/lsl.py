"""Lab Streaming Layer (LSL): what the LSL source and sink share.

LSL is how OpenBCI GUI, OpenViBE, Timeflux and NeuroPype exchange streams on a network. The
runtime reads an EEG stream (:mod:`edge.lsl_source`, ``--board lsl:STREAM``) and publishes its
decisions and posteriors (:mod:`edge.lsl_sink`, ``--out lsl[:NAME]``).

pylsl is an optional extra (``pip install mi-edge[lsl]``). Its x86_64 Linux wheel carries liblsl;
its aarch64 wheel (the Raspberry Pi) does not, and ``import pylsl`` then fails: deploy/README.md
("Lab Streaming Layer") says how to install liblsl there. Either way the user gets one line
(:class:`LslUnavailable`), not a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edge.errors import MiEdgeError

__all__ = ["LslUnavailable", "import_pylsl", "channel_labels", "channel_units", "add_children",
           "lsl_errors"]


class LslUnavailable(MiEdgeError):
    """pylsl or its native library liblsl is not installed."""

    exit_code = 4


def import_pylsl() -> Any:
    """The ``pylsl`` module, or :class:`LslUnavailable` saying how to get it.

    liblsl logs only warnings and errors (``edge/lsl_api.cfg``) unless ``LSLAPICFG`` names
    another configuration file."""
    os.environ.setdefault("LSLAPICFG", str(Path(__file__).with_name("lsl_api.cfg")))
    try:
        import pylsl
    except ImportError:
        raise LslUnavailable("LSL needs pylsl: pip install 'mi-edge[lsl]' (or pip install "
                             "pylsl); on a Raspberry Pi also liblsl, see deploy/README.md "
                             "(Lab Streaming Layer)") from None
    except (RuntimeError, OSError) as exc:  # pylsl without liblsl (aarch64 wheel)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LslUnavailable(f"pylsl is installed but liblsl is not ({first}); install "
                             "liblsl (deploy/README.md, Lab Streaming Layer) or set "
                             "PYLSL_LIB to its path") from None
    return pylsl


def lsl_errors() -> tuple[type[Exception], type[Exception]]:
    """pylsl's ``(LostError, TimeoutError)`` (``pylsl.util`` from 1.17, ``pylsl.pylsl`` in 1.16)."""
    try:
        from pylsl.util import LostError, TimeoutError
    except ImportError:  # pylsl 1.16
        from pylsl.pylsl import LostError, TimeoutError  # type: ignore[no-redef]
    return LostError, TimeoutError


def channel_labels(info: Any) -> list[str | None]:
    """The ``label`` of each channel in an LSL stream info's ``desc/channels`` (None for a
    channel without one; empty when the stream describes no channels), per the XDF/LSL
    meta-data conventions."""
    labels: list[str | None] = []
    ch = info.desc().child("channels").child("channel")
    while not ch.empty():
        label = ch.child_value("label").strip()
        labels.append(label or None)
        ch = ch.next_sibling("channel")
    return labels


def channel_units(info: Any) -> list[str]:
    """The ``unit`` of each described channel ('' where none is given)."""
    units: list[str] = []
    ch = info.desc().child("channels").child("channel")
    while not ch.empty():
        units.append(ch.child_value("unit").strip())
        ch = ch.next_sibling("channel")
    return units


def add_children(parent: Any, values: dict[str, object]) -> None:
    """``<key>value</key>`` under ``parent`` for each item (an LSL XML description element)."""
    for key, value in values.items():
        parent.append_child_value(key, str(value))
