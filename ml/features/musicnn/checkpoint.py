"""Read TensorFlow 1 checkpoints without TensorFlow.

A TF1 checkpoint ("tensor bundle") is two files:

* ``<prefix>.index``: an uncompressed LevelDB-format sorted table (an SSTable).
  Its keys are variable names; the empty key holds a ``BundleHeaderProto`` and
  every other value is a ``BundleEntryProto`` giving the variable's dtype,
  shape, and the ``offset``/``size`` of its bytes in the data file.
* ``<prefix>.data-00000-of-00001``: the raw little-endian tensor bytes, one
  after the other.

Both formats are small and stable, so a reader is a few functions: parse the
table's 48-byte footer, walk its index block to the data blocks, decode the
prefix-compressed entries of each block, and decode the two protobuf messages
by hand (only varint and length-delimited fields are needed). Only single-shard,
unpartitioned checkpoints are supported, which is what ``tf.train.Saver``
writes for a small model such as MusiCNN.

References: LevelDB's ``doc/table_format.md``; TensorFlow's
``core/util/tensor_bundle/tensor_bundle.proto`` and ``core/framework/types.proto``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "CheckpointError",
    "CheckpointFormatError",
    "CheckpointNotFoundError",
    "TensorEntry",
    "list_variables",
    "read_checkpoint",
    "read_index",
]


class CheckpointError(ValueError):
    """Base class of the checkpoint reader's errors."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The ``.index`` or the ``.data-00000-of-00001`` file of a checkpoint is missing."""


class CheckpointFormatError(CheckpointError):
    """The files exist but are not a checkpoint this reader understands
    (bad table magic, truncated block, compressed or multi-shard bundle,
    unsupported dtype, a tensor whose size does not match its shape)."""


# LevelDB table constants.
_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48  # two block handles padded to 40 bytes, then the 8-byte magic
_BLOCK_TRAILER_SIZE = 5  # 1-byte compression type + 4-byte CRC
_NO_COMPRESSION = 0

# TensorFlow DataType enum values -> little-endian NumPy dtypes.
_DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<f4"),  # DT_FLOAT
    2: np.dtype("<f8"),  # DT_DOUBLE
    3: np.dtype("<i4"),  # DT_INT32
    4: np.dtype("u1"),  # DT_UINT8
    5: np.dtype("<i2"),  # DT_INT16
    6: np.dtype("i1"),  # DT_INT8
    9: np.dtype("<i8"),  # DT_INT64
    10: np.dtype("?"),  # DT_BOOL
    19: np.dtype("<f2"),  # DT_HALF
}


@dataclass(frozen=True)
class TensorEntry:
    """Where one variable lives in the data file (a decoded ``BundleEntryProto``)."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode a base-128 varint at ``pos``; return ``(value, next position)``."""
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise CheckpointFormatError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise CheckpointFormatError("varint longer than 64 bits")


def _proto_fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """``(field number, value)`` pairs of a protobuf message, in order.

    Varints give ints, length-delimited fields give bytes; fixed 32/64-bit
    fields (the entry's CRC) are returned as ints.
    """
    fields: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        tag, pos = _read_varint(buf, pos)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == 0:
            value, pos = _read_varint(buf, pos)
            fields.append((number, value))
        elif wire_type == 2:
            length, pos = _read_varint(buf, pos)
            fields.append((number, buf[pos : pos + length]))
            pos += length
        elif wire_type == 5:
            fields.append((number, struct.unpack_from("<I", buf, pos)[0]))
            pos += 4
        elif wire_type == 1:
            fields.append((number, struct.unpack_from("<Q", buf, pos)[0]))
            pos += 8
        else:
            raise CheckpointFormatError(f"unsupported protobuf wire type {wire_type}")
    if pos != len(buf):
        raise CheckpointFormatError("truncated protobuf message")
    return fields


def _decode_shape(buf: bytes) -> tuple[int, ...]:
    """Decode a ``TensorShapeProto``: repeated ``dim`` (field 2) with ``size`` (field 1)."""
    dims = []
    for number, value in _proto_fields(buf):
        if number == 3 and value:
            raise CheckpointFormatError("tensor of unknown rank")
        if number == 2:
            assert isinstance(value, bytes)
            size = next((v for n, v in _proto_fields(value) if n == 1), 0)
            dims.append(int(size))
    return tuple(dims)


def _decode_entry(name: str, buf: bytes) -> TensorEntry:
    """Decode a ``BundleEntryProto`` (dtype=1, shape=2, shard_id=3, offset=4, size=5, slices=7)."""
    dtype_enum, shape, shard_id, offset, size = 0, (), 0, 0, 0
    for number, value in _proto_fields(buf):
        if number == 1:
            dtype_enum = int(value)  # type: ignore[arg-type]
        elif number == 2:
            shape = _decode_shape(value)  # type: ignore[arg-type]
        elif number == 3:
            shard_id = int(value)  # type: ignore[arg-type]
        elif number == 4:
            offset = int(value)  # type: ignore[arg-type]
        elif number == 5:
            size = int(value)  # type: ignore[arg-type]
        elif number == 7:
            raise CheckpointFormatError(f"{name}: partitioned variables are not supported")
    if dtype_enum not in _DTYPES:
        raise CheckpointFormatError(f"{name}: unsupported TensorFlow dtype enum {dtype_enum}")
    return TensorEntry(name, _DTYPES[dtype_enum], shape, shard_id, offset, size)


