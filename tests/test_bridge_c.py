"""C library of the firmware bridge: host unit tests, AVR cross-compile, parity with Python.

gcc, make and avr-gcc come from Debian (`make system-deps`, run by `make test` and CI). The C
tests skip only when gcc/make are absent; the AVR build fails, never skips, without avr-gcc.
"""

from __future__ import annotations

import subprocess

import pytest

from firmware_bridge import cbuild, vectorgen
from firmware_bridge.frames import FrameEncoder

pytestmark = pytest.mark.skipif(
    bool(cbuild.missing_tools()), reason=f"missing {cbuild.missing_tools()} (make system-deps)"
)


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    return cbuild.build_runner(tmp_path_factory.mktemp("cbuild"))


def run_decode(runner, streams: list[bytes], key: str = "") -> list[list[str]]:
    """Feed each stream to a fresh C decoder; the output lines of each stream."""
    payload = b"".join(len(s).to_bytes(4, "little") + s for s in streams)
    cmd = [runner, "decode"] + ([key] if key else [])
    proc = subprocess.run(cmd, input=payload, capture_output=True, check=True)
    out: list[list[str]] = [[]]
    for line in proc.stdout.decode().splitlines():
        if line == ".":
            out.append([])
        else:
            out[-1].append(line)
    assert out.pop() == [] and len(out) == len(streams)
    return out


def test_c_host_unit_tests(tmp_path):
    output = cbuild.make(["test"], tmp_path)
    print(output)
    assert "test_codec:" in output and "test_receiver:" in output and "test_issue10:" in output
    assert " 0 failed" in output and "failed\n" in output


def test_avr_cross_compile_fits_an_uno(tmp_path):
    missing = cbuild.missing_tools(avr=True)
    assert not missing, f"{missing} not installed: run `make system-deps` (gcc-avr, avr-libc)"
    output = cbuild.make(["avr", "sketch"], tmp_path)
    print(output)
    assert "mi_bridge_receiver.ino type-checks" in output
    usage = cbuild.avr_usage(output)
    assert 0 < usage["flash_bytes"] < 4096, usage  # of 32 KiB
    assert 0 < usage["ram_bytes"] < 256, usage  # of 2 KiB
    assert 0 < usage["mac_flash_bytes"] < 8192, usage
    assert 0 < usage["mac_ram_bytes"] < 320, usage


def test_c_decoder_matches_every_vector(runner):
    doc = vectorgen.load_vectors()
    vectors = doc["vectors"]
    streams = [bytes.fromhex(v["wire"]) for v in vectors]
    got = run_decode(runner, streams)
    got_key = run_decode(runner, streams, doc["mac_key"])
    for vector, lines, keyed in zip(vectors, got, got_key, strict=True):
        assert lines == vector["expect"], vector["name"]
        assert keyed == vector["expect_key"], vector["name"]


def test_c_ascii_parser_matches_every_line(runner):
    lines = vectorgen.load_vectors()["ascii"]
    payload = b"".join(
        len(raw).to_bytes(4, "little") + raw for raw in (bytes.fromhex(v["line"]) for v in lines)
    )
    proc = subprocess.run([runner, "ascii"], input=payload, capture_output=True, check=True)
    assert proc.stdout.decode().splitlines() == [v["expect"] for v in lines]


def test_c_receiver_matches_every_scenario(runner):
    for scenario in vectorgen.load_vectors()["scenarios"]:
        script = "".join(f"{kind} {arg}\n" for kind, arg in scenario["steps"])
        key = [scenario["key"]] if scenario["key"] else []
        proc = subprocess.run(
            [runner, "receive", str(scenario["timeout_ms"]), str(scenario["class_hash"]), *key],
            input=script.encode(),
            capture_output=True,
            check=True,
        )
        assert proc.stdout.decode().splitlines() == scenario["expect"], scenario["name"]


def test_c_decoder_resynchronises_after_garbage(runner):
    frame = FrameEncoder(clock_ms=lambda: 7).decision(1, 0.5)
    (lines,) = run_decode(runner, [bytes(range(1, 256)) * 3 + b"\x00" + frame])
    assert lines == ["R oversize", "F 2 2 0 0 7 018000"]
