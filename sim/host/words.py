"""Words of a protocol layout: pack and unpack through ``amaranth.lib.data``, carry over .npz.

Nothing here knows a field's position. :func:`encode` is ``layout.const(fields).as_value().value``
(what ``amaranth.lib.data`` packs), made fast: the first time a layout is seen its leaf fields'
offsets and widths are read from the layout itself, and later words are packed from that table
(``layout.const`` spends milliseconds a word; a program of thousands of matrix words would wait
seconds). :func:`decode` is ``layout.from_bits``; :func:`decode_fields` reads a word's fields as
plain integers from the same table (``from_bits`` views cost as much as ``const``: a result
stream of thousands of words). tests/sim/test_host.py checks both against ``amaranth.lib.data``
on every field of every protocol layout. :func:`words_to_array` and
:func:`array_to_words` only cut wide integers into 64-bit pieces (and join them again) to carry
them through a NumPy file.
"""

from collections.abc import Mapping

import numpy as np
from amaranth.hdl import Shape, ShapeCastable
from amaranth.lib import data

__all__ = ["array_to_words", "decode", "decode_fields", "encode", "encode_columns",
           "join_signed", "words_to_array"]


class _Leaf:
    """A field of a layout that holds a plain value: where it is, how wide, how to read it."""

    __slots__ = ("enum", "offset", "signed", "width")

    def __init__(self, offset, width, enum, signed):
        self.offset, self.width, self.enum, self.signed = offset, width, enum, signed


class _Nested:
    """A field that is itself a layout: where it starts, and its own fields."""

    __slots__ = ("offset", "table")

    def __init__(self, offset, table):
        self.offset, self.table = offset, table


def _table(layout, offset=0):
    """Map each field of ``layout`` to a :class:`_Leaf` or :class:`_Nested`, offsets from bit 0
    of the outermost layout, as the layout itself states them (``field.offset``)."""
    table = {}
    for key, field in layout:
        at = offset + field.offset
        if isinstance(field.shape, data.Layout):
            table[key] = _Nested(at, _table(field.shape, at))
        else:
            enum = isinstance(field.shape, ShapeCastable)
            shape = Shape.cast(field.shape)
            table[key] = _Leaf(at, shape.width, enum, shape.signed)
    return table


# id(layout) -> (layout, table): layouts compare by value and are not hashable; the layout is
# kept so that its id is not reused.
_TABLES = {}


def _pack(table, fields):
    # The only place where a field's position becomes bits, and the position is the layout's.
    word = 0
    items = fields.items() if isinstance(fields, Mapping) else enumerate(fields)
    for key, value in items:
        field = table[key]
        if isinstance(field, _Nested):
            if isinstance(value, data.Const):
                word |= value.as_value().value << field.offset
            else:
                word |= _pack(field.table, value)
            continue
        if field.enum:
            value = value.value
        word |= (int(value) & ((1 << field.width) - 1)) << field.offset
    return word


def _layout_table(layout):
    entry = _TABLES.get(id(layout))
    if entry is None or entry[0] is not layout:
        entry = _TABLES[id(layout)] = (layout, _table(layout))
    return entry[1]


def _unpack(table, word):
    fields = {}
    for key, field in table.items():
        if isinstance(field, _Nested):
            fields[key] = _unpack(field.table, word)
            continue
        value = (word >> field.offset) & ((1 << field.width) - 1)
        if field.signed and value >> (field.width - 1):
            value -= 1 << field.width
        fields[key] = value
    return fields


def encode(layout, fields):
    """Return ``layout.const(fields).as_value().value``: one word of the wire format.

    ``fields`` is what ``layout.const`` takes: a mapping (struct) or a sequence (array) of
    field values, nested for nested layouts; a field's value is cut to its width as
    ``layout.const`` does, enum fields take their members.
    """
    return _pack(_layout_table(layout), fields)


def encode_columns(layout, **columns):
    """Return one word per element of equally long field arrays, ``field=array`` per field.

    ``encode_columns(layout, bias=[...], shift=[...])`` is ``[encode(layout, {"bias": b,
    "shift": s}) for b, s in ...]``: a table of transfers, one column per field.
    """
    names = list(columns)
    rows = zip(*(np.asarray(columns[name]).tolist() for name in names))
    return [encode(layout, dict(zip(names, row))) for row in rows]


def decode(layout, word):
    """Return the :class:`amaranth.lib.data.Const` view of ``word`` through ``layout``."""
    return layout.from_bits(int(word))


def decode_fields(layout, word):
    """Return the fields of ``word`` through ``layout`` as plain integers, fast.

    A dict per struct (field name -> value) and per array (index -> value), nested as the layout
    is; a leaf's value is what ``layout.from_bits(word)`` holds there as an integer: signed
    fields sign-extended, an enum field its raw value (which need not be a member: a header
    may carry a value the enum lacks).
    """
    return _unpack(_layout_table(layout), int(word))


def join_signed(values, width):
    """Join ``width``-bit two's-complement words (first in the lowest bits) into one integer.

    The words a stream delivers one by one (STATS readouts, for instance) become the bits of one
    layout, to :func:`decode` together.
    """
    raw = b"".join(int(v).to_bytes(width // 8, "little", signed=int(v) < 0) for v in values)
    return int.from_bytes(raw, "little")


def words_to_array(words, width):
    """Cut ``width``-bit words into a ``(count, chunks)`` uint64 array (for an .npz file)."""
    chunks = max(1, -(-width // 64))
    raw = b"".join(int(w).to_bytes(8 * chunks, "little") for w in words)
    return np.frombuffer(raw, dtype="<u8").astype(np.uint64).reshape(len(words), chunks)


def array_to_words(array):
    """Join a ``(count, chunks)`` uint64 array (:func:`words_to_array`) back into integers."""
    array = np.ascontiguousarray(np.asarray(array, dtype="<u8"))
    return [int.from_bytes(row.tobytes(), "little") for row in array]