def _block_handle(buf: bytes, pos: int) -> tuple[int, int, int]:
    """Decode a LevelDB block handle: ``(offset, size, next position)``."""
    offset, pos = _read_varint(buf, pos)
    size, pos = _read_varint(buf, pos)
    return offset, size, pos


def _read_block(table: bytes, offset: int, size: int) -> bytes:
    """The contents of an uncompressed block (without its 5-byte trailer)."""
    if offset + size + _BLOCK_TRAILER_SIZE > len(table):
        raise CheckpointFormatError("block extends past the end of the index file")
    if table[offset + size] != _NO_COMPRESSION:
        raise CheckpointFormatError("compressed index blocks are not supported")
    return table[offset : offset + size]


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    """The ``(key, value)`` pairs of a block.

    Keys are prefix-compressed: each entry stores how many bytes it shares with
    the previous key, then the rest. A trailer of ``uint32`` restart offsets
    (and their count) ends the block; we decode linearly and ignore it.
    """
    if len(block) < 4:
        raise CheckpointFormatError("block too short")
    (n_restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    end = len(block) - 4 * (n_restarts + 1)
    if end < 0:
        raise CheckpointFormatError("corrupt block restart array")
    entries: list[tuple[bytes, bytes]] = []
    key = b""
    pos = 0
    while pos < end:
        shared, pos = _read_varint(block, pos)
        unshared, pos = _read_varint(block, pos)
        value_length, pos = _read_varint(block, pos)
        if shared > len(key) or pos + unshared + value_length > end:
            raise CheckpointFormatError("corrupt block entry")
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        entries.append((key, block[pos : pos + value_length]))
        pos += value_length
    return entries


def _paths(prefix: str | Path) -> tuple[Path, Path]:
    prefix = str(prefix)
    index, data = Path(prefix + ".index"), Path(prefix + ".data-00000-of-00001")
    for path in (index, data):
        if not path.is_file():
            raise CheckpointNotFoundError(f"checkpoint file not found: {path}")
    return index, data


def read_index(prefix: str | Path) -> dict[str, TensorEntry]:
    """Decode the ``.index`` table of the checkpoint at ``prefix``.

    ``prefix`` is the path without extension: for ``model/.index`` (the
    ``musicnn`` wheel's layout, an empty file stem) pass ``"model/"``.

    Returns
    -------
    dict of str to TensorEntry
        Variable name -> entry, in the table's (sorted) order; the header entry
        (empty key) is left out.

    Raises
    ------
    CheckpointNotFoundError
        One of the two files is missing.
    CheckpointFormatError
        The index is not an uncompressed single-shard tensor bundle.
    """
    index_path, _ = _paths(prefix)
    table = index_path.read_bytes()
    if len(table) < _FOOTER_SIZE:
        raise CheckpointFormatError(f"{index_path}: too short for a table footer")
    footer = table[-_FOOTER_SIZE:]
    (magic,) = struct.unpack_from("<Q", footer, _FOOTER_SIZE - 8)
    if magic != _TABLE_MAGIC:
        raise CheckpointFormatError(f"{index_path}: not a LevelDB table (bad magic)")
    _, _, pos = _block_handle(footer, 0)  # the meta-index block: unused by bundles
    index_offset, index_size, _ = _block_handle(footer, pos)

    entries: dict[str, TensorEntry] = {}
    for _, handle in _block_entries(_read_block(table, index_offset, index_size)):
        offset, size, _ = _block_handle(handle, 0)
        for key, value in _block_entries(_read_block(table, offset, size)):
            if not key:
                continue  # BundleHeaderProto: shard count, endianness, version
            name = key.decode("utf-8")
            entry = _decode_entry(name, value)
            if entry.shard_id != 0:
                raise CheckpointFormatError(f"{name}: multi-shard checkpoints are not supported")
            entries[name] = entry
    return entries


def list_variables(prefix: str | Path) -> dict[str, tuple[int, ...]]:
    """Variable name -> shape, like ``tf.train.list_variables``.

    Raises
    ------
    CheckpointNotFoundError, CheckpointFormatError
        As :func:`read_index`.
    """
    return {name: entry.shape for name, entry in read_index(prefix).items()}


def read_checkpoint(prefix: str | Path) -> dict[str, np.ndarray]:
    """Load every variable of a checkpoint as a NumPy array (in TF's layout,
    e.g. conv kernels ``(kh, kw, in, out)``).

    Raises
    ------
    CheckpointNotFoundError
        One of the two files is missing.
    CheckpointFormatError
        The index is unreadable, or a tensor's byte range does not match its
        dtype and shape or lies outside the data file.
    """
    _, data_path = _paths(prefix)
    entries = read_index(prefix)
    data = data_path.read_bytes()
    arrays: dict[str, np.ndarray] = {}
    for name, entry in entries.items():
        n_values = int(np.prod(entry.shape, dtype=np.int64))
        if entry.size != n_values * entry.dtype.itemsize:
            raise CheckpointFormatError(
                f"{name}: {entry.size} bytes do not hold {entry.shape} of {entry.dtype}"
            )
        if entry.offset + entry.size > len(data):
            raise CheckpointFormatError(f"{name}: byte range lies outside {data_path.name}")
        flat = np.frombuffer(data, dtype=entry.dtype, count=n_values, offset=entry.offset)
        arrays[name] = flat.reshape(entry.shape).astype(entry.dtype.newbyteorder("="))
    return arrays
