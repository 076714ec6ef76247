# amaranth: UnusedElaboratable=no
"""Unit tests of the sparse PE's units with amaranth.sim (fast; no Verilog, no simulator build).

The array-level cocotb testbenches (test_sparse.py) check everything end to end against the
golden models; these pin each unit's own contract: the LNZD tree, the even/odd pointer banks,
back-to-back spans, the accumulator bypass, the codebook's table semantics, parameter checks.
"""

import itertools
import random

import numpy as np
import pytest
from amaranth import Module, Signal
from amaranth.sim import Simulator
from tessera.hw.sparse import SparseArray, SparseConfig
from tessera.hw.sparse.arith import ArithmeticUnit
from tessera.hw.sparse.codebook import CodebookDecoder
from tessera.hw.sparse.detector import leading_nonzero
from tessera.hw.sparse.pointer import PointerReadUnit
from tessera.hw.sparse.spmat import SparseMatrixReadUnit


def simulate(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("width", [1, 2, 3, 4, 5, 9, 16, 17, 64])
def test_leading_nonzero_finds_the_lowest_set_bit(width):
    bits = Signal(width)
    m = Module()
    found, index = leading_nonzero(bits)
    out_found, out_index = Signal(), Signal(len(index) or 1)
    m.d.comb += [out_found.eq(found), out_index.eq(index)]
    rng = random.Random(width)
    patterns = [0, 1, 2**width - 1, 1 << (width - 1)] + [
        rng.getrandbits(width) & rng.getrandbits(width) for _ in range(200)]

    async def bench(ctx):
        for value in patterns:
            ctx.set(bits, value)
            expected = (value & -value).bit_length() - 1
            assert ctx.get(out_found) == (value != 0), value
            if value:
                assert ctx.get(out_index) == expected, (bin(value), ctx.get(out_index))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()


def test_pointer_banks_read_both_neighbours_in_one_cycle():
    cfg = SparseConfig(n_pes=1, ptr_depth=16, spmat_depth=8)
    dut = PointerReadUnit(cfg)
    pointers = [0, 3, 3, 7, 12, 12, 20, 64, 65, 30, 31, 31, 31, 31, 31, 31]

    async def bench(ctx):
        for w in range(8):
            ctx.set(dut.w_en, 1)
            ctx.set(dut.w_addr, w)
            ctx.set(dut.w_data, {"even": pointers[2 * w], "odd": pointers[2 * w + 1]})
            await ctx.tick()
        ctx.set(dut.w_en, 0)
        ctx.set(dut.o.ready, 1)
        for base in (0, 1):
            ctx.set(dut.base, base)
            got = []
            for col in range(14):
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.i.payload, {"col": col, "value": col + 1})
                assert ctx.get(dut.i.ready)
                await ctx.tick()
                ctx.set(dut.i.valid, 0)
                q = base + col
                start, end = pointers[q], pointers[q + 1]
                bad = end > cfg.capacity or end < start
                assert not ctx.get(dut.o.valid) and not ctx.get(dut.error)  # the read stage
                await ctx.tick()                                           # the span stage
                assert ctx.get(dut.error) == bad, (q, start, end)
                assert ctx.get(dut.o.valid) == (start < end and not bad), (q, start, end)
                if ctx.get(dut.o.valid):
                    got.append((ctx.get(dut.o.payload.start), ctx.get(dut.o.payload.end),
                                ctx.get(dut.o.payload.value)))
                    assert got[-1] == (start, end, col + 1)
                await ctx.tick()
                assert ctx.get(dut.idle)
            assert got, "no span came out"
        # Back to back with the consumer ready: one column per cycle in, spans in order out.
        ctx.set(dut.base, 0)
        spans, col = [], 0
        for _ in range(20):
            ctx.set(dut.i.valid, col < 14)
            ctx.set(dut.i.payload, {"col": col, "value": 0})
            taken = col < 14 and ctx.get(dut.i.ready)
            if ctx.get(dut.o.valid):
                spans.append((ctx.get(dut.o.payload.start), ctx.get(dut.o.payload.end)))
            await ctx.tick()
            col += taken
        expected = [(a, b) for a, b in itertools.pairwise(pointers[:15])
                    if a < b <= cfg.capacity]
        assert spans == expected

    simulate(dut, bench)


