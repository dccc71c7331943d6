"""The bundle: one self-describing, versioned directory written by the exporter, read here.

Layout::

    NAME.mibundle/
        manifest.json          schema version, classes, channels, sampling rate, decoders,
                               member hashes, training provenance
        manifest.json.sha256   SHA-256 of manifest.json (detects a corrupt or edited manifest)
        fgsft.npz              numeric arrays, loaded with allow_pickle=False (never pickle)
        ...                    other decoders' members (ONNX, TFLite files)

Every member listed in ``manifest["members"]`` carries its size and SHA-256; :func:`open_bundle`
refuses the bundle, naming the member and the reason, when one is missing, truncated, altered,
or when the schema is newer than this runtime understands.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import BundleError

__all__ = [
    "SCHEMA_VERSION",
    "FORMAT",
    "MANIFEST",
    "Bundle",
    "open_bundle",
    "sha256_bytes",
    "sha256_file",
]

FORMAT = "mi-edge-bundle"
SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
MANIFEST_HASH = "manifest.json.sha256"
REQUIRED_KEYS = ("format", "schema_version", "classes", "channels", "sfreq", "decoders", "members")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Bundle:
    """A verified bundle.

    Attributes
    ----------
    path : Path
    manifest : dict
        The parsed manifest.
    """

    path: Path
    manifest: dict[str, Any]

    @property
    def classes(self) -> list[str]:
        return list(self.manifest["classes"])

    @property
    def channels(self) -> list[str]:
        return list(self.manifest["channels"])

    @property
    def sfreq(self) -> float:
        return float(self.manifest["sfreq"])

    @property
    def decoder_names(self) -> list[str]:
        return list(self.manifest["decoders"])

    def decoder_spec(self, name: str) -> dict[str, Any]:
        try:
            return self.manifest["decoders"][name]
        except KeyError:
            raise BundleError(
                f"{self.path}: no decoder {name!r}; the bundle has {', '.join(self.decoder_names)}"
            ) from None

    def member_path(self, member: str) -> Path:
        if member not in self.manifest["members"]:
            raise BundleError(f"{self.path}: member {member!r} is not listed in the manifest")
        return self.path / member

    def load_arrays(self, member: str) -> dict[str, np.ndarray]:
        """Numeric arrays of an ``.npz`` member (pickle refused)."""
        path = self.member_path(member)
        try:
            with np.load(path, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        except Exception as exc:
            raise BundleError(f"{self.path}: member {member}: unreadable arrays ({exc})") from exc


def _read_manifest(path: Path) -> dict[str, Any]:
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"{path}: {MANIFEST} is missing (not a bundle directory?)")
    raw = mpath.read_bytes()
    hpath = path / MANIFEST_HASH
    if not hpath.is_file():
        raise BundleError(f"{path}: {MANIFEST_HASH} is missing; cannot verify the manifest")
    expected = hpath.read_text().split()[0] if hpath.read_text().strip() else ""
    actual = sha256_bytes(raw)
    if expected != actual:
        raise BundleError(
            f"{path}: {MANIFEST}: SHA-256 mismatch (recorded {expected[:12]}..., actual "
            f"{actual[:12]}...): the manifest was edited or corrupted; re-export the bundle"
        )
    try:
        manifest = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path}: {MANIFEST} is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise BundleError(f"{path}: {MANIFEST} must hold a JSON object")
    return manifest


def _check_schema(path: Path, manifest: dict[str, Any]) -> None:
    if manifest.get("format") != FORMAT:
        raise BundleError(f"{path}: {MANIFEST}: format is {manifest.get('format')!r}, "
                          f"expected {FORMAT!r}")
    version = manifest.get("schema_version")
    if not isinstance(version, int):
        raise BundleError(f"{path}: {MANIFEST}: schema_version missing or not an integer")
    if version > SCHEMA_VERSION:
        raise BundleError(
            f"{path}: bundle schema {version} is newer than this runtime supports "
            f"({SCHEMA_VERSION}); upgrade mi-edge on this device"
        )
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise BundleError(f"{path}: {MANIFEST}: missing key(s) {', '.join(missing)}")
    if len(manifest["channels"]) == 0 or len(manifest["classes"]) < 2:
        raise BundleError(f"{path}: {MANIFEST}: needs channels and at least two classes")


def _check_members(path: Path, manifest: dict[str, Any]) -> list[str]:
    lines = []
    for member, info in manifest["members"].items():
        mpath = path / member
        if Path(member).is_absolute() or ".." in Path(member).parts:
            raise BundleError(f"{path}: member {member!r}: path escapes the bundle")
        if not mpath.is_file():
            raise BundleError(f"{path}: member {member} is missing")
        size = mpath.stat().st_size
        if size != info.get("bytes"):
            raise BundleError(
                f"{path}: member {member}: {size} bytes, manifest says {info.get('bytes')} "
                "(truncated or replaced)"
            )
        digest = sha256_file(mpath)
        if digest != info.get("sha256"):
            raise BundleError(
                f"{path}: member {member}: SHA-256 mismatch (recorded "
                f"{str(info.get('sha256'))[:12]}..., actual {digest[:12]}...): modified or corrupt"
            )
        lines.append(f"{member}: {size} bytes, sha256 {digest[:16]}... ok")
    for name, spec in manifest["decoders"].items():
        for member in spec.get("members", []):
            if member not in manifest["members"]:
                raise BundleError(f"{path}: decoder {name}: member {member} is not hashed in "
                                  "the manifest")
    return lines


def open_bundle(path: str | Path) -> Bundle:
    """Open and verify a bundle (manifest hash, schema, every member's size and SHA-256).

    Raises
    ------
    BundleError
        Naming the member and the reason.
    """
    p = Path(path)
    if not p.exists():
        raise BundleError(f"{p}: no such bundle")
    if not p.is_dir():
        raise BundleError(f"{p}: a bundle is a directory (NAME.mibundle/)")
    manifest = _read_manifest(p)
    _check_schema(p, manifest)
    _check_members(p, manifest)
    return Bundle(path=p, manifest=manifest)


def verify_report(path: str | Path) -> list[str]:
    """Human-readable lines of a successful verification (raises BundleError otherwise)."""
    p = Path(path)
    manifest = _read_manifest(p)
    _check_schema(p, manifest)
    head = f"{MANIFEST}: schema {manifest['schema_version']}, sha256 ok"
    return [head, *_check_members(p, manifest)]
