"""The commands of deploy/README.md, in order, and where ``deploy/emulate_pi.sh`` runs each.

The guide is what the emulation tests: emulate_pi.sh keeps no copy of the install steps, it runs
the guide's ```bash blocks command by command in an emulated arm64 Raspberry Pi OS (a Debian
bookworm arm64 chroot under qemu-user), as the Pi user. A few commands cannot run there as
written (no USB hardware, systemd is not PID 1 in a chroot, the workstation and the Pi are one
machine, ``...`` placeholders for your own recording); RULES names each one, what the script does
instead, and why, and the script prints that reason when it comes to the command.
tests/test_deploy_guide.py checks that every rule still matches a command of the guide and that
every substitute exists in the script, so the guide and the script cannot drift apart.

Standard library only: the host runs it with the system python3.

    python3 deploy/guide.py plan deploy/README.md            # what the script will do
    python3 deploy/guide.py segments deploy/README.md DIR    # DIR/plan.tsv + DIR/NNN.sh
    python3 deploy/guide.py unit UNIT ENVFILE                 # a unit's Exec lines, expanded
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

PI = "pi"  # verbatim, in the arm64 chroot, as the Pi user (in the directory the last cd left)
WORKSTATION = "workstation"  # verbatim, on the host, in a copy of the mi-edge clone
SUBST = "subst"  # emulate_pi.sh's function subst_<action>, given the command's text
SKIP = "skip"  # not run; the reason is printed


@dataclass(frozen=True)
class Rule:
    pattern: str  # re.search on the command (continuation lines joined by newlines)
    where: str
    action: str
    why: str
    section: str = ""  # only in sections whose title starts with this


@dataclass(frozen=True)
class Command:
    section: str
    block: int
    text: str
    where: str
    action: str
    why: str


RULES: tuple[Rule, ...] = (
    Rule(r"^git clone .*brainflow", SUBST, "brainflow_clone",
         "github.com may be out of reach: with BRAINFLOW_SRC set, that local repository or tree "
         "is checked out here instead (without it the command runs as written)"),
    Rule(r"^python3 tools/build\.py", SUBST, "brainflow_build",
         "compiling BrainFlow under qemu-user is hours (see the script's header for the measured "
         "rate): the same command runs on the host, into the Pi's tree, with CMAKE_TOOLCHAIN_FILE "
         "set to Debian's aarch64 cross compiler (BRAINFLOW_BUILD=native runs it as written)"),
    Rule(r"^pip wheel ", WORKSTATION, "", "the workstation's side"),
    Rule(r"^scp ", SUBST, "scp",
         "the workstation is the host and the Pi's disk is the chroot: copied with cp"),
    Rule(r"^mi-export (keygen|sign) ", WORKSTATION, "", "the workstation's side"),
    Rule(r"^mi-export fgsft \.\.\.", SUBST, "export_fgsft",
         "`...` is your calibration recording: the repository's eegmmidb S007 runs 4 and 8, "
         "8 Cyton electrodes at 250 Hz (as `mi-export demo`), fast grid"),
    Rule(r"^mi-export stffda \.\.\.", SUBST, "export_stffda",
         "`...` is your calibration recording: the same S007 runs as the FGSFT decoder"),
    Rule(r"^mi-export playback \S*REC", SUBST, "export_playback",
         "REC is your continuous recording: the repository's S007 run 12 (held out from training)"),
    Rule(r"^sudo udevadm control", SUBST, "udev",
         "no udev daemon in a chroot and no USB device under emulation: `udevadm test` parses "
         "the installed rules instead"),
    Rule(r"^ls -l /dev/openbci /dev/mi-bridge", SKIP, "",
         "no USB devices under emulation (the device emulator's pty stands in for /dev/mi-bridge)"),
    Rule(r"latency_timer", SKIP, "", "no FTDI adapter under emulation"),
    Rule(r"^sudoedit ", SUBST, "edit_env",
         "an interactive editor: the script sets the values with sed (playback of S007 run 12 "
         "as a Cyton, the device emulator's pty, a decision log, the trusted key)"),
    Rule(r"--board cyton[\s\\]+--serial-port /dev/openbci", SUBST, "hardware_run",
         "no Cyton and no microcontroller: the same command with BrainFlow's playback board "
         "(master Cyton) for the headset and the device emulator's pty for /dev/mi-bridge"),
    Rule(r"^sudo systemctl daemon-reload", SUBST, "service_verify",
         "systemd is not PID 1 in a chroot (daemon-reload fails: no bus): "
         "`systemd-analyze verify` checks the unit instead"),
    Rule(r"^sudo systemctl enable --now", SUBST, "service_run",
         "systemd is not PID 1 in a chroot: `systemctl enable` (offline), then the unit's "
         "ExecStartPre and ExecStart run as systemd starts them (User=, EnvironmentFile=, "
         "WorkingDirectory=), stopped with SIGTERM as by `systemctl stop`"),
    Rule(r"^journalctl ", SKIP, "", "no journald in a chroot: the script shows the output"),
    Rule(r".", SKIP, "",
         "optional section (LSL): it clones github.com/sccn/liblsl; not exercised here",
         section="9."),
)


def guide_blocks(text: str) -> list[tuple[str, list[str]]]:
    """(section title, lines) of every ```bash block, in order."""
    blocks: list[tuple[str, list[str]]] = []
    section, inside, lines = "", False, []
    for line in text.splitlines():
        if not inside and line.startswith("## "):
            section = line[3:].strip()
        elif not inside and line.strip() == "```bash":
            inside, lines = True, []
        elif inside and line.strip() == "```":
            inside = False
            blocks.append((section, lines))
        elif inside:
            lines.append(line)
    if inside:
        raise ValueError(f"unclosed ```bash block in section {section!r}")
    return blocks


