"""Huffman coding of codebook indices and relative indices (Deep Compression, section 4).

The code is *canonical*: code lengths come from the usual Huffman tree (ties broken by symbol
value, so a code is a pure function of the frequencies), then codewords are assigned in order of
(length, symbol). A canonical code is fully described by its lengths, so storing it costs one
length per symbol. Bits are written most significant bit of each codeword first and packed into
bytes with :func:`numpy.packbits` (big-endian bit order, zero padded at the end).

An alphabet of one symbol gets a 1-bit code, so every symbol costs at least one bit.
"""

import heapq
from dataclasses import dataclass

import numpy as np

from .errors import TesseraError, check_int_array

__all__ = ["HuffmanCode", "build", "decode", "encode", "encoded_bits"]


def _symbols(values, name="symbols"):
    return check_int_array(values, name, low=0).ravel()


@dataclass(frozen=True)
class HuffmanCode:
    """A canonical Huffman code over the symbols ``0 .. len(lengths) - 1``.

    Attributes
    ----------
    lengths : numpy.ndarray of int64
        Codeword length of each symbol, 0 for a symbol that does not occur.
    codes : numpy.ndarray of int64
        The codeword of each symbol (its ``lengths[s]`` low bits), 0 where the length is 0.
    """

    lengths: np.ndarray
    codes: np.ndarray

    @property
    def max_length(self):
        """The longest codeword, in bits."""
        return int(self.lengths.max(initial=0))

    def average_bits(self, frequencies):
        """Return the mean codeword length under the given symbol frequencies."""
        f = np.asarray(frequencies, dtype=np.float64)
        return float((f * self.lengths[: f.size]).sum() / f.sum()) if f.sum() else 0.0


def build(symbols, *, alphabet_size=None):
    """Build the canonical Huffman code for the symbol stream ``symbols``.

    Parameters
    ----------
    symbols : array_like of non-negative int
        The stream to code (its frequencies define the code).
    alphabet_size : int or None
        Number of symbols in the alphabet; by default ``max(symbols) + 1``.

    Returns
    -------
    HuffmanCode

    Raises
    ------
    TesseraError
        If the stream is empty or holds negative or non-integer symbols.
    """
    symbols = _symbols(symbols)
    if symbols.size == 0:
        raise TesseraError("cannot build a Huffman code for an empty stream")
    size = int(symbols.max()) + 1 if alphabet_size is None else int(alphabet_size)
    if size <= symbols.max():
        raise TesseraError(f"symbol {symbols.max()} is outside an alphabet of {size}")
    freq = np.bincount(symbols, minlength=size)
    present = np.flatnonzero(freq)
    lengths = np.zeros(size, dtype=np.int64)
    if present.size == 1:
        lengths[present[0]] = 1
    else:
        # Heap of (weight, smallest symbol in subtree, symbols in subtree): deterministic ties.
        heap = [(int(freq[s]), int(s), [int(s)]) for s in present]
        heapq.heapify(heap)
        while len(heap) > 1:
            w1, k1, s1 = heapq.heappop(heap)
            w2, k2, s2 = heapq.heappop(heap)
            for s in s1 + s2:
                lengths[s] += 1
            heapq.heappush(heap, (w1 + w2, min(k1, k2), s1 + s2))
    return _canonical(lengths)


def _canonical(lengths):
    codes = np.zeros_like(lengths)
    code, previous = 0, 0
    for s in sorted(np.flatnonzero(lengths), key=lambda s: (lengths[s], s)):
        code <<= int(lengths[s]) - previous
        codes[s] = code
        previous = int(lengths[s])
        code += 1
    return HuffmanCode(lengths, codes)


def encoded_bits(code, symbols):
    """Return the number of bits ``symbols`` take under ``code`` (no padding to bytes)."""
    symbols = _symbols(symbols)
    _check_coded(code, symbols)
    return int(code.lengths[symbols].sum())


def _check_coded(code, symbols):
    if symbols.size and (
        symbols.max() >= code.lengths.size or np.any(code.lengths[symbols] == 0)
    ):
        raise TesseraError("a symbol has no codeword in this Huffman code")


def encode(code, symbols):
    """Encode a symbol stream.

    Returns
    -------
    (data, n_bits) : (bytes, int)
        The packed bit stream (MSB first, zero padded to a byte) and its length in bits.

    Raises
    ------
    TesseraError
        If a symbol has no codeword.
    """
    symbols = _symbols(symbols)
    _check_coded(code, symbols)
    lengths = code.lengths[symbols]
    total = int(lengths.sum())
    starts = np.cumsum(lengths) - lengths
    owner = np.repeat(np.arange(symbols.size), lengths)
    offset = np.arange(total) - starts[owner]
    bits = (code.codes[symbols][owner] >> (lengths[owner] - 1 - offset)) & 1
    return np.packbits(bits.astype(np.uint8)).tobytes(), total


def decode(code, data, n_symbols):
    """Decode ``n_symbols`` symbols from a packed bit stream made by :func:`encode`.

    Raises
    ------
    TesseraError
        If the stream ends early or holds a bit pattern that is not a codeword.
    """
    bits = np.unpackbits(np.frombuffer(bytes(data), dtype=np.uint8))
    max_len = code.max_length
    # Canonical decoding: per length, the first code and the symbols in canonical order.
    order = sorted(np.flatnonzero(code.lengths), key=lambda s: (code.lengths[s], s))
    first, count, index = {}, {}, {}
    for position, s in enumerate(order):
        length = int(code.lengths[s])
        if length not in first:
            first[length], index[length], count[length] = int(code.codes[s]), position, 0
        count[length] += 1
    out = np.empty(n_symbols, dtype=np.int64)
    bit_list = bits.tolist()
    pos = 0
    for i in range(n_symbols):
        value, length = 0, 0
        while True:
            if pos >= len(bit_list) or length >= max_len:
                raise TesseraError("corrupt Huffman stream: no codeword matches")
            value = (value << 1) | bit_list[pos]
            pos += 1
            length += 1
            if length in first and 0 <= value - first[length] < count[length]:
                out[i] = order[index[length] + value - first[length]]
                break
    return out
