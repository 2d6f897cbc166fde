"""Reading ``.npy`` arrays and zip members without trusting their headers. Local.

A header states shape and dtype; a crafted or truncated file can claim terabytes, and a zip member can
claim to be small and unpack to gigabytes. Every reader here compares what a header claims with the
bytes actually there *before* allocating or mapping anything, and refuses object dtypes (pickles).
"""
import os
import zipfile

import numpy as np

__all__ = ["npy_header", "open_npy", "array_from_npy_bytes", "arrays_from_npz_bytes", "read_zip_member",
           "BadArrayFile", "MAX_JSON_BYTES", "MAX_WEIGHTS_BYTES"]

#: Largest metadata member (JSON) of a model file, bytes.
MAX_JSON_BYTES = 16 << 20
#: Largest weights member of a model file, bytes (a 250-energy model with 4000-wide layers is ~130 MiB).
MAX_WEIGHTS_BYTES = 4 << 30

#: A zip member may unpack to at most this many times its compressed size once it exceeds 64 MiB.
MAX_COMPRESSION_RATIO = 100


class BadArrayFile(ValueError):
    """The file or member is not a plain array whose header matches its size (callers re-raise as their error)."""


def npy_header(f):
    """(shape, fortran_order, dtype, data offset) from an open binary ``.npy`` stream at its start."""
    try:
        major, minor = np.lib.format.read_magic(f)
        if (major, minor) == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    except (ValueError, OSError, EOFError) as exc:
        raise BadArrayFile(f"not a .npy array ({exc})") from None
    if dtype.hasobject:
        raise BadArrayFile("holds Python objects (a pickle), not numbers")
    return tuple(shape), fortran, dtype, f.tell()


def _check_size(shape, dtype, have):
    need = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if need != have:
        raise BadArrayFile(f"header says {dtype} {shape} ({need / 2**30:.4g} GiB) but the data is {have} bytes")


def open_npy(path, mmap=True):
    """The array in ``path``, memory-mapped read-only (or read, ``mmap=False``) after checking its header
    against the file size. BadArrayFile otherwise; OSError for unreadable files."""
    with open(path, "rb") as f:
        shape, _, dtype, offset = npy_header(f)
    _check_size(shape, dtype, os.path.getsize(path) - offset)
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


def array_from_npy_bytes(raw):
    """A C- or Fortran-ordered array (own copy) from the bytes of a ``.npy``, after the same checks."""
    import io
    shape, fortran, dtype, offset = npy_header(io.BytesIO(raw))
    _check_size(shape, dtype, len(raw) - offset)
    flat = np.frombuffer(raw, dtype=dtype, count=int(np.prod(shape, dtype=np.int64)), offset=offset)
    return flat.reshape(shape, order="F" if fortran else "C").copy()


def read_zip_member(zf, name, limit):
    """Bytes of member ``name`` of the open ZipFile ``zf``, refused before reading if it would unpack to more
    than ``limit`` bytes or is a compression bomb (ratio > MAX_COMPRESSION_RATIO beyond 64 MiB)."""
    info = zf.getinfo(name)
    if info.file_size > limit:
        raise BadArrayFile(f"member {name} would unpack to {info.file_size / 2**20:.4g} MiB (at most "
                           f"{limit / 2**20:.4g} MiB accepted)")
    if info.file_size > (64 << 20) and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
        raise BadArrayFile(f"member {name} unpacks {info.compress_size} bytes to {info.file_size} (a zip bomb?)")
    with zf.open(info) as f:
        data = f.read(limit + 1)  # zipfile stops at the declared size; the bound is belt and braces
    if len(data) > limit:
        raise BadArrayFile(f"member {name} unpacks to more than {limit} bytes")
    return data


def arrays_from_npz_bytes(raw, limit):
    """{name: array} from the bytes of an ``.npz`` (each member checked as above)."""
    import io
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile as exc:
        raise BadArrayFile(f"not an .npz archive ({exc})") from None
    with zf:
        out = {}
        for name in zf.namelist():
            key = name[:-4] if name.endswith(".npy") else name
            out[key] = array_from_npy_bytes(read_zip_member(zf, name, limit))
        return out
