"""STAFNet on real EEG (bundled eegmmidb S007): shapes of every ablation, the learnt adjacency,
ONNX export, learning a separable subject, int8 bounds.

One net is trained once per session on S007 runs 4 and 8 (run 12 stays held out), with the
benchmark's STAFNet recipe (fixed epochs, AdamW lr 3e-3) but fewer epochs.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from conftest import S007, WINDOW

HAS_LITERT = all(importlib.util.find_spec(m) is not None
                 for m in ("ai_edge_litert", "litert_torch", "ai_edge_quantizer"))

#: The bounds STFF-DA defends (tests/test_stffda_pipeline.py), on every 50 ms-shifted crop of
#: the held-out run.
MIN_AGREEMENT = 0.98
MAX_DEV_ONNX_INT8 = 0.08
SHIFT = 0.25
EPOCHS = 40


def _base(ep, **kw):
    from export.stafnet.config import STAFNetConfig

    return STAFNetConfig.for_data(len(ep.ch_names), 320, 2, ep.sfreq, ep.ch_names, **kw)


@pytest.fixture(scope="module")
def s007_wide():
    from export.data import load_epochs

    return load_epochs([S007], window=(WINDOW[0] - SHIFT, WINDOW[1] + SHIFT))


@pytest.fixture(scope="module")
def trained(s007_wide):
    """(Trained on runs 4+8, held-out crops of run 12, their labels, trial windows, labels)."""
    from export.nets.train import TrainConfig, epochs_to_crops, train

    ep = s007_wide
    tr, te = ep.subset(ep.runs != 12), ep.subset(ep.runs == 12)
    tc = TrainConfig(max_epochs=EPOCHS, lr=3e-3, seed=0, early_stopping=False)
    m = train(tr, _base(ep), tc, band=(4.0, 40.0))
    crops = epochs_to_crops(te, 320, m.prep, tc.crop_step)
    n = crops.crops.shape[1]
    return (m, crops.crops.reshape(-1, 64, 320), np.repeat(crops.y, n), crops.windows,
            crops.y)


def _windows(ep, n=3):
    from export.nets.train import fit_scale

    m = (ep.n_samples - 320) // 2
    return fit_scale(ep, 320, 4.0, 40.0)(ep.X[:n, :, m:m + 320]).astype(np.float32)


def test_every_ablation_maps_windows_to_class_logits(s007_wide):
    import torch

    from export.stafnet.config import ABLATIONS, variant
    from export.stafnet.model import STAFNet

    x = _windows(s007_wide)
    base = _base(s007_wide, d_model=8, node_features=4, ff_dim=16)
    sizes = {}
    for name in [*ABLATIONS, "graph_l6"]:
        cfg = (base.with_(n_graph_layers=6) if name == "graph_l6"
               else variant(base, name)).with_adjacency_from(x)
        net = STAFNet(cfg).eval()
        with torch.no_grad():
            out = net(torch.from_numpy(x))
        assert out.shape == (3, 2) and torch.isfinite(out).all(), name
        sizes[name] = sum(p.numel() for p in net.parameters())
        assert (net.graph is None) == (name == "no_graph")
        assert (net.temporal is None) == (name == "no_temporal")
    assert sizes["graph_l6"] > sizes["stafnet"] > sizes["no_graph"]
    assert sizes["fusion_add"] < sizes["stafnet"]  # no cross-attention projections


def test_bad_options_are_refused(s007_wide):
    from export.stafnet.config import STAFNetConfig

    with pytest.raises(ValueError, match="no module"):
        _base(s007_wide, graph="none", temporal=False)
    with pytest.raises(ValueError, match="needs ch_names"):
        STAFNetConfig(64, 320)
    with pytest.raises(ValueError, match="fusion"):
        _base(s007_wide, fusion="gated")
    with pytest.raises(ValueError, match="with_adjacency_from"):
        _base(s007_wide, graph="static", adjacency="pli").initial_adjacency()
    with pytest.raises(ValueError, match="no 10-05 position"):
        STAFNetConfig(2, 320, ch_names=("C3", "X9")).initial_adjacency()


def test_adjacencies_on_real_eeg(s007_wide):
    from export.stafnet.adjacency import distance_adjacency, pli_adjacency

    names = list(s007_wide.ch_names)
    a = distance_adjacency(names)
    i = {n.lower(): k for k, n in enumerate(names)}
    assert np.allclose(a, a.T) and np.allclose(np.diag(a), 1.0)
    assert a[i["c3"], i["c1"]] > a[i["c3"], i["cz"]] > a[i["c3"], i["c4"]]
    p = pli_adjacency(_windows(s007_wide, 6))
    assert np.allclose(p, p.T, atol=1e-6) and p.min() >= 0 and p.max() <= 1
    off = p[~np.eye(len(p), dtype=bool)]
    assert 0.02 < off.mean() < 0.9  # real phase structure, not 0 or 1 everywhere


def test_adaptive_adjacency_is_learnt_and_static_is_frozen(s007_wide):
    import torch

    from export.stafnet.model import STAFNet

    x = torch.from_numpy(_windows(s007_wide, 8))
    y = torch.from_numpy(s007_wide.y[:8])
    for graph, adjacency in (("adaptive", "distance"), ("static", "pli")):
        torch.manual_seed(0)
        cfg = _base(s007_wide, graph=graph, adjacency=adjacency).with_adjacency_from(x.numpy())
        net = STAFNet(cfg)
        before = net.adjacency().clone()
        opt = torch.optim.AdamW(net.parameters(), lr=1e-2)
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
        moved = float((net.adjacency() - before).abs().max())
        if graph == "adaptive":
            assert moved > 1e-4
            assert any(p is net.graph.adjacency for p in net.parameters())
        else:
            assert moved == 0.0
            assert all(p is not net.graph.adjacency for p in net.parameters())


def test_onnx_export_matches_torch_for_every_variant(s007_wide):
    import torch

    from export.nets.onnx_export import check_against_torch, export_onnx, onnx_io
    from export.stafnet.config import ABLATIONS, variant
    from export.stafnet.model import STAFNet

    x = _windows(s007_wide, 4)
    # the static variants' graph is the full net's with another constant adjacency
    for name in [n for n in ABLATIONS if not n.startswith("static")]:
        torch.manual_seed(0)
        net = STAFNet(variant(_base(s007_wide), name).with_adjacency_from(x)).eval()
        model = export_onnx(net, form=net.export_form())
        io = onnx_io(model)
        assert io["opset"] <= 16 and io["ir_version"] <= 8, name
        assert io["input_shape"] == [1, 64, 320] and io["output_shape"] == [1, 2], name
        assert check_against_torch(net, model, x) < 1e-4, name


def test_registry_builds_stafnet_and_fits_a_data_adjacency(s007_wide):
    """The net registry builds STAFNet from its config; a PLI adjacency is fitted from training
    windows and survives the config's dict round trip (the bundle's record)."""
    from export.nets.registry import build, get, names
    from export.stafnet.model import STAFNet

    assert "stafnet" in names()
    entry = get("stafnet")
    cfg = _base(s007_wide)
    assert isinstance(build(cfg), STAFNet)
    assert entry.config.from_dict(cfg.to_dict()) == cfg
    pli = entry.fit_config(_base(s007_wide, graph="static", adjacency="pli"),
                           _windows(s007_wide, 4))
    assert pli.adjacency_matrix is not None and not pli.needs_data
    back = entry.config.from_dict(pli.to_dict())
    assert np.allclose(back.initial_adjacency(), pli.initial_adjacency(), atol=1e-5)


def test_learns_the_separable_subject(trained):
    """S007 (FGSFT 0.978 leave-one-run-out): held-out run 12 above chance with margin."""
    from export.nets.train import predict_proba

    m, crops, y_crops, windows, y = trained
    p = predict_proba(m.net, windows)
    acc = float(np.mean(p.argmax(1) == y))
    # measured 13/15 (0.867) and 0.818 of the crops; the other folds of this recipe give
    # 0.667 (run 4) and 0.733 (run 8). Chance is 0.5: P(>= 11/15 | chance) = 0.06.
    assert acc >= 11 / 15, acc
    pc = predict_proba(m.net, crops)
    assert float(np.mean(pc.argmax(1) == y_crops)) >= 0.7  # every 50 ms-shifted crop


def test_int8_onnx_agrees_with_fp32_on_held_out_crops(trained):
    """ORT dynamic int8 (int8 Conv/MatMul kernels) and weight-only int8 (int8 weights, float
    compute) on every crop of run 12: decisions within STFF-DA's bound for the whole graph, and
    posteriors too with :data:`INT8_EXCLUDE` kept in float."""
    from export.nets.onnx_export import export_onnx
    from export.nets.quantize import quantize_onnx, run_onnx
    from export.stafnet.model import INT8_EXCLUDE

    m, crops, y_crops, _, _ = trained
    fp32 = export_onnx(m.net, form=m.net.export_form())
    p32 = run_onnx(fp32, crops)
    ratios = {}
    for scheme in ("dynamic", "weight_only"):
        for exclude in ((), INT8_EXCLUDE):
            q = quantize_onnx(fp32, scheme, exclude=exclude)
            p8 = run_onnx(q, crops)
            agree = float(np.mean(p32.argmax(1) == p8.argmax(1)))
            dev = float(np.max(np.abs(p32 - p8)))
            print(f"{scheme} exclude={exclude}: {len(q)} bytes, agreement {agree:.4f}, "
                  f"max |dp| {dev:.4f}")
            assert agree >= MIN_AGREEMENT, (scheme, exclude, agree)
            # the whole graph moved a posterior by 0.079 (dynamic) here and by 0.150 on S002
            # run 12: the bound is defended with the sensitive filter in float
            if exclude:
                assert dev <= MAX_DEV_ONNX_INT8, (scheme, exclude, dev)
            acc32, acc8 = np.mean(p32.argmax(1) == y_crops), np.mean(p8.argmax(1) == y_crops)
            assert abs(acc32 - acc8) <= 1 - MIN_AGREEMENT, scheme
            ratios[scheme, exclude] = len(fp32) / len(q)
    # dynamic: per-activation quantization nodes on a 31k-parameter net keep it ~1.6x smaller;
    # weight-only: int8 weights and compacted names, > 3x
    assert all(r > 1.4 for r in ratios.values()), ratios
    assert ratios["weight_only", INT8_EXCLUDE] > 2.5, ratios


@pytest.mark.slow
@pytest.mark.skipif(not HAS_LITERT, reason="needs the litert extra")
def test_tflite_int8_agrees_with_fp32(trained):
    """LiteRT int8 weights with float activations, on every crop of run 12. The hybrid kernels
    (``dynamic_wi8_afp32``, activations quantized on the fly) kept every decision bound but
    moved a posterior by 0.088 (STFF-DA's bound is 0.08); weight-only int8 holds both."""
    from export.nets.tflite_export import export_tflite_fp32, quantize_tflite, run_tflite
    from export.nets.train import predict_proba

    m, crops, _, _, _ = trained
    t32 = export_tflite_fp32(m.net)
    p_ref = predict_proba(m.net, crops)
    for scheme, bound in (("dynamic_wi8_afp32", 0.12), ("weight_only_wi8_afp32",
                                                         MAX_DEV_ONNX_INT8)):
        p8 = run_tflite(quantize_tflite(t32, scheme), crops)
        assert np.mean(p_ref.argmax(1) == p8.argmax(1)) >= MIN_AGREEMENT, scheme
        dev = float(np.max(np.abs(p_ref - p8)))
        print(f"TFLite {scheme}: agreement {np.mean(p_ref.argmax(1) == p8.argmax(1)):.4f}, "
              f"max |dp| {dev:.4f}")
        assert dev <= bound, (scheme, dev)
