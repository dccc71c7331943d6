"""``mi-export stffda``: train STFF-DA, export fp32/int8 ONNX and int8 TFLite into a bundle.

The training itself lives in :mod:`export.nets` (the STFF-DA net in :mod:`export.stffda`); this
module is the argparse wiring of its network options (the rest: :mod:`export.commands.netcmd`).
"""

from __future__ import annotations

import argparse
from typing import Any

from edge.argtypes import positive_float, positive_int
from export.commands.netcmd import DEFAULT_BAND, add_export_args, add_net_parser, run_net
from export.data import EpochSet

__all__ = ["add_subparser", "run", "DEFAULT_BAND"]

EPILOG = """\
examples:
  # one subject: train on runs 4 and 8 (run 8 held out for early stopping, then refit),
  # write stffda_fp32 / stffda_int8 (ONNX) and stffda_tflite_int8 (if LiteRT is installed)
  mi-export stffda data/eegmmidb/S007_imagery_left_right.npz --runs 4 8 -o build/S007.mibundle
  # add the net beside an FGSFT decoder in an existing bundle, then compare them
  mi-export fgsft data/eegmmidb/S007_imagery_left_right.npz --runs 4 8 -o b.mibundle
  mi-export stffda data/eegmmidb/S007_imagery_left_right.npz --runs 4 8 -o b.mibundle
  mi-export evaluate b.mibundle data/eegmmidb/S007_imagery_left_right.npz --runs 12
  # pre-train on other subjects, fine-tune on this one (30 trials are thin for a net)
  mi-export stffda S007_imagery_left_right.npz --runs 4 8 \\
      --pretrain S001_imagery_left_right.npz S002_imagery_left_right.npz ... -o S007.mibundle
  # several subjects: one pooled model, then one fine-tuned bundle per subject
  mi-export stffda S001_*.npz S002_*.npz S007_*.npz --finetune -o 'build/{subject}.mibundle'
  # Euclidean alignment of every subject (pool and target) before training
  mi-export stffda S007_imagery_left_right.npz --runs 4 8 --align --pool S001_*.npz S002_*.npz \
      -o S007.mibundle
  # the ablations: EEGNet-style 2D front end, attention off, channel gate on
  mi-export stffda S007_imagery_left_right.npz --front-end 2d --name stffda2d -o b.mibundle
  mi-export stffda S007_imagery_left_right.npz --no-attention --name cnnlstm -o b.mibundle

Training is deterministic for a given --seed on one thread (the default). Decoders are named
NAME_fp32, NAME_int8 and NAME_tflite_int8; `mi-edge` and `mi-export evaluate` select them by
name. The fp32 ONNX also loads in BrainFlow's MLModel (ONNX_CLASSIFIER, output_name 'proba')
when fed the preprocessed window recorded in the bundle.
"""


def add_subparser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``stffda`` on the ``mi-export`` sub-parsers."""
    p = add_net_parser(
        sub, "stffda", help="train the STFF-DA CNN+LSTM+attention net, export ONNX/int8/TFLite",
        description="Train STFF-DA (1D CNN over time with electrodes as channels, LSTM, "
                    "additive temporal attention, dense softmax) on calibration recordings; "
                    "export fp32 ONNX (BrainFlow-compatible), int8 ONNX Runtime and int8 "
                    "TFLite (LiteRT) decoders into a bundle (created, or extended when it has "
                    "the same classes, channels and rate).",
        epilog=EPILOG)
    g = p.add_argument_group("network")
    g.add_argument("--front-end", choices=("1d", "2d"), default="1d",
                   help="1d: Conv1d with electrodes as channels (paper); 2d: temporal then "
                        "depthwise spatial Conv2d (EEGNet style)")
    g.add_argument("--no-attention", action="store_true",
                   help="ablation: read the last LSTM state instead of attending over time")
    g.add_argument("--channel-gate", action="store_true",
                   help="squeeze-and-excitation gate over electrodes before the CNN")
    g.add_argument("--filters", type=positive_int, default=16, help="F, conv feature maps (16)")
    g.add_argument("--kernel", type=positive_float, default=0.15,
                   help="K, first temporal kernel in seconds (0.15 s; made odd in samples)")
    g.add_argument("--layers", type=positive_int, default=2, help="N, temporal conv layers (2)")
    g.add_argument("--hidden", type=positive_int, default=32, help="LSTM hidden units (32)")
    add_export_args(p)
    p.set_defaults(func=run)
    return p


def make_config(first: EpochSet, args: argparse.Namespace) -> Any:
    """The STFF-DA config for the loaded recordings and the network options."""
    from export.stffda.model import STFFDAConfig

    n_samples = int(round((args.window[1] - args.window[0]) * first.sfreq))
    kernel = max(3, int(round(args.kernel * first.sfreq)) | 1)
    return STFFDAConfig(n_channels=len(first.ch_names), n_samples=n_samples,
                        n_classes=len(first.class_names), front_end=args.front_end,
                        n_filters=args.filters, kernel_size=kernel, n_layers=args.layers,
                        hidden=args.hidden, attention=not args.no_attention,
                        channel_gate=args.channel_gate)


def run(args: argparse.Namespace) -> int:
    return run_net(args, make_config)