def test_spans_issue_back_to_back():
    cfg = SparseConfig(n_pes=1, entries_per_word=4, spmat_depth=8)
    dut = SparseMatrixReadUnit(cfg)
    rng = np.random.default_rng(0)
    rel, index = np.divmod(rng.integers(0, 256, 32), 16)  # 4-bit fields of an 8-bit draw
    spans = [(0, 3, 5), (3, 4, -2), (4, 13, 7), (13, 14, 1), (20, 32, -128)]

    async def bench(ctx):
        for w in range(8):
            word = [{"index": int(index[e]), "rel": int(rel[e])} for e in range(4 * w, 4 * w + 4)]
            ctx.set(dut.w_en, 1)
            ctx.set(dut.w_addr, w)
            ctx.set(dut.w_data, word)
            await ctx.tick()
        ctx.set(dut.w_en, 0)
        issued, entries, cycle = [], [], 0
        queue = list(spans)
        while cycle < 60:
            if queue:
                start, end, value = queue[0]
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.i.payload, {"start": start, "end": end, "value": value})
            else:
                ctx.set(dut.i.valid, 0)
            taken = queue and ctx.get(dut.i.ready)
            issued.append(ctx.get(dut.issue))
            await ctx.tick()
            cycle += 1
            if taken:
                queue.pop(0)
            if ctx.get(dut.o.valid):
                entries.append((ctx.get(dut.o.payload.index), ctx.get(dut.o.payload.rel),
                                ctx.get(dut.o.payload.value), ctx.get(dut.o.payload.first)))
        expected = []
        for start, end, value in spans:
            for e in range(start, end):
                expected.append((int(index[e]), int(rel[e]), value, e == start))
        assert entries == expected
        total = sum(end - start for start, end, _ in spans)
        assert issued[:total] == [1] * total and not any(issued[total:])

    simulate(dut, bench)


def test_arithmetic_bypass_covers_every_hazard():
    cfg = SparseConfig(n_pes=1, act_depth=8)
    dut = ArithmeticUnit(cfg)
    rng = np.random.default_rng(1)
    # Rows drawn from a few values, so consecutive and every-other entries collide often.
    stream = [(int(rng.integers(0, 3)), int(rng.integers(-128, 128)),
               int(rng.integers(-128, 128)), int(rng.random() < 0.9)) for _ in range(300)]
    stream += [(1, -128, -128, 1)] * 5  # the same accumulator five cycles running

    async def bench(ctx):
        while not ctx.get(dut.ready):  # the post-reset sweep
            await ctx.tick()
        for gap in (0, 1):
            expected = np.zeros(cfg.act_depth, dtype=np.int64)
            for row, weight, value, write in stream:
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.i.payload, {"row": row, "weight": weight, "value": value,
                                        "write": write})
                expected[row] += weight * value * write
                await ctx.tick()
                if gap:
                    ctx.set(dut.i.valid, 0)
                    await ctx.tick()
            ctx.set(dut.i.valid, 0)
            await ctx.tick().repeat(3)
            assert ctx.get(dut.idle)
            got = []
            for row in range(cfg.act_depth):  # read and clear
                ctx.set(dut.wb_en, 1)
                ctx.set(dut.wb_addr, row)
                await ctx.tick()
                ctx.set(dut.wb_en, 0)
                got.append(ctx.get(dut.wb_data))
            np.testing.assert_array_equal(got, expected, err_msg=f"gap {gap}")

    simulate(dut, bench)


def test_codebook_forgets_its_table_on_a_write_to_entry_zero():
    cfg = SparseConfig(n_pes=1, index_bits=3)
    dut = CodebookDecoder(cfg)

    async def write(ctx, index, value):
        ctx.set(dut.w_en, 1)
        ctx.set(dut.w_index, index)
        ctx.set(dut.w_value, value)
        await ctx.tick()
        ctx.set(dut.w_en, 0)

    async def bench(ctx):
        for index in range(8):
            ctx.set(dut.index, index)
            assert ctx.get(dut.known) == (index == 0)
        for index in range(1, 5):
            await write(ctx, index, -10 * index)
        for index in range(8):
            ctx.set(dut.index, index)
            assert ctx.get(dut.known) == (index < 5)
            if index < 5:  # an unknown entry's value is not part of the contract
                assert ctx.get(dut.value) == -10 * index, index
        await write(ctx, 0, 99)  # a new table: entry 0 still reads 0, the rest unknown
        await write(ctx, 1, 7)
        for index in range(8):
            ctx.set(dut.index, index)
            assert ctx.get(dut.known) == (index < 2)
        ctx.set(dut.index, 0)
        assert ctx.get(dut.value) == 0
        ctx.set(dut.index, 1)
        assert ctx.get(dut.value) == 7

    simulate(dut, bench)


