"""TensorBoard event files written without TensorFlow: scalars and histograms in the TFEvents format.

An event file is a sequence of records, each ``length (uint64) | masked CRC-32C of length | data |
masked CRC-32C of data``, whose data is a serialized ``Event`` protocol buffer (``wall_time``, ``step``,
a ``Summary`` of tagged values). This module writes the few protobuf fields TensorBoard reads for
scalars (``simple_value``) and histograms (``HistogramProto``), so :class:`nerve.callbacks.TensorBoard`
needs no TensorFlow, protobuf or tensorboard package; ``tensorboard --logdir`` shows the files.
:func:`read_events` reads them back (checking every CRC), for tests and for plotting without TensorBoard.

Examples:
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with EventFileWriter(folder) as writer:
    ...     writer.add_scalar("epoch_loss", 0.5, step=1)
    >>> events = read_events(writer.path)
    >>> events[1]["step"], events[1]["values"]["epoch_loss"]
    (1, 0.5)
"""

from __future__ import annotations

import os
import socket
import struct
import time

import numpy

__all__ = ["EventFileWriter", "read_events", "crc32c"]


def _crc_table():
    table = numpy.arange(256, dtype=numpy.uint32)
    for _ in range(8):  # one pass per bit of the byte, all 256 entries at once
        table = numpy.where(table & 1, (table >> 1) ^ numpy.uint32(0x82F63B78), table >> 1).astype(numpy.uint32)
    return [int(v) for v in table]


_CRC_TABLE = _crc_table()


def crc32c(data):
    """The CRC-32C (Castagnoli) checksum of ``data``, the checksum of TFEvents records.

    Examples:
        >>> hex(crc32c(b"123456789"))
        '0xe3069283'
    """
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:  # a record is a few hundred bytes
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data):
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


# --------------------------------------------------------------- protobuf wire format
def _varint(value):
    value &= (1 << 64) - 1  # negative int64 values take ten bytes, as protobuf writes them
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field, wire):
    return _varint(field << 3 | wire)


def _bytes_field(field, payload):
    return _key(field, 2) + _varint(len(payload)) + payload


def _double_field(field, value):
    return _key(field, 1) + struct.pack("<d", float(value))


def _histogram(values, bins):
    values = numpy.asarray(values, dtype=numpy.float64).ravel()
    values = values[numpy.isfinite(values)]
    if values.size == 0:
        values = numpy.zeros(1)
    low, high = float(values.min()), float(values.max())
    if low == high:
        low, high = low - 0.5, high + 0.5
    counts, edges = numpy.histogram(values, bins=bins, range=(low, high))
    body = (_double_field(1, values.min()) + _double_field(2, values.max()) + _double_field(3, values.size)
            + _double_field(4, values.sum()) + _double_field(5, numpy.square(values).sum())
            + _bytes_field(6, edges[1:].astype("<f8").tobytes()) + _bytes_field(7, counts.astype("<f8").tobytes()))
    return body


class EventFileWriter:
    """Append scalar and histogram summaries to a new event file in ``log_dir``.

    The file is named ``events.out.tfevents.<time>.<host>.<pid>.<n>.v2`` as TensorBoard expects;
    each ``add_*`` call writes one record and ``flush`` pushes it to disk.

    Examples:
        >>> import tempfile, numpy as np
        >>> writer = EventFileWriter(tempfile.mkdtemp())
        >>> writer.add_histogram("dense/kernel", np.arange(10.0), step=0); writer.close()
        >>> read_events(writer.path)[1]["values"]["dense/kernel"]["num"]
        10.0
    """

    _count = 0

    def __init__(self, log_dir, filename_suffix=".v2"):
        os.makedirs(log_dir, exist_ok=True)
        EventFileWriter._count += 1
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}.{self._count}"
        self.path = os.path.join(os.fspath(log_dir), name + filename_suffix)
        self._file = open(self.path, "wb")
        self._write_event(_bytes_field(3, b"brain.Event:2"), step=0)

    def _write_event(self, fields, step):
        data = _double_field(1, time.time()) + _key(2, 0) + _varint(int(step)) + fields
        header = struct.pack("<Q", len(data))
        self._file.write(header + struct.pack("<I", _masked_crc(header)) + data + struct.pack("<I", _masked_crc(data)))

    def _write_value(self, tag, value_fields, step):
        value = _bytes_field(1, tag.encode("utf-8")) + value_fields
        self._write_event(_bytes_field(5, _bytes_field(1, value)), step)

    def add_scalar(self, tag, value, step):
        """Write ``value`` (a number) under ``tag`` at ``step``.

        Examples:
            >>> import tempfile
            >>> with EventFileWriter(tempfile.mkdtemp()) as w:
            ...     w.add_scalar("loss", 1.5, step=3)
        """
        self._write_value(tag, _key(2, 5) + struct.pack("<f", float(value)), step)

    def add_histogram(self, tag, values, step, bins=30):
        """Write the histogram of ``values`` (any array) under ``tag`` at ``step``.

        Examples:
            >>> import tempfile, numpy as np
            >>> with EventFileWriter(tempfile.mkdtemp()) as w:
            ...     w.add_histogram("weights", np.ones(5), step=0)
        """
        self._write_value(tag, _bytes_field(5, _histogram(values, bins)), step)

    def flush(self):
        """Push the written records to disk."""
        self._file.flush()

    def close(self):
        """Flush and close the file."""
        if not self._file.closed:
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ------------------------------------------------------------------- reading back
def _read_varint(data, pos):
    shift = result = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data):
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(data, pos)
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 2:
            size, pos = _read_varint(data, pos)
            value, pos = data[pos:pos + size], pos + size
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"event file: unsupported protobuf wire type {wire}")
        yield field, wire, value


def _parse_histogram(data):
    out = {}
    names = {1: "min", 2: "max", 3: "num", 4: "sum", 5: "sum_squares"}
    for field, _, value in _fields(data):
        if field in names:
            out[names[field]] = struct.unpack("<d", value)[0]
        elif field in (6, 7):
            out["bucket_limit" if field == 6 else "bucket"] = numpy.frombuffer(bytes(value), "<f8").tolist()
    return out


def read_events(path):
    """The events of a file as dicts ``{"wall_time", "step", "file_version", "values": {tag: number or histogram}}``.

    Every record's two CRCs are checked (``ValueError`` names the record that fails).

    Examples:
        >>> import tempfile
        >>> with EventFileWriter(tempfile.mkdtemp()) as w:
        ...     w.add_scalar("a", 2.0, step=5)
        >>> [(e["step"], e["values"]) for e in read_events(w.path)]
        [(0, {}), (5, {'a': 2.0})]
    """
    with open(path, "rb") as handle:
        raw = handle.read()
    events, pos, index = [], 0, 0
    while pos < len(raw):
        header = raw[pos:pos + 8]
        if len(header) < 8 or struct.unpack("<I", raw[pos + 8:pos + 12])[0] != _masked_crc(header):
            raise ValueError(f"{path}: record {index} has a damaged length")
        size = struct.unpack("<Q", header)[0]
        data = raw[pos + 12:pos + 12 + size]
        if len(data) < size or struct.unpack("<I", raw[pos + 12 + size:pos + 16 + size])[0] != _masked_crc(data):
            raise ValueError(f"{path}: record {index} is truncated or its checksum does not match")
        pos += 16 + size
        index += 1
        event = {"wall_time": None, "step": 0, "values": {}}
        for field, _, value in _fields(data):
            if field == 1:
                event["wall_time"] = struct.unpack("<d", value)[0]
            elif field == 2:
                event["step"] = value - (1 << 64) if value >= 1 << 63 else value
            elif field == 3:
                event["file_version"] = bytes(value).decode("utf-8")
            elif field == 5:
                for _, _, summary_value in _fields(value):
                    tag, content = None, None
                    for f, _, v in _fields(summary_value):
                        if f == 1:
                            tag = bytes(v).decode("utf-8")
                        elif f == 2:
                            content = struct.unpack("<f", v)[0]
                        elif f == 5:
                            content = _parse_histogram(v)
                    event["values"][tag] = content
        events.append(event)
    return events
