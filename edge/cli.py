"""``mi-edge``: the runtime on the device.

``mi-edge check BUNDLE`` verifies a bundle the way the runtime loads it: manifest hash, schema
version, every member's size and SHA-256, and every decoder built from its arrays.
"""

from __future__ import annotations

import os

# Small-matrix numpy work (filters, covariances, divCSP) only slows down with several BLAS
# threads, badly so on a shared or small CPU; the user can still override these.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import logging
import sys
from pathlib import Path

from edge.bundle import open_bundle, verify_report
from edge.decoders import load_decoder
from edge.errors import MiEdgeError


def cmd_check(args: argparse.Namespace) -> int:
    lines = verify_report(args.bundle)
    bundle = open_bundle(args.bundle)
    decoders = {}
    for name in bundle.decoder_names:
        dec = load_decoder(bundle, name)
        spec = bundle.decoder_spec(name)
        decoders[name] = {"kind": dec.kind, "n_channels": dec.n_channels,
                          "n_samples": dec.n_samples, "window": spec["window"]}
    if args.json:
        print(json.dumps({"ok": True, "bundle": str(args.bundle),
                          "schema_version": bundle.manifest["schema_version"],
                          "classes": bundle.classes, "channels": bundle.channels,
                          "sfreq": bundle.sfreq, "decoders": decoders}))
        return 0
    for line in lines:
        print(line)
    print(f"classes {bundle.classes}; {len(bundle.channels)} channels at {bundle.sfreq:g} Hz")
    for name, d in decoders.items():
        w = d["window"]
        print(f"decoder {name} ({d['kind']}): {d['n_channels']} x {d['n_samples']} window "
              f"({w['tmax'] - w['tmin']:g} s), loads ok")
    print(f"{args.bundle}: OK")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mi-edge",
        description="mi-edge runtime: verify bundles and decode EEG on the device (no torch).")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "check", help="verify a bundle (hashes, schema, decoders) before deploying it",
        description="Verify a bundle: manifest hash, schema version, each member's size and "
                    "SHA-256, and that every decoder builds. Exit code 0 when it is good, 3 when "
                    "it is refused (the message names the member and the reason).")
    p.add_argument("bundle", type=Path)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except MiEdgeError as exc:
        if getattr(args, "json", False):
            print(json.dumps({"ok": False, "error": str(exc)}))
        print(f"mi-edge: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
