"""Reading a bundle's files: no symlinks below the bundle directory, bounded sizes, read once.

Each path component is opened ``O_NOFOLLOW`` relative to the bundle directory (``openat``), the
file must be regular, its size is checked against the cap (and the manifest's size) before it is
read, and the bytes returned are the ones that get hashed and parsed.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path, PurePosixPath

from edge.errors import BundleError

__all__ = ["read_in_bundle", "read_optional", "member_parts"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


def member_parts(root: Path, member: str) -> tuple[str, ...]:
    if not isinstance(member, str) or not member or "\\" in member or "\0" in member:
        raise BundleError(f"{root}: member {member!r}: not a valid member name")
    p = PurePosixPath(member)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise BundleError(f"{root}: member {member!r}: path escapes the bundle")
    return p.parts


def _open_in_bundle(root: Path, name: str) -> int:
    """A read-only descriptor of ``root/name`` opened without following any symlink below
    ``root`` (FileNotFoundError if absent, BundleError if a component is a symlink)."""
    parts = member_parts(root, name)
    fd = os.open(root, os.O_RDONLY | _DIRECTORY)
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            try:
                if os.open in os.supports_dir_fd:
                    nfd = os.open(part, os.O_RDONLY | _NOFOLLOW | (0 if last else _DIRECTORY),
                                  dir_fd=fd)
                else:  # pragma: no cover - platforms without openat
                    sub = root.joinpath(*parts[:i + 1])
                    if sub.is_symlink():
                        raise OSError(errno.ELOOP, "symlink")
                    nfd = os.open(sub, os.O_RDONLY | _NOFOLLOW)
            except OSError as exc:
                if exc.errno == errno.ELOOP or (
                        exc.errno == errno.ENOTDIR and root.joinpath(*parts[:i + 1]).is_symlink()):
                    raise BundleError(
                        f"{root}: {name}: {'/'.join(parts[:i + 1])} is a symlink; bundle files "
                        "must be regular files inside the bundle directory") from None
                raise
            os.close(fd)
            fd = nfd
        return fd
    except BaseException:
        os.close(fd)
        raise


def read_in_bundle(root: Path, name: str, limit: int, expected: int | None = None) -> bytes:
    """The bytes of a regular file of the bundle, read once (no symlinks, at most ``limit``)."""
    fd = _open_in_bundle(root, name)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BundleError(f"{root}: {name}: not a regular file")
        if expected is not None and st.st_size != expected:
            raise BundleError(f"{root}: member {name}: {st.st_size} bytes, manifest says "
                              f"{expected} (truncated or replaced)")
        if st.st_size > limit:
            raise BundleError(f"{root}: {name}: {st.st_size} bytes, more than the {limit} "
                              "this runtime reads")
        chunks, left = [], min(st.st_size, limit) + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
    finally:
        os.close(fd)
    if len(data) > limit or (expected is not None and len(data) != expected):
        raise BundleError(f"{root}: {name}: changed size while being read")
    return data


def read_optional(root: Path, name: str, limit: int) -> bytes | None:
    try:
        return read_in_bundle(root, name, limit)
    except FileNotFoundError:
        return None
