"""Words of a protocol layout: pack and unpack through ``amaranth.lib.data``, carry over .npz.

Nothing here knows a field's position: :func:`encode` and :func:`decode` ask the layout, and
:func:`words_to_array` / :func:`array_to_words` only cut wide integers into 64-bit pieces (and
join them again) to carry them through a NumPy file.
"""

import numpy as np

__all__ = ["array_to_words", "decode", "encode", "encode_columns", "join_signed",
           "words_to_array"]


def encode(layout, fields):
    """Return the integer of ``layout.const(fields)``: one word of the wire format."""
    return layout.const(fields).as_value().value


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
