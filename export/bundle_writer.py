"""Write bundles (the format is defined, and read, by :mod:`edge.bundle`).

A bundle is created by the first decoder exported into it; later decoders are added to the same
directory if its classes, channels and sampling rate match.

Atomic: members are kept in memory until :meth:`BundleWriter.close`, which writes the whole
new bundle (the kept members of an existing bundle copied from their verified bytes, the new
ones, the manifest, its hash and signature) into a temporary directory beside the target, on
the same file system, fsyncs it, verifies it, and swaps it in with one ``renameat2
(RENAME_EXCHANGE)``; the old directory is then deleted. An export killed at any point leaves
either the previous bundle or the new one, each complete, at the path (a ``.NAME.*.tmp``
directory may be left beside it). Where the kernel or file system lacks the exchange (not
Linux, some network file systems) two renames are used: between them, for microseconds, the
path is missing while the old bundle is intact under ``.NAME.*.old``.

If the target path is a symlink (``current.mibundle -> v3.mibundle``), the directory it points
to is replaced and the link kept.

Signing: ``close(sign_key=...)`` writes ``manifest.json.sig`` (see :mod:`edge.signing`);
:func:`sign_bundle` signs an existing bundle.
"""

from __future__ import annotations

import copy
import ctypes
import datetime as _dt
import errno
import io
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import edge
from edge import signing
from edge.bundle import (
    FORMAT,
    MANIFEST,
    MANIFEST_HASH,
    REST_SCHEMA_VERSION,
    SCHEMA_VERSION,
    SIGNATURE,
    UNCHECKED,
    Bundle,
    open_bundle,
    sha256_bytes,
)
from edge.errors import BundleError

__all__ = ["BundleWriter", "sign_bundle"]

