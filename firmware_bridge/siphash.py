"""SipHash-2-4 (Aumasson and Bernstein, 2012): the optional frame MAC, 16-byte key, 8-byte tag.

Pure Python twin of ``mi_bridge_siphash24`` in ``c/mi_bridge.c``; checked against the 64
reference vectors of the SipHash paper (key 00..0f, messages 00, 00 01, ... of length 0..63).
"""

from __future__ import annotations

_MASK = (1 << 64) - 1
KEY_SIZE = 16
TAG_SIZE = 8


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _MASK


def siphash24(key: bytes, data: bytes) -> bytes:
    """The 8-byte SipHash-2-4 tag of ``data`` (little-endian, as in the reference code)."""
    if len(key) != KEY_SIZE:
        raise ValueError(f"SipHash key must be {KEY_SIZE} bytes, got {len(key)}")
    k0 = int.from_bytes(key[:8], "little")
    k1 = int.from_bytes(key[8:], "little")
    v0, v1 = k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D
    v2, v3 = k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573
    n = len(data)
    tail = n - n % 8

    def rounds(v0: int, v1: int, v2: int, v3: int, count: int) -> tuple[int, int, int, int]:
        for _ in range(count):
            v0 = (v0 + v1) & _MASK
            v1 = _rotl(v1, 13) ^ v0
            v0 = _rotl(v0, 32)
            v2 = (v2 + v3) & _MASK
            v3 = _rotl(v3, 16) ^ v2
            v0 = (v0 + v3) & _MASK
            v3 = _rotl(v3, 21) ^ v0
            v2 = (v2 + v1) & _MASK
            v1 = _rotl(v1, 17) ^ v2
            v2 = _rotl(v2, 32)
        return v0, v1, v2, v3

    for i in range(0, tail, 8):
        m = int.from_bytes(data[i : i + 8], "little")
        v3 ^= m
        v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 2)
        v0 ^= m
    m = int.from_bytes(data[tail:], "little") | ((n & 0xFF) << 56)
    v3 ^= m
    v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 2)
    v0 ^= m
    v2 ^= 0xFF
    v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 4)
    return ((v0 ^ v1 ^ v2 ^ v3) & _MASK).to_bytes(8, "little")
