"""Write bundles (the format is defined, and read, by :mod:`edge.bundle`).

A bundle is created by the first decoder exported into it; later decoders are added to the same
directory if its classes, channels and sampling rate match. Members are written to a temporary
file and renamed into place, and the manifest (with every member's size and SHA-256) is
rewritten last, so an interrupted export never leaves a bundle that verifies.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

import edge
from edge.bundle import (
    FORMAT,
    MANIFEST,
    MANIFEST_HASH,
    SCHEMA_VERSION,
    open_bundle,
    sha256_bytes,
)
from edge.errors import BundleError

__all__ = ["BundleWriter"]


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class BundleWriter:
    """Create a bundle, or add decoders to an existing one.

    Parameters
    ----------
    path : path
        Bundle directory (conventionally ``NAME.mibundle``).
    classes, channels : list of str
    sfreq : float
    """

    def __init__(self, path: str | Path, classes: list[str], channels: list[str], sfreq: float):
        self.path = Path(path)
        if (self.path / MANIFEST).exists():
            existing = open_bundle(self.path).manifest
            for key, value in (("classes", classes), ("channels", channels)):
                if list(existing[key]) != list(value):
                    raise BundleError(
                        f"{self.path}: existing bundle has {key} {existing[key]}, this export has "
                        f"{value}; write to a new bundle"
                    )
            if not np.isclose(float(existing["sfreq"]), sfreq):
                raise BundleError(f"{self.path}: existing bundle is at {existing['sfreq']} Hz, "
                                  f"this export at {sfreq} Hz; write to a new bundle")
            self.manifest = existing
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            self.manifest = {
                "format": FORMAT,
                "schema_version": SCHEMA_VERSION,
                "mi_edge_version": edge.__version__,
                "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                "classes": list(classes),
                "channels": list(channels),
                "sfreq": float(sfreq),
                "decoders": {},
                "members": {},
                "provenance": {},
            }

    def add_member(self, name: str, data: bytes) -> str:
        """Write a member file and record its size and hash; returns its name."""
        if "/" in name or name in (MANIFEST, MANIFEST_HASH):
            raise ValueError(f"bad member name {name!r}")
        _atomic_write(self.path / name, data)
        self.manifest["members"][name] = {"bytes": len(data), "sha256": sha256_bytes(data)}
        return name

    def add_arrays(self, name: str, arrays: dict[str, np.ndarray]) -> str:
        """Write numeric arrays as an ``.npz`` member (object arrays are refused)."""
        for key, arr in arrays.items():
            if np.asarray(arr).dtype == object:
                raise ValueError(f"array {key!r} has dtype object; bundles hold numbers only")
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return self.add_member(name, buf.getvalue())

    def add_decoder(self, name: str, spec: dict[str, Any], provenance: dict[str, Any]) -> None:
        """Record a decoder (``spec`` holds ``kind``, ``window``, ``members`` and parameters)."""
        missing = [m for m in spec.get("members", []) if m not in self.manifest["members"]]
        if missing:
            raise ValueError(f"decoder {name}: members {missing} were not written")
        self.manifest["decoders"][name] = spec
        self.manifest["provenance"][name] = {
            **provenance,
            "exported_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "command": " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:]),
        }

    def close(self) -> Path:
        """Write the manifest and its hash; returns the bundle path."""
        raw = json.dumps(self.manifest, indent=2, sort_keys=False).encode() + b"\n"
        _atomic_write(self.path / MANIFEST, raw)
        _atomic_write(self.path / MANIFEST_HASH, (sha256_bytes(raw) + "  manifest.json\n").encode())
        open_bundle(self.path)  # never hand out a bundle that does not verify
        return self.path
