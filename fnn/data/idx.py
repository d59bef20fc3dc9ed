"""Reader for the IDX format that MNIST and Fashion-MNIST ship in.

An IDX file is a big-endian header followed by raw row-major data::

    bytes 0-1   zero
    byte  2     type code (0x08 = unsigned byte; the only one MNIST uses)
    byte  3     number of dimensions, ndim
    4 * ndim    uint32 size of each dimension
    ...         prod(sizes) items

The first four bytes read as one big-endian uint32 are the "magic number":
2051 = 0x00000803 for (N, H, W) images, 2049 = 0x00000801 for (N,) labels.
Files may be gzip-compressed; the reader decides by the gzip magic bytes, not
the file name, because renamed and hand-decompressed copies are common.
"""
import gzip
import os
import struct
import zlib

import numpy as np

__all__ = ["read_idx", "read_idx_header", "IDX_TYPE_NAMES"]

GZIP_MAGIC = b"\x1f\x8b"

# Type codes the IDX format defines. Only ubyte is supported: every dataset
# fnn reads uses it, and silently misreading a float file would be worse than
# refusing it with its name.
IDX_TYPE_NAMES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "short (int16)",
    0x0C: "int (int32)",
    0x0D: "float (float32)",
    0x0E: "double (float64)",
}
_UBYTE = 0x08


def _open(path):
    """A binary stream over the file's IDX bytes, decompressing when it starts with the gzip magic."""
    with open(path, "rb") as raw:
        head = raw.read(2)
    if head == GZIP_MAGIC:
        return gzip.open(path, "rb")
    return open(path, "rb")


def _read_exactly(stream, n):
    """Up to ``n`` bytes; fewer only at end of stream (gzip reads may return short chunks)."""
    chunks = []
    remaining = n
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _parse_header(path, stream):
    """(magic, type_code, dims) from the stream's header, validating each field."""
    prefix = _read_exactly(stream, 4)
    if len(prefix) < 4:
        raise ValueError(f"{path}: IDX header truncated: file holds {len(prefix)} bytes; expected at least 4")
    zero0, zero1, type_code, ndim = prefix
    magic = struct.unpack(">I", prefix)[0]
    if zero0 != 0 or zero1 != 0:
        raise ValueError(
            f"{path}: bad IDX magic number 0x{magic:08x}; expected two zero bytes then a type code "
            f"(0x00000803 = 2051 for images, 0x00000801 = 2049 for labels). Is this an IDX file?"
        )
    if type_code != _UBYTE:
        name = IDX_TYPE_NAMES.get(type_code, "unknown")
        raise ValueError(
            f"{path}: IDX type code 0x{type_code:02x} ({name}) is not supported; "
            f"expected 0x08 (unsigned byte), the type MNIST and Fashion-MNIST use"
        )
    if ndim == 0:
        raise ValueError(f"{path}: IDX header declares 0 dimensions; expected at least 1")
    size_bytes = _read_exactly(stream, 4 * ndim)
    if len(size_bytes) < 4 * ndim:
        raise ValueError(
            f"{path}: IDX header truncated: {ndim} dimension sizes need {4 * ndim} bytes, found {len(size_bytes)}"
        )
    dims = struct.unpack(f">{ndim}I", size_bytes)
    return magic, type_code, dims


def read_idx_header(path):
    """(magic, dims) of an IDX file (gz or raw) without reading its payload."""
    path = os.fspath(path)
    try:
        with _open(path) as stream:
            magic, _, dims = _parse_header(path, stream)
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: corrupt gzip stream ({e})") from e
    return magic, dims


def read_idx(path):
    """IDX file (gzip or raw) -> uint8 ndarray with the header's shape, e.g. (N, 28, 28).

    The payload must hold exactly prod(dims) bytes: a truncated download or
    trailing garbage raises ``ValueError`` naming the file and both byte
    counts, as does a corrupt gzip stream. The returned array owns its
    memory and is writable, so callers may normalise it in place.
    """
    path = os.fspath(path)
    try:
        with _open(path) as stream:
            _, _, dims = _parse_header(path, stream)
            expected = int(np.prod(dims, dtype=np.int64))
            # Read straight into the result so the 47 MB MNIST training images
            # are not held twice (bytes object + array copy).
            out = np.empty(expected, dtype=np.uint8)
            view = memoryview(out)
            got = 0
            while got < expected:
                n = stream.readinto(view[got:])
                if not n:
                    break
                got += n
            if got < expected:
                raise ValueError(
                    f"{path}: IDX payload truncated: header {tuple(dims)} needs {expected} bytes, found {got}"
                )
            extra = len(_read_exactly(stream, 1 << 16))
            if extra:
                more = "" if extra < (1 << 16) else " or more"
                raise ValueError(
                    f"{path}: IDX payload has trailing bytes: header {tuple(dims)} needs {expected} bytes, "
                    f"found {expected + extra}{more}"
                )
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: corrupt gzip stream ({e})") from e
    return out.reshape(dims)
