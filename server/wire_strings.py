"""The first string longer than --max-string-length in a request's bytes, found before parsing.

Parsing copies every string (the parser's copy, then Python's on access), so a 20 MB attribute
would cost the server its size twice more before `WireLimits` could refuse it from the parsed
message. This walks the protobuf wire format instead, guided by the request's descriptor, and
descends only into fields longer than the limit: a shorter field cannot hold a longer string, so
a request with no long field costs nothing and a large one costs one step per field on the path
to its large fields, at most `max_fields` of them. Bytes that are not well-formed, and requests
with more fields than that on those paths (more than the largest graph allowed has), are left to
the parser and the checks of the parsed message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from google.protobuf.descriptor import Descriptor, FieldDescriptor

LABELS = ("id", "op", "name", "key")  # short strings that say which message a long one sits in
COUNT_CHUNK = 1 << 20  # bytes per step when counting a long string's characters


@dataclass
class LongString(Exception):
    """Where the long string is (`path`, outermost first), its length in characters, its first
    characters, and the node (id, op) holding it when it is in one."""

    characters: int
    start: str
    path: list[str] = field(default_factory=list)
    node: str = ""
    op: str = ""
    labels: dict[str, str] = field(default_factory=dict)  # of the message it was last seen in


class _Stop(Exception):
    """Bytes the scan cannot follow, or too many fields to walk: the parser takes over."""


def long_string(raw: bytes, descriptor: Descriptor, limit: int, max_fields: int) -> LongString | None:
    """The first string field of `raw` (a serialized `descriptor` message) with more than `limit`
    characters, or None (also when finding out would take walking more than `max_fields`)."""
    if len(raw) <= limit:
        return None
    try:
        _scan(raw, 0, len(raw), descriptor, limit, [max_fields])
    except LongString as found:
        return found
    except (_Stop, IndexError):
        pass
    return None


@lru_cache(maxsize=None)
def _fields(descriptor: Descriptor) -> dict[int, FieldDescriptor]:
    """The length-delimited fields worth looking at: strings and messages, by number."""
    return {f.number: f for f in descriptor.fields
            if f.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_MESSAGE)}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise _Stop


def _scan(data: bytes, pos: int, end: int, descriptor: Descriptor, limit: int, budget: list[int]) -> None:
    """Raises LongString for the first long string in the message at data[pos:end]; `budget`
    holds how many more fields may be walked."""
    fields = _fields(descriptor)
    labels: dict[str, str] = {}
    try:
        while pos < end:
            budget[0] -= 1
            if budget[0] < 0:
                raise _Stop
            key = data[pos]
            pos += 1
            if key >= 0x80:
                key, pos = _varint(data, pos - 1)
            wire = key & 7
            if wire == 2:
                length = data[pos]
                pos += 1
                if length >= 0x80:
                    length, pos = _varint(data, pos - 1)
                if pos + length > end:
                    raise _Stop
                f = fields.get(key >> 3)
                if f is not None and (length > limit or f.name in LABELS):
                    _look(data, pos, length, f, limit, labels, budget)
                pos += length
            elif wire == 0:
                _, pos = _varint(data, pos)
            elif wire == 1:
                pos += 8
            elif wire == 5:
                pos += 4
            else:  # groups: not in our contract
                raise _Stop
    except LongString as found:
        found.labels = labels
        if not found.node and "op" in labels:
            found.node, found.op = labels.get("id", ""), labels["op"]
        raise
    if pos != end:
        raise _Stop


def _look(data: bytes, pos: int, length: int, f: FieldDescriptor, limit: int, labels: dict[str, str],
          budget: list[int]) -> None:
    """One string or message field at data[pos:pos + length] of the message `labels` describes."""
    if f.type == FieldDescriptor.TYPE_STRING:
        if length > limit and (characters := _characters(data, pos, length)) > limit:
            raise LongString(characters, data[pos:pos + 64].decode("utf-8", "replace"), [f.name])
        if f.name in LABELS and f.name not in labels and length <= 64:
            labels[f.name] = data[pos:pos + length].decode("utf-8", "replace")
    elif length > limit:
        try:
            _scan(data, pos, pos + length, f.message_type, limit, budget)
        except LongString as found:
            found.path[:1] = _segment(f, found.path[0], found.labels)
            raise


def _segment(f: FieldDescriptor, inner: str, labels: dict[str, str]) -> list[str]:
    """The path steps for field `f`, whose message (with `labels`) held the long string in its
    field `inner`: `attrs['dtype']` for a map entry's value, `nodes['c'].inner` for a message
    with an id or a name."""
    if f.message_type.GetOptions().map_entry:
        return [f"{f.name}[{labels.get('key', '')!r}]" if inner == "value" else f"{f.name} (a key)"]
    name = labels.get("id", labels.get("name"))
    return [f.name if name is None else f"{f.name}[{name!r}]", inner]


def _characters(data: bytes, pos: int, length: int) -> int:
    """Characters in the UTF-8 string data[pos:pos + length]: its bytes less its continuation
    bytes, counted in chunks without copying the string."""
    view = np.frombuffer(data, np.uint8, count=length, offset=pos)
    continuation = 0
    for chunk in range(0, length, COUNT_CHUNK):
        part = view[chunk:chunk + COUNT_CHUNK]
        continuation += int(np.count_nonzero((part & 0xC0) == 0x80))
    return length - continuation
