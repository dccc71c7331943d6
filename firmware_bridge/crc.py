"""CRC-32 (IEEE 802.3, the zlib/Ethernet CRC) that closes every binary frame.

Parameters: polynomial 0x04C11DB7 (reflected 0xEDB88320), init 0xFFFFFFFF, reflected input and
output, final XOR 0xFFFFFFFF; check value ``crc32(b"123456789") == 0xCBF43926``. The C library
(``c/mi_bridge.c``) computes the same function with a 16-entry nibble table (64 bytes of flash).

Why CRC-32 and not CRC-16/CCITT: a CRC-16 lets one random corruption in 65 536 through. With
frames of at most 77 bytes CRC-32 has a Hamming distance of 6 up to 268 data bits and 4 up to
91 607 bits (Koopman, "32-bit cyclic redundancy codes for Internet applications", DSN 2002),
and lets one random corruption in 4.3e9 through, before the structural checks of the decoder.
"""

from __future__ import annotations

import zlib

CHECK_VALUE = 0xCBF43926


def crc32(data: bytes | bytearray | memoryview) -> int:
    """CRC-32/IEEE of ``data`` as an unsigned 32-bit integer."""
    return zlib.crc32(data) & 0xFFFFFFFF


def crc32_reference(data: bytes | bytearray | memoryview) -> int:
    """Bit-by-bit CRC-32/IEEE, the textbook form; used by the tests to pin :func:`crc32`."""
    crc = 0xFFFFFFFF
    for byte in bytes(data):
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF
