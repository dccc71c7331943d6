"""Ed25519 signatures of bundles: who exported this bundle?

``manifest.json.sha256`` only detects corruption: anyone who edits a bundle can recompute it.
A signed bundle also carries ``manifest.json.sig``, an Ed25519 signature of the exact bytes of
``manifest.json``; since the manifest records every member's size and SHA-256, the signature
covers the whole bundle. The device holds only the public key (``mi-edge check/run
--trusted-key FILE`` or ``MI_EDGE_TRUSTED_KEY``); with one configured, an unsigned bundle or one
whose signature does not verify with that key is refused (:class:`~edge.errors.BundleError`).

Key files are PEM: PKCS#8 for the private key (written 0600, never copied to the device),
SubjectPublicKeyInfo for the public key, so ``openssl pkey`` reads both. The signature file is
one line, ``ed25519 KEY_ID BASE64_SIGNATURE``, where ``KEY_ID`` is the first 16 hex digits of the
SHA-256 of the raw public key (it names the key in messages; it is not trusted).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from edge.errors import BundleError

__all__ = [
    "SIGNATURE",
    "TRUSTED_KEY_ENV",
    "generate_keypair",
    "key_id",
    "load_private_key",
    "load_public_key",
    "parse_signature",
    "sign_manifest",
    "trusted_key_from_env",
    "verify_manifest",
]

SIGNATURE = "manifest.json.sig"
TRUSTED_KEY_ENV = "MI_EDGE_TRUSTED_KEY"
_ALGORITHM = "ed25519"


def _serialization():
    from cryptography.hazmat.primitives import serialization

    return serialization


def key_id(public_key) -> str:
    """First 16 hex digits of the SHA-256 of the raw 32-byte public key."""
    s = _serialization()
    raw = public_key.public_bytes(s.Encoding.Raw, s.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_public_key(path: str | Path):
    """The Ed25519 public key in a PEM file (BundleError naming the file otherwise)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise BundleError(f"trusted key {p}: cannot read it ({exc.strerror or exc})") from exc
    try:
        key = _serialization().load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise BundleError(f"trusted key {p}: not a PEM public key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise BundleError(f"trusted key {p}: not an Ed25519 public key")
    return key


def load_private_key(path: str | Path):
    """The Ed25519 private key in a PEM file (ValueError naming the file otherwise)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ValueError(f"signing key {p}: cannot read it ({exc.strerror or exc})") from exc
    try:
        key = _serialization().load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"signing key {p}: not an unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"signing key {p}: not an Ed25519 private key")
    return key


def generate_keypair(private_path: str | Path,
                     public_path: str | Path | None = None) -> tuple[Path, Path]:
    """Write a new Ed25519 key pair; never overwrites a file.

    The private key file is created with mode 0600 (``O_EXCL``: refused if it exists), the public
    key beside it (``NAME.pub`` for ``NAME.key``, else ``PRIVATE.pub``). Returns both paths.
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    priv = Path(private_path)
    pub = Path(public_path) if public_path is not None else (
        priv.with_suffix(".pub") if priv.suffix == ".key" else priv.with_name(priv.name + ".pub"))
    if priv == pub:
        raise ValueError(f"{priv}: the private and public key files must differ")
    for p in (priv, pub):
        if p.exists() or p.is_symlink():
            raise FileExistsError(f"{p} exists; not overwriting a key (remove it first)")
    priv.parent.mkdir(parents=True, exist_ok=True)
    pub.parent.mkdir(parents=True, exist_ok=True)
    s = _serialization()
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption())
    pub_pem = key.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo)
    fd = os.open(priv, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        fd = os.open(pub, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                     0o644)
    except OSError:
        priv.unlink()
        raise
    try:
        os.write(fd, pub_pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    return priv, pub


def sign_manifest(manifest_raw: bytes, private_key) -> bytes:
    """The content of ``manifest.json.sig`` for these exact manifest bytes."""
    sig = private_key.sign(manifest_raw)
    kid = key_id(private_key.public_key())
    return f"{_ALGORITHM} {kid} {base64.b64encode(sig).decode()}\n".encode()


def parse_signature(where: Path, text: bytes) -> tuple[str, bytes]:
    """``(key id, signature)`` of a ``manifest.json.sig`` (BundleError if malformed)."""
    parts = text.decode("ascii", errors="replace").split()
    if len(parts) != 3 or parts[0] != _ALGORITHM:
        raise BundleError(f"{where}: {SIGNATURE} is malformed (expected "
                          f"'{_ALGORITHM} KEY_ID BASE64')")
    try:
        sig = base64.b64decode(parts[2], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BundleError(f"{where}: {SIGNATURE}: signature is not base64 ({exc})") from exc
    return parts[1], sig


def verify_manifest(where: Path, manifest_raw: bytes, sig_text: bytes | None,
                    public_key) -> str:
    """Check the signature of the manifest bytes with the trusted key; returns its key id."""
    from cryptography.exceptions import InvalidSignature

    trusted = key_id(public_key)
    if sig_text is None:
        raise BundleError(f"{where}: bundle is not signed ({SIGNATURE} is missing) but a trusted "
                          f"key ({trusted}) is configured; export it with --sign-key or run "
                          "`mi-export sign`")
    kid, sig = parse_signature(where, sig_text)
    try:
        public_key.verify(sig, manifest_raw)
    except InvalidSignature:
        who = (f"signed by key {kid}, not the trusted key {trusted}" if kid != trusted
               else f"the manifest was changed after it was signed by {trusted}")
        raise BundleError(f"{where}: {SIGNATURE}: signature does not verify ({who}); refusing "
                          "the bundle") from None
    return trusted


def trusted_key_from_env() -> str | None:
    """``MI_EDGE_TRUSTED_KEY`` if set and not empty."""
    value = os.environ.get(TRUSTED_KEY_ENV, "").strip()
    return value or None
