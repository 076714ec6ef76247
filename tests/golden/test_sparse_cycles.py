"""The golden cycle model of the sparse PE array (golden/sparse_cycles.py).

The model is a max-plus recurrence over the non-zero activations. It is checked here against a
plainly written cycle-by-cycle simulation of the same rules (what each unit does in one cycle,
from the docstrings of hw/sparse), which shares none of its algebra; against hand-counted
examples; and for its work accounting against tessera.golden.eie. tests/hw/test_sparse.py checks it
against the hardware itself.
"""

from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tessera.golden.eie import encode, encode_values, pack_entries, spmv
from tessera.golden.errors import TesseraError
from tessera.golden.sparse_cycles import (
    POSTPROC_LATENCY,
    entries_from_coo,
    layer_cycles,
    matrix_cycles,
    writeback_cycles,
)


def stepped(entries, x, depth):
    """Simulate the array's compute phase cycle by cycle; return (cycles, busy, stall, sent).

    Cycle 0 takes the RUN; every unit decides from the state at the start of a cycle and
    updates at its end. Detector: holds one group of N activations, offers its lowest unsent
    non-zero, and reads the next group when the held one has nothing left after this cycle;
    a read group arrives in the register after the next cycle. Broadcast: when every queue
    held at most ``depth - 2`` pairs at the start of the previous cycle (registered "almost
    full" flags); a waiting cycle counts as a stall of each PE whose flag was set. PE: the
    pointer read stage takes a pair when it is empty or moves on; it moves into the span stage
    when that one is empty or frees (an empty column frees it at once, a non-empty one when
    the entry unit takes it, which happens when the unit has no entries left); one entry
    issues a cycle; an entry stays in the pipeline five more cycles.
    """
    n, cols = entries.shape
    groups = -(-cols // n)
    next_group, reading, held, pending = 0, None, False, []
    queues = [deque() for _ in range(n)]
    read = [None] * n        # column in the pointer read stage
    span = [None] * n        # column in the span stage
    remaining = [0] * n      # entries left to issue of the column in progress
    last_issue = [-10] * n
    busy = np.zeros(n, dtype=np.int64)
    stall = np.zeros(n, dtype=np.int64)
    sent = 0
    almost_full = [False] * n  # each queue's flag as registered at the end of the last cycle
    t = 0
    while True:
        t += 1
        if next_group >= groups and reading is None and not pending and all(
                not queues[k] and read[k] is None and span[k] is None and remaining[k] == 0
                and last_issue[k] < t - 5 for k in range(n)):
            return t, busy, stall, sent
        offer = held and bool(pending)
        go = not any(almost_full)
        take = offer and go
        free = reading is None and (not offer or (take and len(pending) == 1))
        fetch = next_group < groups and free
        if offer and not go:
            for k in range(n):
                stall[k] += almost_full[k]
        almost_full = [len(q) >= depth - 1 for q in queues]  # seen by the next cycle
        pops = []
        for k in range(n):
            e = entries[k, span[k]] if span[k] is not None else 0
            drop = span[k] is not None and e == 0
            offered = span[k] is not None and e > 0
            working = remaining[k] > 0
            if working or offered:
                busy[k] += 1
                last_issue[k] = t
                remaining[k] = remaining[k] - 1 if working else e - 1
            span_frees = span[k] is None or drop or (offered and not working)
            advance = read[k] is not None and span_frees
            if advance:
                span[k] = read[k]
            elif span_frees:
                span[k] = None
            if advance:
                read[k] = None
            pops.append(read[k] is None and bool(queues[k]))
        for k in range(n):
            if pops[k]:
                read[k] = queues[k].popleft()
        if take:
            for q in queues:
                q.append(pending[0])
            pending.pop(0)
            sent += 1
        if reading is not None:
            base = reading * n
            pending = [j for j in range(base, min(base + n, cols)) if x[j]]
            held, reading = True, None
        elif free:
            held = False
        if fetch:
            reading = next_group
            next_group += 1


def random_work(rng, n_pes, cols, density, max_entries=6):
    counts = rng.integers(0, max_entries + 1, (n_pes, cols))
    return counts * (rng.random((n_pes, cols)) < density)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 9), st.integers(0, 30), st.integers(2, 9),
       st.sampled_from([0.0, 0.2, 0.6, 1.0]), st.sampled_from([0.0, 0.3, 0.8, 1.0]),
       st.integers(0, 2**31))
def test_model_equals_a_cycle_by_cycle_simulation(n_pes, cols, depth, density, act, seed):
    rng = np.random.default_rng(seed)
    work = random_work(rng, n_pes, cols, density)
    x = rng.random(cols) < act
    model = layer_cycles(work, x, fifo_depth=depth, rows=10)
    cycles, busy, stall, sent = stepped(work, x, depth)
    assert (model.cycles, model.nonzeros) == (cycles, sent), (seed, work.tolist(), x.tolist())
    np.testing.assert_array_equal(model.busy, busy)
    np.testing.assert_array_equal(model.stall, stall)


