"""``mi-export``: train decoders on calibration recordings and write the bundle the edge runs.

The CLI owns the terminal: progress goes to stderr, results to stdout (a table, or one JSON
object with ``--json``). Errors a user can cause become one line and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import logging
import sys

from edge.cli_main import run_command
from export.commands import (
    auto,
    convert,
    demo,
    eegnet,
    evaluate,
    fgsft,
    playback,
    report,
    riemann,
    signing,
    stafnet,
    stffda,
)

#: The sub-commands, in the order ``--help`` lists them. Each module has ``add_subparser(sub)``,
#: which registers its arguments and its ``run(args) -> int``: a new command is a new module here.
COMMANDS = (fgsft, riemann, stffda, eegnet, stafnet, auto, evaluate, report, playback, convert,
            signing,
            demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mi-export",
        description="Train motor-imagery decoders on calibration EEG and export the bundle that "
                    "the mi-edge runtime loads on the device.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_subparser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    return run_command("mi-export", args.func, args, verbose=args.verbose,
                       interrupted="interrupted; nothing was written for the unfinished step",
                       user_errors=(ValueError,))

if __name__ == "__main__":
    sys.exit(main())
