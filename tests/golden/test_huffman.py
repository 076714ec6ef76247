"""Huffman coding: round trips, optimal lengths, bit counts, corrupt streams."""

import heapq

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tessera.golden import huffman
from tessera.golden.errors import TesseraError


def optimal_bits(freq):
    """The cost of an optimal prefix code: sum of merged weights (independent of the code)."""
    weights = [int(f) for f in freq if f > 0]
    if len(weights) == 1:
        return weights[0]
    heapq.heapify(weights)
    total = 0
    while len(weights) > 1:
        a, b = heapq.heappop(weights), heapq.heappop(weights)
        total += a + b
        heapq.heappush(weights, a + b)
    return total


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 20), min_size=1, max_size=400))
def test_round_trip_and_optimality(symbols):
    symbols = np.array(symbols)
    code = huffman.build(symbols)
    data, n_bits = huffman.encode(code, symbols)
    assert len(data) == (n_bits + 7) // 8
    assert n_bits == huffman.encoded_bits(code, symbols)
    np.testing.assert_array_equal(huffman.decode(code, data, symbols.size), symbols)
    assert n_bits == optimal_bits(np.bincount(symbols))
    # prefix-free: no codeword is a prefix of another
    words = [format(int(code.codes[s]), f"0{int(code.lengths[s])}b")
             for s in np.flatnonzero(code.lengths)]
    assert not any(a != b and b.startswith(a) for a in words for b in words)


def test_single_symbol_costs_one_bit_and_skewed_streams_compress():
    code = huffman.build([3, 3, 3])
    assert huffman.encoded_bits(code, [3, 3, 3]) == 3
    rng = np.random.default_rng(0)
    skewed = rng.choice(16, size=5000, p=np.r_[0.7, np.full(15, 0.02)])
    code = huffman.build(skewed, alphabet_size=16)
    assert huffman.encoded_bits(code, skewed) < 4 * skewed.size * 0.6
    assert code.average_bits(np.bincount(skewed, minlength=16)) < 2.4


def test_errors():
    code = huffman.build([0, 1, 1, 2])
    with pytest.raises(TesseraError, match=r"^a symbol has no codeword"):
        huffman.encode(code, [5])
    with pytest.raises(TesseraError, match=r"^cannot build a Huffman code for an empty stream$"):
        huffman.build(np.array([], dtype=np.int64))
    with pytest.raises(TesseraError, match=r"^symbols must hold values of at least 0, not -1$"):
        huffman.build([-1])
    data, _ = huffman.encode(code, [1, 2])
    with pytest.raises(TesseraError, match=r"^corrupt Huffman stream"):
        huffman.decode(code, data, 40)