log = logging.getLogger(__name__)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_new(path: Path, data: bytes) -> None:
    """Create ``path`` (must not exist), write, fsync."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        _write_new(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two directory entries (Linux renameat2 RENAME_EXCHANGE); False when the
    platform or file system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap_in(staged: Path, target: Path) -> Path | None:
    """Put the staged directory at ``target``; returns the old directory to delete, if any."""
    if not target.exists():
        os.rename(staged, target)
        return None
    if _exchange(staged, target):
        return staged
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    os.rmdir(old)
    os.rename(target, old)
    os.rename(staged, target)
    return old


def _check_target(path: Path) -> None:
    """A path a bundle may be written to: absent, an empty directory or a bundle."""
    if path.exists() and not path.is_dir():
        raise BundleError(f"{path}: exists and is not a directory; not writing a bundle there")
    if path.is_dir() and not (path / MANIFEST).exists() and any(path.iterdir()):
        raise BundleError(f"{path}: a non-empty directory that is not a bundle; the export "
                          "replaces the whole directory, so choose a new path (NAME.mibundle)")


def _private_key(key):
    if key is None or not isinstance(key, str | Path):
        return key
    return signing.load_private_key(key)


class BundleWriter:
    """Create a bundle, or add decoders to an existing one (written by :meth:`close`).

    Parameters
    ----------
    path : path
        Bundle directory (conventionally ``NAME.mibundle``).
    classes, channels : list of str
    sfreq : float
    """

    def __init__(self, path: str | Path, classes: list[str], channels: list[str], sfreq: float,
                 rest_class: str | None = None):
        self.path = Path(path)
        self._existing: Bundle | None = None
        self._new: dict[str, bytes] = {}
        _check_target(self.path)
        if (self.path / MANIFEST).exists():
            self._existing = open_bundle(self.path, trusted_key=UNCHECKED)
            existing = self._existing.manifest
            for key, value in (("classes", classes), ("channels", channels)):
                if list(existing[key]) != list(value):
                    raise BundleError(
                        f"{self.path}: existing bundle has {key} {existing[key]}, this export has "
                        f"{value}; write to a new bundle"
                    )
            if existing.get("rest_class") != rest_class:
                raise BundleError(f"{self.path}: existing bundle has rest class "
                                  f"{existing.get('rest_class')!r}, this export "
                                  f"{rest_class!r}; write to a new bundle")
            if not np.isclose(float(existing["sfreq"]), sfreq):
                raise BundleError(f"{self.path}: existing bundle is at {existing['sfreq']} Hz, "
                                  f"this export at {sfreq} Hz; write to a new bundle")
            self.manifest = copy.deepcopy(existing)
            self.manifest.setdefault("provenance", {})
        else:
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
            if rest_class is not None:  # schema 2: older runtimes must refuse it
                if classes[-1] != rest_class:
                    raise ValueError(f"rest class {rest_class!r} must be the last of {classes}")
                self.manifest["rest_class"] = rest_class
                self.manifest["schema_version"] = REST_SCHEMA_VERSION
            else:
                self.manifest["schema_version"] = 1  # readable by every runtime

    def add_member(self, name: str, data: bytes) -> str:
        """Stage a member and record its size and hash; returns its name."""
        if ("/" in name or "\\" in name or name.startswith(".") or
                name in (MANIFEST, MANIFEST_HASH, SIGNATURE)):
            raise ValueError(f"bad member name {name!r}")
        data = bytes(data)
        self._new[name] = data
        self.manifest["members"][name] = {"bytes": len(data), "sha256": sha256_bytes(data)}
        return name

    def add_arrays(self, name: str, arrays: dict[str, np.ndarray]) -> str:
        """Stage numeric arrays as an ``.npz`` member (object arrays are refused)."""
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

    def _member_data(self, name: str) -> bytes:
        if name in self._new:
            return self._new[name]
        assert self._existing is not None
        return self._existing.member_bytes(name)

    def close(self, sign_key=None) -> Path:
        """Write the bundle atomically (see the module docstring); returns its path.

        Parameters
        ----------
        sign_key : path or Ed25519PrivateKey, optional
            Sign the manifest (``manifest.json.sig``). Without it the bundle is unsigned, also
            when an existing signed bundle is extended (its old signature would not verify).
        """
        key = _private_key(sign_key)
        raw = json.dumps(self.manifest, indent=2, sort_keys=False).encode() + b"\n"
        if key is None and self._existing is not None and \
                (self.path / SIGNATURE).exists():
            log.warning("%s: the bundle was signed; written without --sign-key it is now "
                        "unsigned, and devices with a trusted key will refuse it", self.path)
        target = self.path.resolve() if self.path.is_symlink() else self.path
        target.parent.mkdir(parents=True, exist_ok=True)
        _check_target(target)
        mode = (target.stat().st_mode if target.is_dir() else 0o777 & ~_umask()) & 0o7777
        staged = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp",
                                       dir=target.parent))
        old = None
        try:
            os.chmod(staged, mode)
            for name in self.manifest["members"]:
                _write_new(staged / name, self._member_data(name))
            _write_new(staged / MANIFEST, raw)
            _write_new(staged / MANIFEST_HASH, (sha256_bytes(raw) + "  manifest.json\n").encode())
            if key is not None:
                _write_new(staged / SIGNATURE, signing.sign_manifest(raw, key))
            _fsync_dir(staged)
            # never hand out a bundle that does not verify
            open_bundle(staged, trusted_key=key.public_key() if key is not None else UNCHECKED)
            old = _swap_in(staged, target)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
        try:
            _fsync_dir(target.parent)  # the swap is durable
        finally:
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        return self.path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def sign_bundle(path: str | Path, key) -> Path:
    """Sign an existing bundle with an Ed25519 private key (a PEM path or the key object).

    The bundle is verified first (hashes; its current signature, if any, is replaced), then
    ``manifest.json.sig`` is written atomically. Returns the signature's path.
    """
    key = _private_key(key)
    bundle = open_bundle(path, trusted_key=UNCHECKED)
    sig_path = Path(path) / SIGNATURE
    _atomic_write(sig_path, signing.sign_manifest(bundle.manifest_bytes, key))
    open_bundle(path, trusted_key=key.public_key())
    return sig_path
