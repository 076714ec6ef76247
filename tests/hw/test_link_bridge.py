# amaranth: UnusedElaboratable=no
"""The link bridge (tessera.hw.link.BytesToWords, WordsToBytes) against golden.link's
bytes_to_words / words_to_bytes, in amaranth.sim, with random gaps and back-pressure."""

import numpy as np
import pytest
from amaranth.sim import Simulator
from tessera.golden.errors import TesseraError
from tessera.golden.link import bytes_to_words, word_bytes, words_to_bytes
from tessera.hw.link import BytesToWords, WordsToBytes, stream_widths


def _stream(dut, source, sink, items, count, seed):
    """Feed ``items`` into ``source`` and collect ``count`` payloads from ``sink``, both sides
    pausing at random (seeded)."""
    rng = np.random.default_rng(seed)
    got = []

    async def producer(ctx):
        for item in items:
            while rng.random() < 0.3:
                ctx.set(source.valid, 0)
                await ctx.tick()
            ctx.set(source.payload, item)
            ctx.set(source.valid, 1)
            await ctx.tick().until(source.ready)
        ctx.set(source.valid, 0)

    async def consumer(ctx):
        while len(got) < count:
            ctx.set(sink.ready, int(rng.random() < 0.7))
            _, _, valid, ready, payload = await ctx.tick().sample(sink.valid, sink.ready,
                                                                   sink.payload)
            if valid and ready:
                got.append(payload)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run_until(1e-6 * (20 * len(items) * max(1, word_bytes(dut.width)) + 100))
    return got


@pytest.mark.parametrize("width", [1, 5, 8, 32, 85])
def test_bytes_to_words(width):
    seed = width
    rng = np.random.default_rng(seed)
    data = bytes(rng.integers(0, 256, 6 * word_bytes(width)).tolist())
    dut = BytesToWords(width)
    got = _stream(dut, dut.i, dut.o, list(data), 6, seed)
    assert got == bytes_to_words(data, width), f"seed {seed}"


@pytest.mark.parametrize("width", [1, 5, 8, 32, 85])
def test_words_to_bytes(width):
    seed = 100 + width
    rng = np.random.default_rng(seed)
    words = [int.from_bytes(rng.bytes(word_bytes(width)), "little") & ((1 << width) - 1)
             for _ in range(6)]
    dut = WordsToBytes(width)
    expected = words_to_bytes(words, width)
    got = _stream(dut, dut.i, dut.o, words, len(expected), seed)
    assert bytes(got) == expected, f"seed {seed}"


def test_golden_round_trip_and_signed():
    assert words_to_bytes([-1, 5], 32) == b"\xff\xff\xff\xff\x05\x00\x00\x00"
    assert bytes_to_words(b"\xff\xff\xff\xff\x05\x00\x00\x00", 32, signed=True) == [-1, 5]
    assert bytes_to_words(words_to_bytes([0x1FFFFF, 3], 21), 21) == [0x1FFFFF, 3]
    with pytest.raises(TesseraError, match="whole number of 85-bit words"):
        bytes_to_words(b"\x00" * 12, 85)


def test_stream_widths():
    from tessera.hw.sparse import SparseArray

    assert stream_widths(SparseArray(n_pes=1)) == (85, 32)
    assert stream_widths(SparseArray(n_pes=4)) == (86, 32)
    with pytest.raises(TesseraError, match="input stream member 'i'"):
        stream_widths(WordsToBytes(8).o.signature.flip().create())
