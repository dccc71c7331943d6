"""The bundle: one self-describing, versioned directory written by the exporter, read here.

Layout::

    NAME.mibundle/
        manifest.json          schema version, classes, channels, sampling rate, decoders,
                               member hashes, training provenance
        manifest.json.sha256   SHA-256 of manifest.json (detects a corrupt or edited manifest)
        manifest.json.sig      optional Ed25519 signature of manifest.json (see edge.signing)
        fgsft.npz              numeric arrays, loaded with allow_pickle=False (never pickle)
        ...                    other decoders' members (ONNX, TFLite files)

Every member listed in ``manifest["members"]`` carries its size and SHA-256; :func:`open_bundle`
refuses the bundle, naming the member and the reason, when one is missing, truncated, altered,
or when the schema is newer than this runtime understands.

Hardening (issue 11):

* Authenticity: with a trusted public key (``trusted_key=``, ``mi-edge check/run --trusted-key``
  or ``MI_EDGE_TRUSTED_KEY``) the Ed25519 signature of the exact manifest bytes must verify, so
  nobody without the exporter's private key can change a class name, a weight or a model, even
  with recomputed hashes; unsigned bundles are then refused. Without a trusted key bundles load
  as before (a signed one logs that its signature was not checked).
* No symlinks: the manifest, its hash, its signature and every member must be regular files
  reached without following a symbolic link (each path component is opened ``O_NOFOLLOW``).
  The bundle directory itself may be a symlink (``current.mibundle -> v3.mibundle`` is the way
  to switch versions atomically on the device).
* Read once: every member is read into memory once, its size and SHA-256 checked on those
  bytes, and decoders are built from the same bytes (:meth:`Bundle.member_bytes`,
  :meth:`Bundle.load_arrays`); the files are not read again, so swapping a file after the
  check changes nothing.
* Bounded: sizes are capped before reading (members, manifest) and before decompressing (each
  ``.npz`` entry's size in the zip directory and the array size its ``.npy`` header declares
  must agree and stay under :data:`MAX_ARRAYS_BYTES`); arrays are decompressed only when a
  decoder asks for them, so an unused entry is never inflated.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge import signing
from edge.bundle_files import member_parts, read_in_bundle, read_optional
from edge.bundle_npz import MAX_ARRAYS_BYTES, NpzArrays, NpzEntry, npz_index
from edge.errors import BundleError

__all__ = [
    "SCHEMA_VERSION",
    "REST_SCHEMA_VERSION",
    "FORMAT",
    "MANIFEST",
    "Bundle",
    "open_bundle",
    "verify_report",
    "add_trusted_key_argument",
    "sha256_bytes",
    "sha256_file",
    "MAX_ARRAYS_BYTES",
    "MAX_MEMBER_BYTES",
]

FORMAT = "mi-edge-bundle"
SCHEMA_VERSION = 2
#: Schema 2 adds ``rest_class`` (a trained "no control" state, never sent as a command) and a
#: decoder's ``operating_point``; exporters write 2 only for bundles with a rest class, so a
#: schema-1 runtime, which would send "rest" as a command, refuses those and only those.
REST_SCHEMA_VERSION = 2
MANIFEST = "manifest.json"
MANIFEST_HASH = "manifest.json.sha256"
SIGNATURE = signing.SIGNATURE
#: caps checked before anything is read into memory or decompressed
MAX_MANIFEST_BYTES = 16 * 2**20
MAX_MEMBER_BYTES = 512 * 2**20
REQUIRED_KEYS = ("format", "schema_version", "classes", "channels", "sfreq", "decoders", "members")


log = logging.getLogger(__name__)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --- the bundle ---------------------------------------------------------------------------------

@dataclass
class Bundle:
    """A verified bundle.

    Attributes
    ----------
    path : Path
    manifest : dict
        The parsed manifest.
    signed_by : str or None
        Key id of the trusted key whose signature verified, None when none was checked.
    """

    path: Path
    manifest: dict[str, Any]
    signed_by: str | None = None
    manifest_bytes: bytes = field(default=b"", repr=False)
    _members: dict[str, bytes] = field(default_factory=dict, repr=False)
    _npz: dict[str, dict[str, NpzEntry]] = field(default_factory=dict, repr=False)

    @property
    def classes(self) -> list[str]:
        return list(self.manifest["classes"])

    @property
    def rest_class(self) -> str | None:
        """The class that means "no control" (always the last class), or None: every class is
        a command."""
        return self.manifest.get("rest_class")

    @property
    def commands(self) -> list[str]:
        """The classes the device may be told to act on (every class but the rest class)."""
        return [c for c in self.classes if c != self.rest_class]

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

    def _listed(self, member: str) -> None:
        if member not in self.manifest["members"]:
            raise BundleError(f"{self.path}: member {member!r} is not listed in the manifest")

    def member_path(self, member: str) -> Path:
        """Path of a member file, for tools that need a file name (BrainFlow's MLModel).

        The file is *not* re-verified when read through this path; decoders use
        :meth:`member_bytes`, the bytes that were verified.
        """
        self._listed(member)
        return self.path / member

    def member_bytes(self, member: str) -> bytes:
        """The bytes of a member exactly as verified by :func:`open_bundle` (read once)."""
        self._listed(member)
        try:
            return self._members[member]
        except KeyError:
            raise BundleError(f"{self.path}: member {member!r} was not verified (open the bundle "
                              "with open_bundle)") from None

    def load_arrays(self, member: str,
                    keys: Iterable[str] | None = None) -> Mapping[str, np.ndarray]:
        """Numeric arrays of an ``.npz`` member, from its verified bytes (pickle refused).

        Without ``keys``, a lazy read-only mapping: an array is decompressed when looked up, so
        entries a decoder does not use are never inflated. With ``keys``, a dict of exactly
        those arrays (BundleError if one is missing). Sizes and shapes were bounded when the
        bundle was opened.
        """
        data = self.member_bytes(member)
        where = f"{self.path}: member {member}"
        index = self._npz.get(member)
        if index is None:
            index = self._npz[member] = npz_index(where, data)
        arrays = NpzArrays(where, data, index)
        if keys is None:
            return arrays
        keys = list(keys)
        missing = [k for k in keys if k not in index]
        if missing:
            raise BundleError(f"{where}: no array(s) {', '.join(missing)}")
        return {k: arrays[k] for k in keys}


def _read_manifest(path: Path) -> tuple[dict[str, Any], bytes]:
    raw = read_optional(path, MANIFEST, MAX_MANIFEST_BYTES)
    if raw is None:
        raise BundleError(f"{path}: {MANIFEST} is missing (not a bundle directory?)")
    recorded = read_optional(path, MANIFEST_HASH, 4096)
    if recorded is None:
        raise BundleError(f"{path}: {MANIFEST_HASH} is missing; cannot verify the manifest")
    words = recorded.decode("ascii", errors="replace").split()
    expected = words[0] if words else ""
    actual = sha256_bytes(raw)
    if expected != actual:
        raise BundleError(
            f"{path}: {MANIFEST}: SHA-256 mismatch (recorded {expected[:12]}..., actual "
            f"{actual[:12]}...): the manifest was edited or corrupted; re-export the bundle"
        )
    try:
        manifest = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path}: {MANIFEST} is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise BundleError(f"{path}: {MANIFEST} must hold a JSON object")
    return manifest, raw


#: ``trusted_key=UNCHECKED``: integrity only, signatures ignored even with MI_EDGE_TRUSTED_KEY
#: set (the exporter re-reading what it wrote or extends; never the runtime)
UNCHECKED = object()
_WARNED: set[tuple[str, str]] = set()


def _check_signature(path: Path, raw: bytes, trusted_key) -> str | None:
    """Verify ``manifest.json.sig`` with the trusted key (argument, else MI_EDGE_TRUSTED_KEY);
    returns the key id, or None when no key is configured."""
    if trusted_key is UNCHECKED:
        return None
    if trusted_key is None:
        trusted_key = signing.trusted_key_from_env()
    sig = read_optional(path, SIGNATURE, 4096)
    if trusted_key is None:
        seen = (str(path), sha256_bytes(raw))
        if sig is not None and seen not in _WARNED:  # once per bundle and process
            _WARNED.add(seen)
            log.warning("%s: bundle is signed, but no trusted key is configured "
                        "(--trusted-key or %s): signature not verified", path,
                        signing.TRUSTED_KEY_ENV)
        return None
    key = (signing.load_public_key(trusted_key) if isinstance(trusted_key, str | Path)
           else trusted_key)
    return signing.verify_manifest(path, raw, sig, key)


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
    if not isinstance(manifest["members"], dict) or not isinstance(manifest["decoders"], dict):
        raise BundleError(f"{path}: {MANIFEST}: members and decoders must be JSON objects")
    rest = manifest.get("rest_class")
    if rest is not None and rest != manifest["classes"][-1]:
        raise BundleError(f"{path}: {MANIFEST}: rest_class {rest!r} must be the last class "
                          f"(command indices on the wire are the first classes'); classes are "
                          f"{manifest['classes']}")


def _check_members(path: Path, manifest: dict[str, Any]) -> tuple[dict[str, bytes], list[str]]:
    data: dict[str, bytes] = {}
    lines = []
    for member, info in manifest["members"].items():
        member_parts(path, member)
        if not isinstance(info, dict) or not isinstance(info.get("bytes"), int):
            raise BundleError(f"{path}: member {member}: no size recorded in the manifest")
        try:
            blob = read_in_bundle(path, member, MAX_MEMBER_BYTES, expected=info["bytes"])
        except (FileNotFoundError, NotADirectoryError):
            raise BundleError(f"{path}: member {member} is missing") from None
        except IsADirectoryError:
            raise BundleError(f"{path}: member {member} is missing (a directory)") from None
        digest = sha256_bytes(blob)
        if digest != info.get("sha256"):
            raise BundleError(
                f"{path}: member {member}: SHA-256 mismatch (recorded "
                f"{str(info.get('sha256'))[:12]}..., actual {digest[:12]}...): modified or corrupt"
            )
        data[member] = blob
        lines.append(f"{member}: {len(blob)} bytes, sha256 {digest[:16]}... ok")
    for name, spec in manifest["decoders"].items():
        for member in spec.get("members", []):
            if member not in manifest["members"]:
                raise BundleError(f"{path}: decoder {name}: member {member} is not hashed in "
                                  "the manifest")
    return data, lines


def _open(path: str | Path, trusted_key) -> tuple[Bundle, list[str]]:
    p = Path(path)
    if not p.exists():
        raise BundleError(f"{p}: no such bundle")
    if not p.is_dir():
        raise BundleError(f"{p}: a bundle is a directory (NAME.mibundle/)")
    manifest, raw = _read_manifest(p)
    signed_by = _check_signature(p, raw, trusted_key)
    _check_schema(p, manifest)
    data, lines = _check_members(p, manifest)
    bundle = Bundle(path=p, manifest=manifest, signed_by=signed_by, manifest_bytes=raw,
                    _members=data)
    for member in data:
        if member.endswith(".npz"):
            bundle._npz[member] = npz_index(f"{p}: member {member}", data[member])
    sig = (f"signature: ed25519, trusted key {signed_by} ok" if signed_by else
           "signature: not checked (no trusted key configured)")
    head = f"{MANIFEST}: schema {manifest['schema_version']}, sha256 ok"
    return bundle, [head, sig, *lines]


def open_bundle(path: str | Path, trusted_key: str | Path | Any | None = None) -> Bundle:
    """Open and verify a bundle: manifest hash, signature (when a key is trusted), schema, every
    member's size and SHA-256, every ``.npz`` member's declared sizes.

    Parameters
    ----------
    path : path
        The bundle directory (may be a symlink to it).
    trusted_key : path or Ed25519PublicKey, optional
        Public key whose signature the bundle must carry; default ``MI_EDGE_TRUSTED_KEY`` if
        set. With neither, signatures are not checked.

    Raises
    ------
    BundleError
        Naming the member and the reason.
    """
    return _open(path, trusted_key)[0]


def add_trusted_key_argument(p) -> None:
    """``--trusted-key FILE`` on an ``mi-edge`` sub-command (default MI_EDGE_TRUSTED_KEY)."""
    p.add_argument("--trusted-key", type=Path, metavar="FILE",
                   help="Ed25519 public key the bundle must be signed with; unsigned or "
                        f"wrongly signed bundles are refused (default: ${signing.TRUSTED_KEY_ENV}"
                        " if set)")


def verify_report(path: str | Path, trusted_key: str | Path | Any | None = None) -> list[str]:
    """Human-readable lines of a successful verification (raises BundleError otherwise)."""
    return _open(path, trusted_key)[1]
