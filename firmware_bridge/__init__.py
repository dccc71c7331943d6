"""Serial protocol between the mi-edge runtime and the microcontroller that drives the device."""

from firmware_bridge.ascii_mode import AsciiEncoder
from firmware_bridge.decoder import FrameDecoder, Rejection, RejectReason
from firmware_bridge.frames import (
    DELIMITER,
    PROTOCOL_VERSION,
    DecisionFlags,
    FaultReason,
    Frame,
    FrameEncoder,
    FrameError,
    MessageType,
    SequenceCounter,
)
from firmware_bridge.receiver import Receiver

__all__ = [
    "DELIMITER",
    "PROTOCOL_VERSION",
    "AsciiEncoder",
    "DecisionFlags",
    "FaultReason",
    "Frame",
    "FrameDecoder",
    "FrameEncoder",
    "FrameError",
    "MessageType",
    "Receiver",
    "RejectReason",
    "Rejection",
    "SequenceCounter",
]
