"""``mi-edge check`` refuses bundles whose hashes are fine but which would crash or mislead the
runtime (issue 11, defect 5), with exit 3 (the systemd unit's no-restart list), and ``run``
refuses them before touching the board. Each case passed ``check`` on the old code."""

from __future__ import annotations

import shutil

import numpy as np
import onnx
import pytest
from conftest import REPO, rehash_bundle
from onnx import TensorProto, helper

from edge.cli import main as edge_main

FIXTURE = REPO / "tests" / "fixtures" / "demo_v0_S007_cyton.mibundle"
MONTAGE = "C3,Cz,C4,FC3,FC4,CP3,CP4,C1"


@pytest.fixture
def bundle(tmp_path):
    dst = tmp_path / "b.mibundle"
    shutil.copytree(FIXTURE, dst)
    return dst


_rehash = rehash_bundle


def _edit_fgsft(path, key, fn):
    f = path / "fgsft.npz"
    arrays = dict(np.load(f))
    arrays[key] = fn(arrays[key].astype(np.float64))
    np.savez(f, **arrays)
    _rehash(path)


def _constant_onnx(path, member, values):
    """Replace an ONNX member by a model of the same input that outputs ``values``."""
    x = helper.make_tensor_value_info("eeg", TensorProto.FLOAT, [1, 8, 500])
    y = helper.make_tensor_value_info("proba", TensorProto.FLOAT, [1, len(values)])
    const = helper.make_tensor("c", TensorProto.FLOAT, [1, len(values)], list(values))
    zero = helper.make_tensor("z", TensorProto.FLOAT, [], [0.0])
    shape = helper.make_tensor("s", TensorProto.INT64, [2], [1, 1])
    axes = helper.make_tensor("a", TensorProto.INT64, [2], [1, 2])
    nodes = [
        helper.make_node("ReduceSum", ["eeg", "a"], ["r"], keepdims=1),
        helper.make_node("Reshape", ["r", "s"], ["r2"]),
        helper.make_node("Mul", ["r2", "z"], ["r3"]),
        helper.make_node("Add", ["r3", "c"], ["proba"]),
    ]
    graph = helper.make_graph(nodes, "constant", [x], [y], [const, zero, shape, axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)])
    model.ir_version = 8
    onnx.save(model, str(path / member))
    _rehash(path)


def _check(path, *extra):
    return edge_main(["check", str(path), *extra])


@pytest.mark.parametrize("key, fn, needle", [
    ("intercepts", lambda a: a * np.nan, "non-finite intercept"),
    ("intercepts", lambda a: a + np.inf, "non-finite intercept"),
    ("platt", lambda a: a * np.nan, "non-finite calibration"),
])
def test_non_finite_fgsft_parameters_are_refused(bundle, key, fn, needle, capsys):
    _edit_fgsft(bundle, key, fn)
    assert _check(bundle) == 3
    assert needle in capsys.readouterr().err


@pytest.mark.parametrize("values, needle", [
    ([0.2, 0.3, 0.5], "outputs shape (3,) per window, the bundle has 2 classes"),
    ([2.0, -1.0], "outputs are not probabilities"),
    ([float("nan"), 0.5], "outputs NaN or infinite probabilities"),
])
def test_onnx_models_that_do_not_output_probabilities_are_refused(bundle, values, needle, capsys):
    _constant_onnx(bundle, "stffda_fp32.onnx", values)
    assert _check(bundle, "--decoder", "stffda_fp32") == 3
    assert needle in capsys.readouterr().err


def test_a_broken_decoder_that_will_not_run_only_warns(bundle, capsys):
    """A Pi without a TFLite interpreter must still run the bundle's FGSFT: check refuses only
    the decoder run will use (--all for every one)."""
    _constant_onnx(bundle, "stffda_fp32.onnx", [0.2, 0.3, 0.5])
    assert _check(bundle) == 0
    err = capsys.readouterr().err
    assert "warning: decoder stffda_fp32 cannot run on this device" in err
    assert _check(bundle, "--all") == 3


@pytest.mark.parametrize("classes, needle", [
    (["left_hand", "left_hand"], "appear twice"),
    (["x" * 200, "y" * 200], "cannot go over the serial link"),
])
def test_class_names_the_device_cannot_use_are_refused(bundle, classes, needle, capsys):
    _rehash(bundle, lambda m: m.update(classes=classes))
    assert _check(bundle) == 3
    assert needle in capsys.readouterr().err


def test_run_refuses_a_bundle_that_would_crash_the_loop(bundle, capsys):
    _edit_fgsft(bundle, "intercepts", lambda a: a * np.nan)
    rc = edge_main(["run", str(bundle), "--board", "synthetic", "--montage", MONTAGE,
                    "--out", "stdout", "--duration", "1"])
    assert rc == 3
    assert "non-finite intercept" in capsys.readouterr().err
