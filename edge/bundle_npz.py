"""A bundle's ``.npz`` members, checked from the zip directory and the ``.npy`` headers before a
byte of array data is decompressed, and inflated lazily, one array at a time, from the verified
bytes (a 3 GB entry nobody asks for is never inflated)."""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from edge.errors import BundleError

__all__ = ["NpzArrays", "NpzEntry", "npz_index", "MAX_ARRAYS_BYTES", "MAX_NPZ_ENTRIES"]

#: all arrays of one .npz member together, as declared by the zip directory and .npy headers
MAX_ARRAYS_BYTES = 256 * 2**20
MAX_NPZ_ENTRIES = 4096


@dataclass(frozen=True)
class NpzEntry:
    zip_name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    nbytes: int


def npz_index(where: str, data: bytes) -> dict[str, NpzEntry]:
    """Each array's shape and dtype, from the zip directory and the ``.npy`` headers only.

    Refuses (BundleError naming the entry) anything but numeric ``.npy`` entries, duplicate
    names, and sizes over :data:`MAX_ARRAYS_BYTES` or disagreeing with the declared shape,
    before a single array byte is decompressed.
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise BundleError(f"{where}: not a readable .npz ({exc})") from exc
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_NPZ_ENTRIES:
            raise BundleError(f"{where}: {len(infos)} entries (at most {MAX_NPZ_ENTRIES})")
        total = sum(i.file_size for i in infos)
        if total > MAX_ARRAYS_BYTES:
            big = max(infos, key=lambda i: i.file_size)
            raise BundleError(
                f"{where}: entry {big.filename}: {big.file_size} bytes uncompressed (all "
                f"entries {total}); more than the {MAX_ARRAYS_BYTES} a bundle's arrays may hold")
        index: dict[str, NpzEntry] = {}
        for info in infos:
            name = info.filename
            if not name.endswith(".npy") or name[:-4] in index:
                raise BundleError(f"{where}: entry {name!r}: not a .npy array, or a duplicate")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise BundleError(f"{where}: entry {name}: unsupported compression")
            try:
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read_header(fh)
                    header_len = fh.tell()
            except Exception as exc:
                raise BundleError(f"{where}: entry {name}: unreadable .npy header ({exc})") \
                    from exc
            if dtype.hasobject:
                raise BundleError(f"{where}: entry {name}: object arrays (pickle) are refused")
            nbytes = math.prod(shape) * dtype.itemsize
            if nbytes > MAX_ARRAYS_BYTES or header_len + nbytes != info.file_size:
                raise BundleError(
                    f"{where}: entry {name}: header declares {shape} {dtype} ({nbytes} bytes), "
                    f"the zip entry holds {info.file_size - header_len}; refused")
            index[name[:-4]] = NpzEntry(name, tuple(shape), dtype, nbytes)
    return index


class NpzArrays(Mapping):
    """Read-only mapping key -> array of a verified ``.npz`` member; each array is decompressed
    (from the verified bytes) the first time it is looked up."""

    def __init__(self, where: str, data: bytes, index: dict[str, NpzEntry]):
        self._where = where
        self._data = data
        self._index = index
        self._cache: dict[str, np.ndarray] = {}

    def __getitem__(self, key: str) -> np.ndarray:
        if key in self._cache:
            return self._cache[key]
        entry = self._index.get(key)
        if entry is None:
            raise KeyError(key)
        try:
            with zipfile.ZipFile(io.BytesIO(self._data)) as zf, zf.open(entry.zip_name) as fh:
                arr = np.lib.format.read_array(fh, allow_pickle=False)
        except Exception as exc:
            raise BundleError(f"{self._where}: entry {entry.zip_name}: unreadable array "
                              f"({exc})") from exc
        if arr.shape != entry.shape or arr.dtype != entry.dtype:  # pragma: no cover - paranoia
            raise BundleError(f"{self._where}: entry {entry.zip_name}: not the declared array")
        self._cache[key] = arr
        return arr

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def shape(self, key: str) -> tuple[int, ...]:
        """Declared shape of an array, without decompressing it."""
        return self._index[key].shape