def test_hand_counted_single_column():
    # RUN at 0; group 0 read at 1, in the detector's register at 3, broadcast at 3; popped at
    # 4; pointers at the read ports at 5, in the span register at 6, where the first of 3
    # entries issues (6, 7, 8); the last is added at 13, idle from 14.
    c = layer_cycles(np.array([[3]]), np.array([5]), fifo_depth=8, rows=1)
    assert (c.cycles, c.busy.tolist(), c.stall.tolist(), c.nonzeros) == (14, [3], [0], 1)
    assert c.load_balance == pytest.approx(3 / 14)
    # Three all-zero groups before it cost two cycles each.
    c = layer_cycles(np.array([[0, 0, 0, 3]]), np.array([0, 0, 0, 5]), fifo_depth=8, rows=1)
    assert c.cycles == 14 + 6
    # Nothing to do: the detector reads every group once, two cycles each.
    c = layer_cycles(np.zeros((2, 7), dtype=int), np.zeros(7, dtype=int), fifo_depth=2, rows=3)
    assert (c.cycles, c.nonzeros, c.busy.tolist()) == (1 + 2 * 4, 0, [0, 0])


def test_a_shallow_queue_stalls_the_broadcast_on_the_busy_pe():
    # PE 0 has ten long columns, PE 1 none. The broadcast waits mostly on PE 0; with depth 2 it
    # waits on PE 1 too whenever PE 1 still holds the pair sent in the cycle before (one pair
    # is "almost full" at depth 2): once per group of two, when its second non-zero comes.
    work = np.array([[6] * 10, [0] * 10])
    x = np.ones(10, dtype=np.int8)
    two, three, four, deep = (layer_cycles(work, x, fifo_depth=d, rows=2) for d in (2, 3, 4, 8))
    assert [c.stall.tolist() for c in (two, three, four, deep)] == [
        [23, 4], [17, 0], [11, 0], [0, 0]]
    # Each pair of depth takes 6 stalled cycles (one of PE 0's columns) off the broadcast.
    assert two.stall[0] - three.stall[0] == three.stall[0] - four.stall[0] == 6
    assert two.busy.tolist() == deep.busy.tolist() == [60, 0]
    # Back to back: PE 0 never waits for work once started, whatever the depth: 60 entries
    # issued from cycle 6 (see the single-column example), idle 6 cycles after the last.
    assert two.cycles == deep.cycles == 6 + 60 - 1 + 6


def test_hand_counted_registered_broadcast():
    # Two PEs, three dense columns, depth 2; PE 0 has 3 entries a column, PE 1 none; groups
    # {0, 1} and {2}. Pair 0 is offered and sent at 3 and read out of both queues at 4; pair 1
    # (same group) is sent at 4: the flags of cycle 3 saw empty queues. Pair 1 sits in both
    # queues in cycle 5 (read at 5), so both are almost full (1 = D - 1 pair) then. Pair 2 (the
    # next group, read at 5, in the detector at 6) is offered at 6, but `go` in cycle 6 comes
    # from cycle 5's flags: it waits one cycle, a stall on each PE, and goes at 7. PE 0 issues
    # at 6..8, 9..11, 12..14 and is idle from 20. A broadcast that looked at the queues in the
    # same cycle (the old rule) would send pair 2 at 6, with no stall.
    work = np.array([[3, 3, 3], [0, 0, 0]])
    c = layer_cycles(work, np.ones(3, dtype=np.int8), fifo_depth=2, rows=2)
    assert (c.cycles, c.stall.tolist(), c.busy.tolist()) == (20, [1, 1], [9, 0])
    assert stepped(work, np.ones(3, dtype=np.int8), 2)[2].tolist() == [1, 1]
    # With depth 3 a single pair in the queue leaves room for two: no wait.
    c = layer_cycles(work, np.ones(3, dtype=np.int8), fifo_depth=3, rows=2)
    assert (c.cycles, c.stall.tolist()) == (20, [0, 0])


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 8), st.integers(1, 40), st.integers(0, 2**31))
def test_deeper_queues_are_never_slower(n_pes, cols, seed):
    rng = np.random.default_rng(seed)
    work = random_work(rng, n_pes, cols, 0.7, max_entries=12)
    x = rng.random(cols) < 0.7
    cycles = [layer_cycles(work, x, fifo_depth=d, rows=1).cycles for d in (2, 3, 4, 8, 64)]
    assert cycles == sorted(cycles, reverse=True)


def test_work_accounting_matches_golden_spmv():
    rng = np.random.default_rng(3)
    w = (rng.random((37, 23)) < 0.3) * rng.integers(-5, 6, (37, 23))
    m = encode_values(w, n_pes=4, rel_bits=2)
    x = rng.integers(-3, 4, 23).astype(np.int8)
    c = matrix_cycles(m, x, fifo_depth=2)
    work = spmv(m, x)
    np.testing.assert_array_equal(c.busy, work.per_pe)
    assert c.entries == work.total and c.nonzeros == np.count_nonzero(x)
    assert 0 < c.load_balance <= 1
    np.testing.assert_array_equal(c.idle, c.cycles - c.busy)
    assert c.as_dict()["entries"] == work.total


