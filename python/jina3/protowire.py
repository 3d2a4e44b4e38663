"""Minimal protobuf wire format: enough to write (and, for checks, read) a sentencepiece ModelProto.

Only the wire types sentencepiece uses appear: varint (0), 32-bit (5), length-delimited (2), and
64-bit (1) when reading. No schema: callers name field numbers themselves.
"""

import struct

from .tool_errors import ProtobufError

VARINT = 0
FIXED64 = 1
LENGTH_DELIMITED = 2
FIXED32 = 5


def encode_varint(value: int) -> bytes:
    """Unsigned LEB128. Negative int32/int64 values are written as their 64-bit two's complement
    (10 bytes), as protobuf does for int32 fields."""
    if value < 0:
        value += 1 << 64
    if value >= 1 << 64:
        raise ProtobufError(f"varint value {value} does not fit in 64 bits")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return encode_varint((field << 3) | wire_type)


def varint_field(field: int, value: int) -> bytes:
    return _key(field, VARINT) + encode_varint(int(value))


def bool_field(field: int, value: bool) -> bytes:
    return varint_field(field, 1 if value else 0)


def float_field(field: int, value: float) -> bytes:
    return _key(field, FIXED32) + struct.pack("<f", value)


def bytes_field(field: int, value: bytes) -> bytes:
    return _key(field, LENGTH_DELIMITED) + encode_varint(len(value)) + bytes(value)


def string_field(field: int, value: str) -> bytes:
    return bytes_field(field, value.encode("utf-8"))


def message_field(field: int, encoded_message: bytes) -> bytes:
    return bytes_field(field, encoded_message)


def decode_varint(data: bytes, pos: int):
    """Returns (value, new position); raises ProtobufError on truncation or overlong input."""
    result = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ProtobufError("varint longer than 10 bytes")


def iter_fields(data: bytes):
    """Yields (field number, wire type, value) for each field of one message, in order. Values:
    int for varint and fixed types (fixed32/64 as raw unsigned), bytes for length-delimited."""
    data = memoryview(data).tobytes() if not isinstance(data, bytes) else data
    pos = 0
    while pos < len(data):
        key, pos = decode_varint(data, pos)
        field, wire_type = key >> 3, key & 7
        if field == 0:
            raise ProtobufError(f"field number 0 at byte {pos}")
        if wire_type == VARINT:
            value, pos = decode_varint(data, pos)
        elif wire_type == FIXED32:
            if pos + 4 > len(data):
                raise ProtobufError(f"truncated fixed32 field {field}")
            value = struct.unpack_from("<I", data, pos)[0]
            pos += 4
        elif wire_type == FIXED64:
            if pos + 8 > len(data):
                raise ProtobufError(f"truncated fixed64 field {field}")
            value = struct.unpack_from("<Q", data, pos)[0]
            pos += 8
        elif wire_type == LENGTH_DELIMITED:
            length, pos = decode_varint(data, pos)
            if pos + length > len(data):
                raise ProtobufError(f"length-delimited field {field} runs past the end ({length} bytes at {pos})")
            value = data[pos:pos + length]
            pos += length
        else:
            raise ProtobufError(f"unsupported wire type {wire_type} for field {field}")
        yield field, wire_type, value


def fixed32_to_float(raw: int) -> float:
    return struct.unpack("<f", struct.pack("<I", raw))[0]


def varint_to_int64(raw: int) -> int:
    """Reads a varint as a signed int32/int64 value (two's complement over 64 bits)."""
    return raw - (1 << 64) if raw >= 1 << 63 else raw
