"""Receiver rules: what a device does with decoded frames, rejections and the passage of time.

This module is the Python twin of ``mi_bridge_receiver_*`` in the C library; the emulator runs
it, and the tests drive both with the same scenarios and compare :meth:`Receiver.status_line`.

States: ``SAFE`` (output neutral; ``safe_reason`` says why) and ``LINKED`` (the host is alive;
the output follows the last DECISION while it is fresh). The rules, also in ``PROTOCOL.md``:

- Boot is ``SAFE/boot``. A HELLO, DECISION or HEARTBEAT links; after ``stop``, ``fault`` or
  ``version`` only a HELLO does (a new session, announced on purpose).
- STOP -> ``SAFE/stop``; FAULT -> ``SAFE/fault``; a frame rejected for VERSION ->
  ``SAFE/version``. STOP and FAULT are obeyed whatever their sequence number.
- Sequence numbers (uint16): a HELLO sets the baseline. For DECISION/HEARTBEAT a step of 0 or
  of 32768..65535 is a duplicate or stale frame: dropped, counted in ``stale``, does not feed the
  watchdog. A step of k > 1 counts k - 1 in ``lost``; the frame is used (decisions are absolute
  states, the newest one is the right one).
- A rejected frame (CRC, COBS, ...) is counted and otherwise ignored; it does not feed the
  watchdog, so the held command still expires on time.
- Watchdog: ``LINKED`` with no accepted frame for more than ``timeout_ms`` -> ``SAFE/timeout``.
  A command expires ``timeout_ms`` after its DECISION even if HEARTBEATs keep the link up.
- A DECISION with the HOLD flag, or a class index >= n_classes of the last HELLO, sets the
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
        Heartbeat timeout: longest silence (no accepted frame) before going safe, and longest
        life of a command. Must exceed the host's heartbeat period; 3x is a sane choice.
    """

    def __init__(self, timeout_ms: int = 500) -> None:
        if not 1 <= timeout_ms <= 0xFFFF:
            raise ValueError(f"timeout_ms {timeout_ms} outside 1..65535")
        self.timeout_ms = timeout_ms
        self.state = LinkState.SAFE
        self.safe_reason = SafeReason.BOOT
        self.command = -1
        self.confidence_u8 = 0
        self.fault_reason = 0
        self.n_classes = 0
        self.class_names: tuple[str, ...] = ()
        self.lost = 0
        self.stale = 0
        self.rejected = 0
        self.ignored = 0
        self._has_seq = False
        self._last_seq = 0
        self._last_frame_ms = 0
        self._last_decision_ms = 0

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
        self.rejected += 1
        if reason == RejectReason.VERSION:
            self._enter_safe(SafeReason.VERSION, events)
        return events

    def on_frame(self, frame: Frame, now_ms: int) -> list[ReceiverEvent]:
        events: list[ReceiverEvent] = []
        msg = frame.message
        if frame.msg_type in (MessageType.STOP, MessageType.FAULT):
            self._has_seq, self._last_seq = True, frame.seq
            if isinstance(msg, Fault):
                self.fault_reason = msg.reason
                self._enter_safe(SafeReason.FAULT, events)
            else:
                self._enter_safe(SafeReason.STOP, events)
            return events
        if isinstance(msg, Hello):
            self._has_seq, self._last_seq = True, frame.seq
            self.n_classes = msg.n_classes
            self.class_names = msg.class_names
            self._link(events)
            self._set_command(-1, events)
            self._last_frame_ms = now_ms
            return events
        if self._has_seq:
            step = (frame.seq - self._last_seq) % SEQ_MODULO
            if step == 0 or step >= SEQ_MODULO // 2:
                self.stale += 1
                events.append(ReceiverEvent("stale", {"seq": frame.seq, "last": self._last_seq}))
                return events
            if step > 1:
                self.lost += step - 1
                events.append(ReceiverEvent("gap", {"lost": step - 1, "seq": frame.seq}))
        self._has_seq, self._last_seq = True, frame.seq
        if self.state == LinkState.SAFE and self.safe_reason not in (
            SafeReason.BOOT,
            SafeReason.TIMEOUT,
        ):
            self.ignored += 1
            events.append(ReceiverEvent("ignored", {"why": "safe until HELLO"}))
            return events
        self._link(events)
        self._last_frame_ms = now_ms
        if isinstance(msg, Decision):
            self._last_decision_ms = now_ms
            self.confidence_u8 = msg.confidence_u8
            if self.n_classes and msg.class_index >= self.n_classes:
                self.ignored += 1
                events.append(ReceiverEvent("ignored", {"why": "class index out of range"}))
                self._set_command(-1, events)
            elif msg.flags & DecisionFlags.HOLD:
                self._set_command(-1, events)
            else:
                self._set_command(msg.class_index, events)
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
            f"{self.lost} {self.stale} {self.rejected} {self.ignored}"
        )