def block_commands(lines: list[str]) -> list[str]:
    """Logical commands: comment-only and blank lines dropped, backslash continuations joined."""
    commands: list[str] = []
    current: list[str] = []
    for line in lines:
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current.append(line.rstrip())
        if not _continues(line):
            commands.append("\n".join(current))
            current = []
    if current:
        raise ValueError(f"a command ends in a continuation: {current[-1]!r}")
    return commands


def _continues(line: str) -> bool:
    code = line.split(" #", 1)[0].rstrip() if " #" in line else line.rstrip()
    return code.endswith("\\")


def classify(section: str, command: str) -> Rule | None:
    for rule in RULES:
        if rule.section and not section.startswith(rule.section):
            continue
        if re.search(rule.pattern, command, re.MULTILINE):
            return rule
    return None


def guide_commands(readme: Path) -> list[Command]:
    out: list[Command] = []
    for i, (section, lines) in enumerate(guide_blocks(readme.read_text(encoding="utf-8"))):
        for command in block_commands(lines):
            rule = classify(section, command)
            if rule is None:
                out.append(Command(section, i, command, PI, "", "as written"))
            else:
                out.append(Command(section, i, command, rule.where, rule.action, rule.why))
    return out


def unused_rules(commands: list[Command]) -> list[Rule]:
    used = {(c.where, c.action, c.why) for c in commands}
    return [r for r in RULES if (r.where, r.action, r.why) not in used]


def write_segments(readme: Path, out_dir: Path) -> int:
    """One file per command (NNN.sh) and plan.tsv: NNN, where, action, section, why."""
    commands = guide_commands(readme)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for n, c in enumerate(commands, 1):
        (out_dir / f"{n:03d}.sh").write_text(c.text + "\n", encoding="utf-8")
        rows.append("\t".join((f"{n:03d}", c.where, c.action or "-", c.section, c.why)))
    (out_dir / "plan.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return len(commands)


def unit_exec(unit: Path, env_file: Path) -> dict[str, list[list[str]] | str | dict[str, str]]:
    """What systemd would run for a simple service: its settings and its Exec lines expanded
    with the EnvironmentFile, as systemd does (``${VAR}`` one argument, ``$VAR`` split at
    whitespace, an empty ``$VAR`` no argument)."""
    env = _env_file(env_file)
    settings: dict[str, str] = {}
    execs: dict[str, list[list[str]]] = {"ExecStartPre": [], "ExecStart": []}
    for raw in unit.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")) or "=" not in line:
            continue
        key, value = line.split("=", 1)
        if key in execs:
            execs[key].append(_expand(value, env))
        else:
            settings[key] = value
    return {"settings": settings, "env": env, **execs}


def _env_file(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if "=" not in line:
            raise ValueError(f"{path}: not VAR=value: {line!r}")
        key, value = line.split("=", 1)
        env[key.strip()] = value.strip()
    return env


def _expand(value: str, env: dict[str, str]) -> list[str]:
    argv: list[str] = []
    for word in shlex.split(value):
        whole = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if whole:  # $VAR alone: split at whitespace, nothing when empty
            argv.extend(env.get(whole.group(1), "").split())
        else:
            argv.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}",
                               lambda m: env.get(m.group(1), ""), word))
    return argv


def _print_plan(readme: Path) -> int:
    commands = guide_commands(readme)
    for n, c in enumerate(commands, 1):
        first = c.text.splitlines()[0]
        print(f"{n:3d} {c.where:<11} {c.action or '':<16} {first[:90]}")
    stale = unused_rules(commands)
    for rule in stale:
        print(f"stale rule (matches no command of the guide): {rule.pattern!r}", file=sys.stderr)
    return 1 if stale else 0


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "plan":
        return _print_plan(Path(argv[1]))
    if len(argv) == 3 and argv[0] == "segments":
        n = write_segments(Path(argv[1]), Path(argv[2]))
        print(f"{n} commands")
        return 0
    if len(argv) == 3 and argv[0] == "unit":
        info = unit_exec(Path(argv[1]), Path(argv[2]))
        settings, env = info["settings"], info["env"]
        assert isinstance(settings, dict) and isinstance(env, dict)
        for key in ("User", "Group", "SupplementaryGroups", "WorkingDirectory",
                    "StateDirectory", "LogsDirectory", "TimeoutStopSec"):
            print(f"{key}\t{settings.get(key, '')}")
        for key, value in env.items():
            print(f"env\t{key}={value}")
        for key in ("ExecStartPre", "ExecStart"):
            for cmd in info[key]:
                print(f"{key}\t" + "\t".join(cmd))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
