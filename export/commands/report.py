"""``mi-export report``: the FGSFT time-frequency and electrode-group maps as PNG files."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_subparser", "run"]


def run(args: argparse.Namespace) -> int:
    from export.report import write_report

    for p in write_report(args.bundle, args.output, args.decoder):
        print(p)
    return 0


def add_subparser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("report", help="draw the FGSFT time-frequency and electrode-group maps",
                       description="Write the fine-grained MI time-frequency reaction map and the "
                                   "electrode-group significance map as PNG files.")
    p.add_argument("bundle", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True, help="directory for the PNGs")
    p.add_argument("--decoder", default="fgsft")
    p.set_defaults(func=run)
    return p
