"""The Raspberry Pi guide and its emulated run stay in step (issue 18).

deploy/emulate_pi.sh keeps no copy of the install steps: it runs deploy/README.md's ```bash blocks
through deploy/guide.py, which says for each command whether it runs as written (on the emulated
Pi or on the workstation) or what replaces it and why. These tests fail when a guide edit leaves
a substitution rule behind, when a substitute has no function in the script, or when a command a
Pi user must run as written would be substituted or skipped.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
README = DEPLOY / "README.md"

_spec = importlib.util.spec_from_file_location("deploy_guide", DEPLOY / "guide.py")
assert _spec is not None and _spec.loader is not None
guide = importlib.util.module_from_spec(_spec)
sys.modules["deploy_guide"] = guide
_spec.loader.exec_module(guide)


@pytest.fixture(scope="module")
def commands() -> list:
    return guide.guide_commands(README)


def test_every_rule_matches_a_command_of_the_guide(commands: list) -> None:
    assert len(commands) > 40
    assert guide.unused_rules(commands) == []
    assert {c.where for c in commands} <= {guide.PI, guide.WORKSTATION, guide.SUBST, guide.SKIP}


def test_every_substitute_is_a_function_of_the_script(commands: list) -> None:
    script = (DEPLOY / "emulate_subst.sh").read_text(encoding="utf-8")
    defined = set(re.findall(r"^(subst_\w+)\(\) \{", script, re.MULTILINE))
    wanted = {f"subst_{c.action}" for c in commands if c.where == guide.SUBST}
    assert wanted - defined == set(), "substitutes the guide needs but the script lacks"
    assert defined - wanted == set(), "substitutes no command of the guide uses any more"


def test_the_script_runs_the_guide_itself() -> None:
    main = (DEPLOY / "emulate_pi.sh").read_text(encoding="utf-8")
    assert 'GUIDE=$REPO/deploy/README.md' in main
    assert 'guide.py" segments "$GUIDE"' in main
    for kind, runner in (("pi", "run_pi"), ("workstation", "run_ws"), ("subst", '"subst_$action"'),
                         ("skip", "NOT RUN")):
        assert re.search(rf"^\s+{kind}\) .*{re.escape(runner)}", main, re.MULTILINE), kind


def test_the_install_runs_as_written_on_the_emulated_pi(commands: list) -> None:
    as_written = [c.text for c in commands if c.where == guide.PI]
    for needle in ("python3 -m venv /opt/mi-edge/venv",
                   '/opt/mi-edge/venv/bin/pip install -U pip wheel "setuptools>=77.0.3,<82"',
                   "sed -i \"s/version='0.0.1'/version='5.23.0'/\" python_package/setup.py",
                   "/opt/mi-edge/venv/bin/pip install -U ./python_package",
                   "/opt/mi-edge/venv/bin/pip install /opt/mi-edge/src/mi_edge-0.1.0",
                   "sudo useradd --system", "mi-edge check /var/lib/mi-edge/S007-v1.mibundle",
                   "sudo install -m 0644 deploy/mi-edge.service", "deploy/check_pi.sh",
                   "--board synthetic", "--board playback"):
        assert any(needle in text for text in as_written), needle


def test_only_hardware_and_the_optional_lsl_section_are_left_out(commands: list) -> None:
    for c in commands:
        if c.where == guide.SKIP:
            assert c.section.startswith("9.") or re.search(
                r"latency_timer|^ls -l /dev/openbci|^journalctl", c.text), c.text
            assert c.why


def test_commands_are_split_as_bash_reads_them() -> None:
    lines = ["# a comment", "", "sudo apt install -y a \\", "    b c      # trailing", "cd /x",
             "python3 -c \\", '    "print(1)"']
    assert guide.block_commands(lines) == [
        "sudo apt install -y a \\\n    b c      # trailing", "cd /x",
        'python3 -c \\\n    "print(1)"']
    with pytest.raises(ValueError, match="continuation"):
        guide.block_commands(["echo a \\"])
    with pytest.raises(ValueError, match="unclosed"):
        guide.guide_blocks("## 1. x\n```bash\necho\n")


def test_the_unit_expands_its_settings_as_systemd_does() -> None:
    info = guide.unit_exec(DEPLOY / "mi-edge.service", DEPLOY / "mi-edge.env.example")
    assert info["settings"]["User"] == "mi-edge"
    [pre] = info["ExecStartPre"]
    assert pre == ["/opt/mi-edge/venv/bin/mi-edge", "check", "/var/lib/mi-edge/current.mibundle"]
    [main] = info["ExecStart"]
    assert main[:3] == ["/opt/mi-edge/venv/bin/mi-edge", "run", "/var/lib/mi-edge/current.mibundle"]
    assert main[3:9] == ["--board", "cyton", "--serial-port", "/dev/openbci", "--montage",
                         "C3,Cz,C4,FC3,FC4,CP3,CP4,Fz"]
    assert "serial:/dev/mi-bridge" in main and main[-2:] == ["--stall-timeout", "1.0"]
    assert "" not in main  # the empty $MI_EDGE_DECODER_ARGS is no argument


def test_the_plan_lists_every_command(commands: list) -> None:
    out = subprocess.run(["bash", str(DEPLOY / "emulate_pi.sh"), "--plan"], capture_output=True,
                         text=True, timeout=60, check=True)
    assert "stale rule" not in out.stderr
    assert len(out.stdout.splitlines()) == len(commands)


def test_files_the_guide_names_exist() -> None:
    text = README.read_text(encoding="utf-8")
    for name in set(re.findall(r"deploy/([\w.-]+\.(?:sh|rules|service|example|py))", text)):
        assert (DEPLOY / name).is_file(), name
