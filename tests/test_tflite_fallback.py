"""On a Pi with tflite-runtime 2.14 under numpy 2 the old wheel imports but cannot build an
interpreter (``_ARRAY_API not found``): the TFLite decoder must fall back to ai-edge-litert
instead of refusing the bundle (issue 11)."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert.interpreter")


class _BrokenInterpreter:
    def __init__(self, *args, **kwargs):
        raise AttributeError("_ARRAY_API not found")


@pytest.fixture
def broken_tflite_runtime(monkeypatch):
    pkg = types.ModuleType("tflite_runtime")
    mod = types.ModuleType("tflite_runtime.interpreter")
    mod.Interpreter = _BrokenInterpreter
    pkg.interpreter = mod
    monkeypatch.setitem(sys.modules, "tflite_runtime", pkg)
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", mod)


def test_a_broken_tflite_runtime_falls_back_to_litert(broken_tflite_runtime):
    from conftest import REPO

    from edge.bundle import open_bundle
    from edge.decoders import load_decoder

    fixtures = REPO / "tests" / "fixtures"
    dec = load_decoder(open_bundle(fixtures / "demo_v0_S007_cyton.mibundle"),
                       "stffda_tflite_int8")
    assert dec.interpreter == "ai_edge_litert"
    ref = np.load(fixtures / "demo_v0_S007_cyton_r12.npz")
    np.testing.assert_allclose(dec.predict_proba(ref["X"].astype(np.float64)),
                               ref["proba_stffda_tflite_int8"], atol=1e-6)
