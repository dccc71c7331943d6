"""``mi-export convert``: write the continuous npz form of a recording users already have."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

__all__ = ["add_subparser", "run"]

EPILOG = """\
examples:
  # an OpenBCI GUI recording (Cyton: the GUI's electrode placement unless --channels)
  mi-export convert OpenBCI-RAW-2024-05-01.txt -o me_R01_continuous.npz --run 1
  # a BrainFlow file without its sidecar: say which board wrote it
  mi-export convert BrainFlow-RAW_session_0.csv --master-board cyton \\
      --channels C3 Cz C4 FC3 FC4 CP3 CP4 C1 -o me_R02_continuous.npz --run 2
  # any file MNE reads (EDF, BDF, GDF, FIF, ...): EEG channels in uV, annotations as events
  mi-export convert S001R04.edf -o S001_R04_continuous.npz

Markers: a marker value v becomes event code v - 1; name the cue classes when training, e.g.
--events 1=left_hand,2=right_hand for markers 2 and 3. Annotations (EDF, GDF, FIF...): codes
number the distinct descriptions in sorted order and event_names keeps them; train with e.g.
--events T1=left_hand,T2=right_hand."""


def run(args: argparse.Namespace) -> int:
    from export.data import DataError, read_recording

    rec = read_recording(args.recording, board=args.master_board)
    names = list(rec.ch_names)
    if args.channels:
        if len(args.channels) != len(names):
            raise DataError(f"--channels: {len(args.channels)} names for the recording's "
                            f"{len(names)} EEG inputs ({', '.join(names)})")
        names = list(args.channels)
    out = args.output
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, raw=rec.raw, events=rec.events,
                        event_names=np.array(rec.event_names), ch_names=np.array(names),
                        sfreq=rec.sfreq, subject=args.subject or rec.subject,
                        run=args.run if args.run is not None else rec.run)
    print(json.dumps({"output": str(out), "channels": names, "sfreq": rec.sfreq,
                      "samples": int(rec.raw.shape[1]), "events": int(len(rec.events)),
                      "event_names": rec.event_names}))
    return 0


def add_subparser(sub) -> None:
    p = sub.add_parser(
        "convert", help="write a BrainFlow / OpenBCI GUI / EDF / BDF / GDF / FIF recording as a "
                        "continuous npz",
        description="Read a BrainFlow file (DataFilter.write_file, OpenBCI GUI BrainFlow-RAW "
                    "CSV), an OpenBCI GUI text recording or any file MNE reads (EDF, BDF, GDF, "
                    "FIF, ...) and write the *_continuous.npz every trainer reads (every "
                    "trainer also reads those files directly).",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    p.add_argument("recording", type=Path)
    p.add_argument("--master-board", help="BrainFlow files: the board that wrote it (default: "
                                          "its FILE.json sidecar, else inferred)")
    p.add_argument("--channels", nargs="+", help="electrode on each EEG input, in order")
    p.add_argument("--subject", help="subject id (default: from the file)")
    p.add_argument("--run", type=int, help="run number (for leave-one-run-out)")
    p.add_argument("-o", "--output", type=Path, required=True, help="the npz to write")
    p.set_defaults(func=run)
