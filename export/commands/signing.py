"""``mi-export keygen`` and ``mi-export sign`` (this module registers both), and the
``--sign-key`` option of the commands that write bundles: the argparse side of
:mod:`edge.signing`."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge.signing import TRUSTED_KEY_ENV, generate_keypair, key_id, load_private_key

__all__ = ["add_sign_key_argument", "add_subparser"]


def _private_key_arg(value: str):
    """argparse type: the key is loaded while parsing, so a bad key fails before training."""
    try:
        return load_private_key(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_sign_key_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sign-key", type=_private_key_arg, metavar="FILE",
                   help="sign the bundle with this Ed25519 private key (mi-export keygen); "
                        f"devices with the public key in {TRUSTED_KEY_ENV} refuse anything else")


def cmd_keygen(args: argparse.Namespace) -> int:
    try:
        priv, pub = generate_keypair(args.key, args.public)
    except FileExistsError as exc:
        raise ValueError(str(exc)) from None
    kid = key_id(load_private_key(priv).public_key())
    print(f"wrote {priv} (private, mode 0600: keep it on this workstation) and {pub} (public: "
          f"copy it to the device, {TRUSTED_KEY_ENV}={pub.name}); key id {kid}")
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    from export.bundle_writer import sign_bundle

    sig = sign_bundle(args.bundle, args.sign_key)
    print(f"signed {args.bundle} ({sig.name}, key id {key_id(args.sign_key.public_key())})")
    return 0


def add_subparser(sub: argparse._SubParsersAction) -> None:
    """Register ``keygen`` and ``sign`` on the ``mi-export`` sub-parsers."""
    p = sub.add_parser(
        "keygen", help="make an Ed25519 key pair for signing bundles",
        description="Write a new Ed25519 private key (PEM, mode 0600) and its public key "
                    "(NAME.pub beside NAME.key). Existing files are never overwritten. Keep the "
                    "private key on the workstation; copy the public key to each device and "
                    f"point {TRUSTED_KEY_ENV} (or mi-edge --trusted-key) at it.")
    p.add_argument("key", type=Path, help="private key file to create, e.g. ~/.mi-edge/release.key")
    p.add_argument("--public", type=Path, help="public key file (default: KEY with .pub)")
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser(
        "sign", help="sign an existing bundle",
        description="Verify a bundle's hashes and write manifest.json.sig, an Ed25519 "
                    "signature of its manifest (which records every member's SHA-256).")
    p.add_argument("bundle", type=Path)
    p.add_argument("--sign-key", type=_private_key_arg, metavar="FILE", required=True,
                   help="Ed25519 private key (mi-export keygen)")
    p.set_defaults(func=cmd_sign)