def test_codebook_slots_are_separate_tables():
    """Each slot keeps its own values and its own loaded entries: a write to entry 0 of one
    slot forgets only that slot, and the slot input picks the table."""
    cfg = SparseConfig(n_pes=1, index_bits=2, codebooks=3)
    dut = CodebookDecoder(cfg)
    size = cfg.codebook_size

    async def write(ctx, slot, index, value):
        ctx.set(dut.w_en, 1)
        ctx.set(dut.w_index, slot * size + index)
        ctx.set(dut.w_value, value)
        await ctx.tick()
        ctx.set(dut.w_en, 0)

    def read(ctx, slot, index):
        ctx.set(dut.slot, slot)
        ctx.set(dut.index, index)
        return ctx.get(dut.known), ctx.get(dut.value)

    async def bench(ctx):
        for slot in range(3):
            for index in range(1, size):
                await write(ctx, slot, index, 10 * slot + index)
        for slot in range(3):
            for index in range(size):
                assert read(ctx, slot, index) == (1, 10 * slot + index if index else 0)
        await write(ctx, 1, 0, 0)  # slot 1 starts a new codebook: 0 and 2 keep theirs
        await write(ctx, 1, 2, -5)
        for slot in range(3):
            for index in range(1, size):
                known, value = read(ctx, slot, index)
                assert known == (slot != 1 or index == 2), (slot, index)
                if known:
                    assert value == (-5 if slot == 1 else 10 * slot + index), (slot, index)

    simulate(dut, bench)


@pytest.mark.parametrize(("params", "error"), [
    ({"codebooks": 0}, "codebooks must be between 1 and 16, not 0"),
    ({"codebooks": 17}, "codebooks must be between 1 and 16, not 17"),
    ({"act_pack": 1}, "act_pack must be a bool, not 1"),
    ({"n_pes": 0}, "n_pes must be between 1 and 64, not 0"),
    ({"n_pes": 65}, "n_pes must be between 1 and 64, not 65"),
    ({"fifo_depth": 1}, "fifo_depth must be between 2 and 64, not 1"),
    ({"n_pes": "4"}, "n_pes must be an integer, not '4'"),
    ({"entries_per_word": 3}, "entries_per_word must be a power of two, not 3"),
    ({"index_bits": 9}, "index_bits must be between 1 and 8, not 9"),
    ({"weight_width": 1}, "weight_width must be between 2 and 16, not 1"),
    ({"spmat_depth": 8192}, r"spmat_depth \* entries_per_word = 65536 entries cannot be "
                            r"addressed by 16-bit pointers \(at most 65535\)"),
    ({"act_depth": 2048, "n_pes": 64}, r"act_depth \* n_pes = 131072 activations do not fit"),
])
def test_parameters_are_checked(params, error):
    with pytest.raises((TypeError, ValueError), match=f"^{error}"):
        SparseArray(**params)


def test_signature():
    array = SparseArray(n_pes=3)
    members = dict(array.signature.members.items())
    assert set(members) == {"i", "o", "busy", "error"}
    assert array.config == SparseConfig(n_pes=3)
    assert len(array.i.payload.as_value()) == 4 + 2 + 16 + 64


@pytest.mark.parametrize(("depth", "seed"), [(2, 1), (3, 2), (8, 3)])
def test_registered_broadcast_never_meets_a_full_queue(depth, seed):
    """Three queues behind a Broadcast, PEs reading at random: per cycle, each queue's flag is
    true to its level, the broadcast goes exactly when every queue held at most depth - 2 pairs
    in the cycle before, and a pair sent always finds room (``i.ready`` high)."""
    from amaranth.lib import wiring
    from tessera.hw.sparse.broadcast import Broadcast
    from tessera.hw.sparse.queue import ActivationQueue

    m = Module()
    m.submodules.bcast = bcast = Broadcast(n_pes=3)
    queues = [ActivationQueue(depth=depth) for _ in range(3)]
    for k, q in enumerate(queues):
        m.submodules[f"q{k}"] = q
        m.d.comb += [q.i.valid.eq(bcast.o.valid), q.i.payload.eq(bcast.o.payload),
                     bcast.almost_full[k].eq(q.almost_full)]
    offer = wiring.flipped(bcast.i)  # driven by the testbench as the detector
    rng = random.Random(seed)
    seen = {"sent": 0, "waited": 0}

    async def bench(ctx):
        before = [0, 0, 0]
        for cycle in range(600):
            busy = cycle // 150 % 2  # phases of slow and fast readers
            ctx.set(offer.valid, rng.random() < 0.9)
            ctx.set(offer.payload.col, cycle)
            for q in queues:
                ctx.set(q.o.ready, rng.random() < (0.3 if busy else 0.9))
            levels = [ctx.get(q.level) for q in queues]
            for k, q in enumerate(queues):
                assert ctx.get(q.almost_full) == (levels[k] >= depth - 1), (seed, cycle, k)
            go = ctx.get(offer.ready)
            assert go == all(level <= depth - 2 for level in before), (seed, cycle, before)
            if ctx.get(bcast.o.valid):
                assert all(ctx.get(q.i.ready) for q in queues), (seed, cycle, levels)
                seen["sent"] += 1
            seen["waited"] += ctx.get(bcast.wait)
            before = levels
            await ctx.tick()

    simulate(m, bench)
    assert seen["sent"] > 100 and seen["waited"] > 20, seen
