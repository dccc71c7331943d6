"""``mi-export stafnet``: train STAFNet, export fp32/int8 ONNX and int8 TFLite into a bundle.

The net is :mod:`export.stafnet` (adaptive graph convolution over electrodes, temporal
self-attention, multi-structured cross-attention fusion; the seed paper adapted to motor
imagery); training, pooling, alignment and export are the shared net pipeline
(:mod:`export.nets`, arguments in :mod:`export.commands.netcmd`).
"""

from __future__ import annotations

import argparse
from typing import Any

from edge.argtypes import non_negative_float, positive_int
from export.commands.netcmd import DEFAULT_BAND, add_export_args, add_net_parser, run_net
from export.data import EpochSet

__all__ = ["add_subparser", "run", "make_config", "DEFAULT_BAND", "VARIANTS"]

#: :data:`export.stafnet.config.ABLATIONS`, GRAPH_MODES and FUSIONS, spelled here so that
#: ``mi-export --help`` does not import torch (tests/test_stafnet_export.py checks they match)
VARIANTS = ("stafnet", "no_graph", "no_temporal", "static_pli", "static_corr", "fusion_add",
            "fusion_concat")
GRAPH_MODES = ("adaptive", "static", "none")
FUSIONS = ("cross", "add", "concat")

EPILOG = """\
examples:
  # one subject: a fixed 40 epochs on runs 4 and 8 (--schedule early-stopping holds run 8
  # out instead); writes stafnet_fp32 / stafnet_int8 (ONNX) and stafnet_tflite_int8 (if
  # LiteRT is installed)
  mi-export stafnet data/eegmmidb/S007_imagery_left_right.npz --runs 4 8 -o build/S007.mibundle
  # the paper's six graph layers; the Table 4 ablations as variants
  mi-export stafnet S007_imagery_left_right.npz --runs 4 8 --layers 6 -o b.mibundle
  mi-export stafnet S007_imagery_left_right.npz --runs 4 8 --variant no_graph \\
      --name stafnet_nograph -o b.mibundle
  # pooled over other subjects with Euclidean alignment, fine-tuned on this one
  mi-export stafnet S007_imagery_left_right.npz --runs 4 8 --align \\
      --pool S001_imagery_left_right.npz S002_imagery_left_right.npz -o S007.mibundle

Variants: stafnet (full), no_graph (w/o the graph module), no_temporal (w/o temporal
self-attention), static_pli / static_corr (a fixed phase-lag-index or correlation adjacency),
fusion_add / fusion_concat (additive or concatenation fusion instead of cross-attention).
Decoders are named NAME_fp32, NAME_int8, NAME_tflite_int8.
"""


def add_subparser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``stafnet`` on the ``mi-export`` sub-parsers."""
    p = add_net_parser(
        sub, "stafnet",
        help="train STAFNet (graph conv + temporal attention + fusion), export ONNX/int8/TFLite",
        description="Train STAFNet (adaptive graph convolution over electrodes, temporal "
                    "self-attention, cross-attention fusion, dense head) on calibration "
                    "recordings; export fp32 ONNX, int8 ONNX Runtime and int8 TFLite (LiteRT) "
                    "decoders into a bundle (created, or extended when it has the same "
                    "classes, channels and rate).",
        epilog=EPILOG)
    g = p.add_argument_group("network")
    g.add_argument("--variant", choices=VARIANTS, default="stafnet",
                   help="the full model or one of the paper's Table 4 ablations")
    g.add_argument("--graph", choices=GRAPH_MODES,
                   help="graph module: adaptive (learnt adjacency), static, none")
    g.add_argument("--adjacency", choices=("distance", "correlation", "pli", "identity"),
                   help="initial (adaptive) or fixed (static) adjacency (default distance)")
    g.add_argument("--fusion", choices=FUSIONS, help="cross (paper), add or concat")
    g.add_argument("--no-temporal", action="store_true",
                   help="ablation: without the temporal self-attention module")
    g.add_argument("--layers", type=positive_int, default=2,
                   help="L, graph-conv + temporal-conv layers (2; the paper uses 6)")
    g.add_argument("--d-model", type=positive_int, default=16, help="token width (16)")
    g.add_argument("--heads", type=positive_int, default=2, help="attention heads (2)")
    g.add_argument("--dropout", type=non_negative_float, default=0.25, help="dropout (0.25)")
    # the recipe of benchmarks/nets_accuracy.py (README table): a fixed 40 epochs at lr 3e-3,
    # as the paper trains a fixed number of epochs; with 15 validation trials early stopping
    # mostly stopped at its floor
    add_export_args(p, epochs=40, lr=3e-3, schedule="fixed")
    p.set_defaults(func=run)
    return p


def make_config(first: EpochSet, args: argparse.Namespace) -> Any:
    """The STAFNet config for the loaded recordings, the variant and the network options."""
    from export.stafnet.config import STAFNetConfig, variant

    n_samples = int(round((args.window[1] - args.window[0]) * first.sfreq))
    cfg = variant(STAFNetConfig.for_data(len(first.ch_names), n_samples, len(first.class_names),
                                         first.sfreq, first.ch_names,
                                         n_graph_layers=args.layers, d_model=args.d_model,
                                         n_heads=args.heads, dropout=args.dropout),
                  args.variant)
    changes = {k: v for k, v in (("graph", args.graph), ("adjacency", args.adjacency),
                                 ("fusion", args.fusion)) if v is not None}
    if args.no_temporal:
        changes["temporal"] = False
    return cfg.with_(**changes) if changes else cfg


def run(args: argparse.Namespace) -> int:
    return run_net(args, make_config)
