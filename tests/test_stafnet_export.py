"""STAFNet through the net pipeline (export side): int8 bounds, attention and layer norm under
quantization, the exclusion list, the CLI's choices. The model and its learning tests are
export/stafnet and tests/test_stafnet*.py; here a net trained on real EEG (S007 runs 4 and 8,
30 fixed epochs) is measured on every 50 ms-shifted crop of held-out run 12."""

from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np
import pytest
from conftest import S007, WINDOW

HAS_LITERT = all(importlib.util.find_spec(m) is not None
                 for m in ("ai_edge_litert", "litert_torch", "ai_edge_quantizer"))
MIN_AGREEMENT = 0.98


def test_cli_choices_match_the_stafnet_config():
    from export.commands import stafnet as cmd
    from export.stafnet.config import ABLATIONS, FUSIONS, GRAPH_MODES

    assert cmd.VARIANTS == tuple(ABLATIONS)
    assert cmd.GRAPH_MODES == GRAPH_MODES and cmd.FUSIONS == FUSIONS


def test_cli_defaults_are_the_benchmarked_recipes():
    """``mi-export stafnet`` trains what the README's table measured (a fixed 40 epochs at lr
    3e-3, benchmarks/nets_accuracy.py), the other nets keep early stopping."""
    from export.cli import build_parser

    p = build_parser()
    staf = p.parse_args(["stafnet", str(S007), "-o", "b.mibundle"])
    assert (staf.schedule, staf.epochs, staf.lr) == ("fixed", 40, 3e-3)
    for name in ("stffda", "eegnet"):
        assert p.parse_args([name, str(S007), "-o", "b"]).schedule == "early-stopping"
    assert p.parse_args(["stafnet", str(S007), "-o", "b", "--schedule",
                         "early-stopping"]).schedule == "early-stopping"


def test_a_fixed_schedule_holds_no_run_out():
    """Two training runs, ``early_stopping=False``: every trial trains for ``max_epochs``."""
    from export.data import load_epochs
    from export.nets.eegnet import EEGNetConfig
    from export.nets.train import TrainConfig, train

    ep = load_epochs([S007], window=(WINDOW[0] - 0.25, WINDOW[1] + 0.25), runs=[4, 8])
    cfg = EEGNetConfig(64, 320, f1=2, depth=1, f2=2)
    fixed = train(ep, cfg, TrainConfig(max_epochs=3, early_stopping=False), band=(4.0, 40.0))
    assert fixed.history["val_run"] is None and fixed.history["epochs"] == 3
    early = train(ep, cfg, TrainConfig(max_epochs=3, min_epochs=1, patience=1),
                  band=(4.0, 40.0))
    assert early.history["val_run"] == 8


@pytest.fixture(scope="module")
def staf():
    """(Trained, fp32 ONNX, held-out crops, labels, centre indices, training windows)."""
    from export.data import load_epochs
    from export.nets.onnx_export import export_onnx
    from export.nets.train import TrainConfig, epochs_to_crops, train
    from export.stafnet.config import STAFNetConfig

    wide = (WINDOW[0] - 0.25, WINDOW[1] + 0.25)
    ep = load_epochs([S007], window=wide, runs=[4, 8])
    ep = dataclasses.replace(ep, runs=np.zeros_like(ep.runs))  # a fixed 30 epochs
    cfg = STAFNetConfig(64, 320, sfreq=ep.sfreq, ch_names=tuple(ep.ch_names))
    tc = TrainConfig(max_epochs=30, seed=0)
    trained = train(ep, cfg, tc, band=(4.0, 40.0))
    test = epochs_to_crops(load_epochs([S007], window=wide, runs=[12]), 320, trained.prep,
                           tc.crop_step)
    calib = epochs_to_crops(ep, 320, trained.prep, tc.crop_step).windows
    n = test.crops.shape[1]
    return (trained, export_onnx(trained.net), test.crops.reshape(-1, 64, 320),
            np.repeat(test.y, n), np.arange(len(test.y)) * n + test.centre, calib)


def _check(p32: np.ndarray, p8: np.ndarray, y: np.ndarray, centre: np.ndarray) -> None:
    flip = p32.argmax(1) != p8.argmax(1)
    assert 1 - flip.mean() >= MIN_AGREEMENT, 1 - flip.mean()
    assert abs(np.mean(p32.argmax(1) == y) - np.mean(p8.argmax(1) == y)) <= 1 - MIN_AGREEMENT
    assert np.sum(flip[centre]) <= 1


