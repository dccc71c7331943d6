"""``mi-export eegnet``: train EEGNet-8,2, export fp32/int8 ONNX and int8 TFLite into a bundle.

The net is :mod:`export.nets.eegnet`; training, pooling, alignment and export are the shared
net pipeline (:mod:`export.nets`, arguments in :mod:`export.commands.netcmd`).
"""

from __future__ import annotations

import argparse
from typing import Any

from edge.argtypes import non_negative_float, positive_float, positive_int
from export.commands.netcmd import DEFAULT_BAND, add_export_args, add_net_parser, run_net
from export.data import EpochSet

__all__ = ["add_subparser", "run", "make_config", "DEFAULT_BAND"]

EPILOG = """\
examples:
  # one subject: train on runs 4 and 8 (run 8 held out for early stopping, then refit),
  # write eegnet_fp32 / eegnet_int8 (ONNX) and eegnet_tflite_int8 (if LiteRT is installed)
  mi-export eegnet data/eegmmidb/S007_imagery_left_right.npz --runs 4 8 -o build/S007.mibundle
  # beside STFF-DA and FGSFT in one bundle, then compare them on the held-out run
  mi-export eegnet S007_imagery_left_right.npz --runs 4 8 -o b.mibundle
  mi-export evaluate b.mibundle S007_imagery_left_right.npz --runs 12
  # pooled over other subjects with Euclidean alignment, fine-tuned on this one
  mi-export eegnet S007_imagery_left_right.npz --runs 4 8 --align \\
      --pool S001_imagery_left_right.npz S002_imagery_left_right.npz -o S007.mibundle
  # a Cyton montage at 250 Hz (the temporal kernel follows the rate: 125 samples)
  mi-export eegnet S007_imagery_left_right.npz --channels C3 Cz C4 FC3 FC4 CP3 CP4 Pz \\
      --sfreq 250 -o cyton.mibundle

EEGNet-8,2 (Lawhern et al. 2018): temporal conv (F1=8, half a second), depthwise spatial conv
(D=2, max-norm 1), separable conv (F2=16, kernel 16), dense (max-norm 0.25); about 2.6 k
parameters at 64 channels. Decoders are named NAME_fp32, NAME_int8, NAME_tflite_int8; the fp32
ONNX also loads in BrainFlow's MLModel (ONNX_CLASSIFIER, output_name 'proba').
"""


def add_subparser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``eegnet`` on the ``mi-export`` sub-parsers."""
    p = add_net_parser(
        sub, "eegnet", help="train the compact EEGNet-8,2 CNN, export ONNX/int8/TFLite",
        description="Train EEGNet-8,2 (temporal conv, depthwise spatial conv with max-norm, "
                    "separable conv, dense) on calibration recordings; export fp32 ONNX "
                    "(BrainFlow-compatible), int8 ONNX Runtime and int8 TFLite (LiteRT) "
                    "decoders into a bundle (created, or extended when it has the same "
                    "classes, channels and rate).",
        epilog=EPILOG)
    g = p.add_argument_group("network")
    g.add_argument("--kernel", type=positive_float,
                   help="temporal kernel, s (default 0.5: sfreq/2 samples, 64 at 128 Hz)")
    g.add_argument("--f1", type=positive_int, default=8, help="temporal maps F1 (8)")
    g.add_argument("--depth", type=positive_int, default=2, help="depth multiplier D (2)")
    g.add_argument("--f2", type=positive_int, default=16, help="separable maps F2 (16)")
    g.add_argument("--dropout", type=non_negative_float, default=0.5,
                   help="dropout (0.5; the paper uses 0.25 cross-subject)")
    add_export_args(p)
    p.set_defaults(func=run)
    return p


def make_config(first: EpochSet, args: argparse.Namespace) -> Any:
    """The EEGNet config for the loaded recordings and the network options."""
    from export.nets.eegnet import EEGNetConfig, temporal_kernel

    n_samples = int(round((args.window[1] - args.window[0]) * first.sfreq))
    kernel = (temporal_kernel(first.sfreq) if args.kernel is None
              else max(2, int(round(args.kernel * first.sfreq))))
    return EEGNetConfig(n_channels=len(first.ch_names), n_samples=n_samples,
                        n_classes=len(first.class_names), kernel_size=kernel, f1=args.f1,
                        depth=args.depth, f2=args.f2, dropout=args.dropout)


def run(args: argparse.Namespace) -> int:
    return run_net(args, make_config)
