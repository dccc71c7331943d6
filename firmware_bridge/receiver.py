"""Receiver rules: what a device does with decoded frames, rejections and the passage of time.

This module is the Python twin of ``mi_bridge_receiver_*`` in the C library; the emulator runs
it, and the tests drive both with the same scenarios and compare :meth:`Receiver.status_line`.

States: ``SAFE`` (output neutral; ``safe_reason`` says why) and ``LINKED`` (the host is alive;
the output follows the last DECISION while it is fresh). The rules, also in ``PROTOCOL.md`` 5:

- Boot is ``SAFE/boot``. Only a HELLO links (from any SAFE state): a DECISION or HEARTBEAT
  never does, so nothing is acted on before a HELLO and a timed-out link stays down until the
  host announces a session again.
- A HELLO opens a session: its session id, sequence number, class count and timestamp become the
  references. With ``class_hash`` set (the model the firmware was built for; 0 accepts any),
  a HELLO with another class hash is refused and the receiver goes ``SAFE/model``. A HELLO of
  the current session must advance the sequence like any frame (a replayed HELLO cannot rewind
  it); a HELLO older than ``timeout_ms`` (see host clock below) is refused while the current
  session was heard within CLOCK_FORGET_MS (10 s; after that the host may have rebooted).
- STOP -> ``SAFE/stop``; FAULT -> ``SAFE/fault``; a frame rejected for VERSION ->
  ``SAFE/version``. STOP and FAULT are obeyed whatever their session, sequence or age.
- DECISION/HEARTBEAT: without a session -> ``ignored``; of another session -> ``foreign``;
  sequence step (uint32) 0 or >= 2**31 -> ``stale``; older than ``timeout_ms`` -> ``old``. None
  of them feeds the watchdog. A step of k > 1 counts k - 1 in ``lost``; the frame is used.
- Host clock: the receiver keeps a reference pair (host timestamp, local time), set by the HELLO
  and moved forward by every used frame whose timestamp is ahead of the estimate. The estimated
  host time now is ``ref_host + e - e // 128`` with ``e`` the local time since the reference (a
  device clock up to 1/128 fast is tolerated); a frame is ``old`` when the estimate exceeds its
  timestamp by more than ``timeout_ms``. Bytes that sat in a buffer expire this way.
- A rejected frame (CRC, COBS, AUTH, ...) is counted and otherwise ignored.
- Watchdog: ``LINKED`` with no used frame for more than ``timeout_ms`` -> ``SAFE/timeout``.
  A command expires ``timeout_ms`` after its DECISION even if HEARTBEATs keep the link up.
- A DECISION with the HOLD flag, or a class index >= n_classes of the HELLO, sets the
  command to neutral (-1); the latter is also counted in ``ignored``.
- Times are uint32 ms that wrap; elapsed time is ``(now - then) mod 2**32``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from firmware_bridge.decoder import Rejection, RejectReason
from firmware_bridge.frames import (
    SEQ_MODULO,
    TIME_MODULO,
    Decision,
    DecisionFlags,
    Fault,
    Frame,
    Hello,
    MessageType,
)


class LinkState(IntEnum):
    """Receiver state; same numbers as ``mi_bridge_state_t``."""

    SAFE = 0
    LINKED = 1


class SafeReason(IntEnum):
    """Why the receiver is SAFE; same numbers as ``mi_bridge_safe_reason_t``."""

    NONE = 0
    BOOT = 1
    STOP = 2
    FAULT = 3
    TIMEOUT = 4
    VERSION = 5
    MODEL = 6


DRIFT_SHIFT = 7
"""The device clock may run up to 2**-DRIFT_SHIFT (1/128, 0.8 %) fast (MI_BRIDGE_DRIFT_SHIFT)."""

CLOCK_FORGET_MS = 10_000
"""A HELLO is age-checked while the current session was heard within this many ms; after a
longer silence the host may have rebooted (its monotonic clock restarted) and any HELLO is
taken (MI_BRIDGE_CLOCK_FORGET_MS). A host must not reboot faster than this."""

_HALF = 1 << 31


@dataclass
class ReceiverEvent:
    """Something worth showing: a state change, a command, a gap, a stale frame, a rejection."""

    kind: str
    fields: dict[str, object] = field(default_factory=dict)


class Receiver:
    """The device side of the protocol.

    Parameters
    ----------
    timeout_ms : int
        Heartbeat timeout: longest silence (no used frame) before going safe, longest life of a
        command, and oldest host timestamp accepted. Must exceed the host's heartbeat period;
        2x..3x is a sane choice.
    class_hash : int
        CRC-32 of the class names the device was built for (``frames.class_hash``); a HELLO
        with another hash is refused. 0 accepts any model.

    Attributes
    ----------
    last_outcome : str
        What happened to the last frame: ``used``, ``hello``, ``safe`` (STOP/FAULT),
        ``no_session``, ``foreign``, ``stale``, ``old``, ``model``, ``ignored`` (safe until
        HELLO) or ``reject`` (decoder rejection).
    """

    def __init__(self, timeout_ms: int = 500, class_hash: int = 0) -> None:
        if not 1 <= timeout_ms <= 0xFFFF:
            raise ValueError(f"timeout_ms {timeout_ms} outside 1..65535")
        self.timeout_ms = timeout_ms
        self.expected_class_hash = class_hash & 0xFFFFFFFF
        self.state = LinkState.SAFE
        self.safe_reason = SafeReason.BOOT
        self.command = -1
        self.confidence_u8 = 0
        self.fault_reason = 0
        self.n_classes = 0
        self.class_names: tuple[str, ...] = ()
        self.lost = 0
        self.stale = 0
        self.old = 0
        self.foreign = 0
        self.rejected = 0
        self.ignored = 0
        self.last_outcome = ""
        self._has_session = False
        self._session = 0
        self._last_seq = 0
        self._host_ref = 0
        self._local_ref = 0
        self._last_frame_ms = 0
        self._last_decision_ms = 0
        self._heard_ms = 0

    # -- helpers -----------------------------------------------------------------------------
    def _enter_safe(self, reason: SafeReason, events: list[ReceiverEvent]) -> None:
        changed = self.state != LinkState.SAFE or self.safe_reason != reason
        self.state = LinkState.SAFE
        self.safe_reason = reason
        self._set_command(-1, events)
        if changed:
            events.append(ReceiverEvent("state", {"state": "SAFE", "reason": reason.name.lower()}))

    def _link(self, events: list[ReceiverEvent]) -> None:
        if self.state != LinkState.LINKED:
            self.state = LinkState.LINKED
            self.safe_reason = SafeReason.NONE
            events.append(ReceiverEvent("state", {"state": "LINKED", "reason": "none"}))

    def _set_command(self, command: int, events: list[ReceiverEvent]) -> None:
        if command != self.command:
            self.command = command
            events.append(ReceiverEvent("command", {"command": command}))

    @staticmethod
    def _elapsed(now_ms: int, then_ms: int) -> int:
        return (now_ms - then_ms) % TIME_MODULO

    def host_age_ms(self, timestamp_ms: int, now_ms: int) -> int:
        """Estimated age of a host timestamp (negative: ahead of the estimate)."""
        e = self._elapsed(now_ms, self._local_ref)
        estimate = self._host_ref + e - (e >> DRIFT_SHIFT)
        age = (estimate - timestamp_ms) % TIME_MODULO
        return age - TIME_MODULO if age >= _HALF else age

    def _anchor(self, timestamp_ms: int, now_ms: int) -> None:
        self._host_ref, self._local_ref = timestamp_ms % TIME_MODULO, now_ms % TIME_MODULO

    @property
    def is_safe(self) -> bool:
        return self.state == LinkState.SAFE

    # -- inputs ------------------------------------------------------------------------------
    def on_event(self, event: Frame | Rejection, now_ms: int) -> list[ReceiverEvent]:
        """Process one decoder output at local time ``now_ms``."""
        if isinstance(event, Rejection):
            return self.on_rejection(event.reason)
        return self.on_frame(event, now_ms)

    def on_rejection(self, reason: RejectReason) -> list[ReceiverEvent]:
        events = [ReceiverEvent("reject", {"reason": reason.name.lower()})]
        self.last_outcome = "reject"
        self.rejected += 1
        if reason == RejectReason.VERSION:
            self._enter_safe(SafeReason.VERSION, events)
        return events

    def _refuse(self, outcome: str, events: list[ReceiverEvent], **fields: object) -> None:
        self.last_outcome = outcome
        if outcome in ("stale", "old", "foreign"):
            setattr(self, outcome, getattr(self, outcome) + 1)
        else:
            self.ignored += 1
        events.append(ReceiverEvent(outcome, fields))

    def _seq_step(self, frame: Frame, events: list[ReceiverEvent]) -> int | None:
        """Sequence step of a frame of the current session, or None (refused as stale)."""
        step = (frame.seq - self._last_seq) % SEQ_MODULO
        if step == 0 or step >= SEQ_MODULO // 2:
            self._refuse("stale", events, seq=frame.seq, last=self._last_seq)
            return None
        return step

    def on_frame(self, frame: Frame, now_ms: int) -> list[ReceiverEvent]:
        events: list[ReceiverEvent] = []
        msg = frame.message
        if frame.msg_type in (MessageType.STOP, MessageType.FAULT):
            self.last_outcome = "safe"
            if isinstance(msg, Fault):
                self.fault_reason = msg.reason
                self._enter_safe(SafeReason.FAULT, events)
            else:
                self._enter_safe(SafeReason.STOP, events)
            return events
        if isinstance(msg, Hello):
            return self._on_hello(frame, msg, now_ms, events)
        if not self._has_session:
            self._refuse("no_session", events, why="no HELLO yet")
            return events
        if frame.session != self._session:
            self._refuse("foreign", events, session=frame.session)
            return events
        step = self._seq_step(frame, events)
        if step is None:
            return events
        age = self.host_age_ms(frame.timestamp_ms, now_ms)
        if age > self.timeout_ms:
            self._refuse("old", events, age_ms=age)
            return events
        self._last_seq = frame.seq
        self._heard_ms = now_ms
        if step > 1:
            self.lost += step - 1
            events.append(ReceiverEvent("gap", {"lost": step - 1, "seq": frame.seq}))
        if age < 0:
            self._anchor(frame.timestamp_ms, now_ms)
        if self.state == LinkState.SAFE:
            self._refuse("ignored", events, why="safe until HELLO")
            return events
        self.last_outcome = "used"
        self._last_frame_ms = now_ms
        if isinstance(msg, Decision):
            self._last_decision_ms = now_ms
            self.confidence_u8 = msg.confidence_u8
            if msg.class_index >= self.n_classes:
                self.ignored += 1
                events.append(ReceiverEvent("ignored", {"why": "class index out of range"}))
                self._set_command(-1, events)
            elif msg.flags & DecisionFlags.HOLD:
                self._set_command(-1, events)
            else:
                self._set_command(msg.class_index, events)
        return events

    def _on_hello(
        self, frame: Frame, msg: Hello, now_ms: int, events: list[ReceiverEvent]
    ) -> list[ReceiverEvent]:
        if self.expected_class_hash and msg.class_hash != self.expected_class_hash:
            self._refuse("model", events, class_hash=msg.class_hash)
            self._has_session = False
            self._enter_safe(SafeReason.MODEL, events)
            return events
        if self._has_session and frame.session == self._session:
            if self._seq_step(frame, events) is None:
                return events
        if self._has_session and self._elapsed(now_ms, self._heard_ms) <= CLOCK_FORGET_MS:
            age = self.host_age_ms(frame.timestamp_ms, now_ms)
            if age > self.timeout_ms:
                self._refuse("old", events, age_ms=age)
                return events
        self.last_outcome = "hello"
        self._has_session, self._session, self._last_seq = True, frame.session, frame.seq
        self._anchor(frame.timestamp_ms, now_ms)
        self._heard_ms = now_ms
        self.n_classes = msg.n_classes
        self.class_names = msg.class_names
        self._link(events)
        self._set_command(-1, events)
        self._last_frame_ms = now_ms
        return events

    def tick(self, now_ms: int) -> list[ReceiverEvent]:
        """Let time pass: the heartbeat watchdog and command expiry."""
        events: list[ReceiverEvent] = []
        if self.state != LinkState.LINKED:
            return events
        if self._elapsed(now_ms, self._last_frame_ms) > self.timeout_ms:
            self._enter_safe(SafeReason.TIMEOUT, events)
        elif self.command >= 0 and self._elapsed(now_ms, self._last_decision_ms) > self.timeout_ms:
            self._set_command(-1, events)
        return events

    def status_line(self) -> str:
        """Canonical state, identical to the C ``vector_runner receive`` output."""
        return (
            f"{self.state.name} {self.safe_reason.name.lower()} {self.command} "
            f"{self.lost} {self.stale} {self.old} {self.foreign} {self.rejected} {self.ignored}"
        )
