"""Writes the test fixture format that tests/fixture.h reads.

    magic "MTFX", uint32 version 1, uint32 count, then per entry:
    uint32 name length, name bytes (UTF-8), uint32 dtype, uint32 ndim,
    uint32 dims[ndim], raw little-endian data.
    dtype 0 float32, 1 int32, 2 uint8 (UTF-8 text such as version strings).

A scalar has ndim 0 and one element.
"""
import os
import struct

import numpy as np

DTYPES = {np.dtype("<f4"): 0, np.dtype("<i4"): 1, np.dtype("u1"): 2}


def as_entry(value):
    """float -> float32 scalar, int -> int32 scalar, str -> uint8 text, array -> as is."""
    if isinstance(value, str):
        return np.frombuffer(value.encode("utf-8"), dtype="u1")
    if isinstance(value, int):
        return np.asarray(value, dtype="<i4")
    if isinstance(value, float):
        return np.asarray(value, dtype="<f4")
    return np.asarray(value)


def write(path, entries):
    """entries: list of (name, value). Writes path.tmp, then renames it into place."""
    names = [name for name, _ in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: duplicate entry names")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b"MTFX" + struct.pack("<II", 1, len(entries)))
        for name, value in entries:
            arr = as_entry(value)
            if arr.dtype not in DTYPES:
                raise TypeError(f"{path}: entry {name} has dtype {arr.dtype}; convert to float32 or int32")
            key = name.encode("utf-8")
            f.write(struct.pack("<I", len(key)) + key)
            f.write(struct.pack("<II", DTYPES[arr.dtype], arr.ndim))
            f.write(struct.pack(f"<{arr.ndim}I", *arr.shape))
            f.write(np.ascontiguousarray(arr).tobytes())
    os.replace(tmp, path)