def test_writeback():
    assert writeback_cycles(0, 4) == 1
    assert writeback_cycles(10, 4) == 10 + 3 + POSTPROC_LATENCY
    # One post-processor for the array: the rows leave one a cycle whether or not they are sent.
    assert writeback_cycles(10, 4, emit=False) == 10 + 3 + POSTPROC_LATENCY
    assert writeback_cycles(1, 64, emit=False) == 1 + 3 + POSTPROC_LATENCY


def test_postproc_latency_is_the_hardware_one():
    from tessera.hw.postproc import PostProcessor

    assert PostProcessor.LATENCY == POSTPROC_LATENCY


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 60), st.integers(1, 12), st.integers(1, 6), st.integers(1, 5),
       st.sampled_from([0.02, 0.1, 0.5, 1.0]), st.integers(0, 2**31))
def test_entries_from_coo_equals_the_encoding(rows, cols, n_pes, rel_bits, density, seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((rows, cols)) < density
    m = encode(mask.astype(np.int64), [0, 1], n_pes=n_pes, rel_bits=rel_bits)
    r, c = np.nonzero(mask)
    np.testing.assert_array_equal(entries_from_coo(r, c, (rows, cols), n_pes=n_pes,
                                                   rel_bits=rel_bits), m.entries)


def test_pack_entries():
    # EIE's example column: v = [1, 2, 0, 3], z = [2, 0, 15, 2]; fields v | z << 4, low first.
    words = pack_entries([1, 2, 0, 3], [2, 0, 15, 2], index_bits=4, rel_bits=4,
                         entries_per_word=8)
    assert words == [0x23F00221]
    # Fields of 4 bits, 3 to a word; wide words (16 x 16 bits) stay exact.
    assert pack_entries(np.array([1, 2, 3, 0]), np.array([2, 0, 1, 3]), index_bits=2,
                        rel_bits=2, entries_per_word=3) == [0x729, 0xC]
    v = np.arange(20) % 256
    wide = pack_entries(v, v, index_bits=8, rel_bits=8, entries_per_word=16)
    assert len(wide) == 2 and wide[0] >> 240 == (15 | 15 << 8)
    with pytest.raises(TesseraError, match="does not fit 2 bits"):
        pack_entries([4], [0], index_bits=2, rel_bits=2, entries_per_word=2)
    with pytest.raises(TesseraError, match="same length"):
        pack_entries([1, 2], [0], index_bits=4, rel_bits=4, entries_per_word=2)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: layer_cycles(np.ones((2, 3)), np.ones(3), fifo_depth=2, rows=1),
     "entries must be an integer array"),
    (lambda: layer_cycles(np.ones(3, dtype=int), np.ones(3), fifo_depth=2, rows=1),
     r"entries must have shape \(n_pes, cols\)"),
    (lambda: layer_cycles(-np.ones((2, 3), dtype=int), np.ones(3, dtype=int), fifo_depth=2,
                          rows=1), "^entries must hold values of at least 0, not -1$"),
    (lambda: layer_cycles(np.ones((2, 3), dtype=int), np.ones(4, dtype=int), fifo_depth=2,
                          rows=1), r"x must have shape \(3,\)"),
    (lambda: layer_cycles(np.ones((2, 3), dtype=int), np.ones(3), fifo_depth=2, rows=1),
     "^x must be an integer array, not float64$"),
    (lambda: layer_cycles(np.ones((2, 3), dtype=int), np.ones(3, dtype=int), fifo_depth=1,
                          rows=1), r"^fifo_depth must be between 2 and 65536, not 1$"),
    (lambda: entries_from_coo([5], [0], (3, 3), n_pes=2), "inside the shape"),
])
def test_bad_input(call, message):
    with pytest.raises(TesseraError, match=message):
        call()


def test_full_size_layer_is_fast_enough_to_be_useful():
    """A benchmark with a bound: `make bench` models nine VGG-6-sized layers at six queue depths
    (54 calls); at 10 s a call that would take nine minutes, so a model slower than 10 s for one
    4096 x 25088 layer is not useful (it takes about 1 s on one shared core). The counters obey
    the machine's physical bounds: one entry per PE per cycle, one broadcast per cycle."""
    import time

    from tessera.sim.bench.sparse import layer_work

    rng = np.random.default_rng(0)
    work, _ = layer_work(rng, 4096, 25088, 0.04, 64)
    x = rng.random(25088) < 0.183
    start = time.process_time()
    c = layer_cycles(work, x, fifo_depth=8, rows=4096)
    seconds = time.process_time() - start
    assert seconds < 10, f"the cycle model took {seconds:.1f} s of CPU for one full-size layer"
    assert c.nonzeros == x.sum() and c.entries == work[:, x].sum()
    assert c.cycles >= c.busy.max() and c.cycles >= c.nonzeros
    assert 0.85 < c.load_balance < 1