def test_int8_bounds_and_size(staf):
    """The scheme the bundle writer picks (>= 2.5x smaller) and LiteRT int8, against fp32."""
    from export.nets.quantize import run_onnx, select_scheme
    from export.nets.registry import get

    trained, fp32, crops, y, centre, calib = staf
    entry = get("stafnet")
    scheme, q, report = select_scheme(fp32, calib, crops, y, schemes=entry.onnx_schemes,
                                      exclude=entry.int8_exclude)
    n_params = sum(p.numel() for p in trained.net.parameters())
    for s, r in report["schemes"].items():
        print(f"STAFNet ({n_params} parameters, fp32 ONNX {len(fp32)} B) {s}: {r.get('bytes')} B, "
              f"{r.get('size_ratio', 0):.2f}x, agreement {r.get('decision_agreement')}, max dev "
              f"{r.get('max_abs_posterior_deviation')}")
    assert report["schemes"][scheme]["size_ratio"] >= 2.5, report
    p32 = run_onnx(fp32, crops)
    _check(p32, run_onnx(q, crops), y, centre)
    if HAS_LITERT:
        from export.nets.tflite_export import export_tflite_fp32, quantize_tflite, run_tflite

        t8 = quantize_tflite(export_tflite_fp32(trained.net))
        print(f"STAFNet TFLite int8 {len(t8)} B ({len(fp32) / len(t8):.2f}x vs ONNX fp32)")
        _check(p32, run_tflite(t8, crops), y, centre)


def test_attention_and_layer_norm_survive_int8(staf):
    """Per node, ONNX Runtime dynamic int8 of each Conv/MatMul/Gemm alone (the attention
    projections and the score products included) keeps the decisions; layer norm and the
    softmaxes stay float ops in every int8 graph; the exclusion list keeps named nodes float."""
    import onnx

    from export.nets.quantize import node_sensitivity, quantize_onnx

    _, fp32, crops, _, _, _ = staf
    rows = node_sensitivity(fp32, crops[::3], "dynamic")
    attn = [r for r in rows if "attn" in r["node"] or "fusion" in r["node"]]
    assert attn, [r["node"] for r in rows]
    for r in rows[:5]:
        print(f"{r['node']} ({r['op']}): agreement {r.get('decision_agreement')}, max dev "
              f"{r.get('max_abs_posterior_deviation', float('nan')):.4f}")
    for r in attn:
        assert r["decision_agreement"] >= MIN_AGREEMENT, r
    float_ops = {"ReduceMean", "Sqrt", "Softmax"}  # layer norm at opset 16, attention weights
    for scheme in ("dynamic", "weight_only"):
        ops = {n.op_type for n in onnx.load_from_string(quantize_onnx(fp32, scheme)).graph.node}
        assert float_ops <= ops, (scheme, ops)
    whole = quantize_onnx(fp32, "dynamic")
    kept = quantize_onnx(fp32, "dynamic", exclude=("attn",))

    def n_int(model: bytes) -> int:
        return sum(n.op_type in ("MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul")
                   for n in onnx.load_from_string(model).graph.node)

    assert n_int(kept) < n_int(whole)


def test_tflite_scope_maps_onnx_node_names_to_converter_names():
    import re

    from export.nets.tflite_export import tflite_scope

    pat = re.compile(tflite_scope("temporal/filter"))
    conv = "torch.nn.modules.conv.Conv1d"
    assert pat.search(f"STAFNet_net/export.stafnet.modules.TemporalModule_temporal/{conv}_filter;1")
    assert pat.search(f"x/M_temporal/{conv}_filter")
    assert not pat.search(f"x/M_temporal/{conv}_filterbank;1")
    assert not pat.search(f"x/GraphModule_graph/{conv}_filter;1")


@pytest.mark.skipif(not HAS_LITERT, reason="needs the litert extra")
def test_tflite_keeps_the_int8_exclusions_in_float(staf):
    """The ops measured sensitive under ONNX int8 (``int8_exclude``) keep float weights in the
    LiteRT int8 model too, and every other conv / dense op gets int8 weights."""
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils as tfu

    from export.nets.tflite_export import KEEP_FLOAT, _read, export_tflite_fp32, quantize_tflite

    def weighted_ops(model: bytes) -> list[tuple[str, int]]:
        """(output tensor name, weight dtype: 0 float32, 9 int8) of each conv / dense op."""
        obj = _read(model)
        sg, out = obj.subgraphs[0], []
        for op in sg.operators:
            code = tfu.TFL_OP_CODE_TO_NAME.get(obj.operatorCodes[op.opcodeIndex].builtinCode)
            weight = sg.tensors[op.inputs[1]] if len(op.inputs) > 1 else None
            constant = weight is not None and (obj.buffers[weight.buffer].data is not None or
                                               weight.type == 9)  # a computed operand is not
            if constant and code is not None and code.name in (
                    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
                name = sg.tensors[op.outputs[0]].name
                out.append((name.decode() if name else "", weight.type))
        return out

    t32 = export_tflite_fp32(staf[0].net)
    before, after = weighted_ops(t32), weighted_ops(quantize_tflite(t32))
    keep = [name.startswith(KEEP_FLOAT) for name, _ in before]
    assert 1 <= sum(keep) < len(keep), before
    assert [dtype == 0 for _, dtype in after] == keep, list(zip(before, after, strict=True))


def test_brainflow_mlmodel_runs_the_fp32_onnx(staf, tmp_path):
    """The fp32 ONNX (opset 16, IR 8) loads in BrainFlow's MLModel and gives torch's output."""
    from test_eegnet import _brainflow

    from export.nets.train import predict_proba

    trained, fp32, crops, _, _, _ = staf
    path = tmp_path / "stafnet_fp32.onnx"
    path.write_bytes(fp32)
    p = _brainflow(path, crops[:3])
    assert np.allclose(p, predict_proba(trained.net, crops[:3]), atol=1e-5)
