"""Consistent Overhead Byte Stuffing (Cheshire & Baker, IEEE/ACM ToN 7(2), 1999).

COBS removes every 0x00 from a frame at a cost of one byte per 254, so that 0x00 can delimit
frames on the wire (the convention of the Arduino PacketSerial library). A receiver that joins
mid-stream or sees a corrupted byte resynchronises on the next 0x00.

Encoding: the data is cut at each zero; every piece is sent as a code byte ``len(piece) + 1``
followed by the piece, and pieces longer than 253 bytes are split into 254-byte blocks with code
0xFF (which carry no implicit zero). Decoding reverses it; :func:`decode_lenient` is the exact
rule the C decoder applies byte by byte, including how a truncated last block is reported.
"""

from __future__ import annotations


class CobsError(ValueError):
    """Raised by :func:`decode` on a malformed COBS block (a zero byte or a truncated block)."""


def encode(data: bytes | bytearray) -> bytes:
    """COBS-encode ``data`` (no delimiter is appended).

    The result contains no 0x00 and is ``len(data) + 1 + len(data) // 254`` bytes long at most.
    """
    out = bytearray()
    for piece in bytes(data).split(b"\x00"):
        while len(piece) >= 254:
            out.append(0xFF)
            out += piece[:254]
            piece = piece[254:]
        out.append(len(piece) + 1)
        out += piece
    return bytes(out)


def decode_lenient(encoded: bytes | bytearray | memoryview) -> tuple[bytes, bool]:
    """Decode ``encoded`` (one frame, without its delimiter) as the streaming C decoder does.

    Returns
    -------
    data : bytes
        The decoded bytes, including those of a truncated last block.
    complete : bool
        False when the last code byte announced more bytes than followed it, or when a 0x00 was
        found inside ``encoded`` (the decoder never passes one: it splits on them).
    """
    enc = bytes(encoded)
    out = bytearray()
    i = 0
    n = len(enc)
    while i < n:
        code = enc[i]
        if code == 0:
            return bytes(out), False
        end = i + code
        if end > n:
            out += enc[i + 1 : n]
            return bytes(out), False
        out += enc[i + 1 : end]
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out), True


def decode(encoded: bytes | bytearray | memoryview) -> bytes:
    """Decode one COBS frame (without its delimiter), raising :class:`CobsError` if malformed."""
    data, complete = decode_lenient(encoded)
    if not complete:
        raise CobsError(
            f"malformed COBS frame of {len(encoded)} bytes: a code byte points past the end "
            "or a 0x00 is inside; expected a frame exactly as produced by cobs.encode"
        )
    return data
