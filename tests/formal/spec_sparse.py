"""Specs of the sparse engine's units (tessera.hw.sparse) and their broken variants.

Each ``*_spec(variant)`` returns an Elaboratable: the unit (or its broken subclass) with every
input free (``AnySeq``), assumptions about the environment, and the property. The proofs that
use them are listed in :mod:`tests.formal.proofs`.
"""

import itertools

import numpy as np
from amaranth import Array, Module, Signal, signed
from amaranth.asserts import AnySeq
from amaranth.hdl import Assert, Assume, Cover
from amaranth.utils import ceil_log2
from tessera.golden.sparse_cycles import layer_cycles, writeback_cycles
from tessera.hw.postproc import PostProcessor
from tessera.hw.sparse import SparseArray, SparseConfig
from tessera.hw.sparse.arith import ArithmeticUnit
from tessera.hw.sparse.detector import NonZeroDetector
from tessera.hw.sparse.pointer import PointerReadUnit
from tessera.hw.sparse.protocol import Error, Op, run_layout
from tessera.hw.sparse.queue import ActivationQueue
from tessera.hw.sparse.writeback import WriteBack

from . import harness as h

#: The smallest configuration that still has two PEs, two queue slots and two words of each
#: memory: every control path of the array exists, and the state stays small enough to solve.
TINY = SparseConfig(n_pes=2, fifo_depth=2, act_depth=2, spmat_depth=2, ptr_depth=4,
                    param_depth=2, entries_per_word=2)


# -- ActivationQueue ------------------------------------------------------------------------------

@h.breaks(ActivationQueue)
def _QueueReadsUnasked(self, m):
    """Broken: pops its head whenever it has one, whether or not ``o.ready`` takes it."""
    m.d.comb += m.submodules.fifo.r_en.eq(1)


@h.breaks(ActivationQueue)
def _QueueAcceptsWhenFull(self, m):
    """Broken: ``i.ready`` always high, so a pair written into a full queue is lost."""
    m.d.comb += self.i.ready.eq(1)


def _queue(m, variant, broken_cls, depth):
    """The queue (or its broken variant) with free inputs that follow the stream rules."""
    m.submodules.dut = dut = h.pick(variant, ActivationQueue, broken_cls)(depth=depth)
    h.drive(m, dut.i.valid, dut.i.payload, dut.o.ready)
    h.assume_stream(m, dut.i)
    return dut


@h.proof("queue_stream", "ActivationQueue(depth=4)", "prove", 4,
       covers="o keeps valid and payload until ready",
       broken="pops its head whether or not o.ready takes it")
def queue_stream_spec(variant, *, depth=4):
    m = Module()
    dut = _queue(m, variant, _QueueReadsUnasked, depth)
    h.check_stream(m, dut.o)
    return m


@h.proof("queue_conservation", "ActivationQueue(depth=4)", "prove", 4, fail_depth=8,
       kind="conservation", covers="pairs in = pairs out + level: nothing lost or duplicated",
       broken="i.ready always high: a pair written into a full queue is lost")
def queue_conservation_spec(variant, *, depth=4):
    """Pairs in = pairs out + pairs held, counted modulo 2**width."""
    m = Module()
    dut = _queue(m, variant, _QueueAcceptsWhenFull, depth)
    width = ceil_log2(depth + 1) + 1
    pushed = h.count(m, dut.i.valid & dut.i.ready, width, name="pushed")
    popped = h.count(m, dut.o.valid & dut.o.ready, width, name="popped")
    m.d.comb += Assert((pushed - popped)[:width] == dut.level)
    m.d.comb += Cover(dut.level == depth)
    return m


@h.breaks(ActivationQueue)
def _QueueFlagLate(self, m):
    """Broken: the almost-full flag is registered from last cycle's level, a cycle late."""
    m.d.sync += self.almost_full.eq(self.level >= self.depth - 1)


@h.proof("queue_almost_full", "ActivationQueue(depth=4)", "prove", 2, fail_depth=8,
       kind="conservation",
       covers="the registered almost_full is high exactly when the queue holds depth - 1 "
              "pairs or more, in every cycle",
       broken="the flag follows the level a cycle late")
def queue_almost_full_spec(variant, *, depth=4):
    """The registered flag the broadcast decides on is true to the level in every cycle."""
    m = Module()
    dut = _queue(m, variant, _QueueFlagLate, depth)
    m.d.comb += Assert(dut.almost_full == (dut.level >= depth - 1))
    return m


@h.proof("queue_full", "ActivationQueue(depth=4)", "cover", 8, kind="cover",
       covers="a full queue; a pair taken right after the queue was full",
       broken="pops unasked, so it never fills")
def queue_full_cover_spec(variant, *, depth=4):
    """A full queue is reachable, and so is a pair taken in the cycle after it was full."""
    m = Module()
    dut = _queue(m, variant, _QueueReadsUnasked, depth)
    was_full = h.past(m, dut.level == depth, name="was_full")
    m.d.comb += [
        Cover(dut.level == depth),
        Cover(was_full & dut.i.valid & dut.i.ready),
    ]
    return m


# -- NonZeroDetector ------------------------------------------------------------------------------

@h.breaks(NonZeroDetector)
def _DetectorTakesUnasked(self, m):
    """Broken: marks its offer sent whether or not ``o.ready`` took it."""
    m.d.comb += h.find(m, "take").eq(self.o.valid)


@h.proof("detector_stream", "NonZeroDetector(TINY)", "prove", 6, fail_depth=8,
       covers="o keeps valid and payload until ready (start only when idle)",
       broken="marks its offer sent without o.ready")
def detector_stream_spec(variant, *, config=TINY):
    m = Module()
    cls = h.pick(variant, NonZeroDetector, _DetectorTakesUnasked)
    m.submodules.dut = dut = cls(config)
    h.drive(m, dut.start, dut.cols, dut.lanes, dut.o.ready)
    # The array starts a layer only when the detector is idle (commands wait while one runs).
    m.d.comb += Assume(~dut.start | dut.idle)
    h.check_stream(m, dut.o)
    return m


@h.breaks(NonZeroDetector)
def _DetectorForgetsSent(self, m):
    """Broken: forgets which non-zeros of its group it sent, so it offers one again."""
    m.d.sync += h.find(m, "sent").eq(0)


@h.proof("detector_order", "NonZeroDetector(TINY)", "prove", 3, fail_depth=10,
       kind="conservation",
       covers="non-zeros leave once each, in increasing column order, below cols",
       broken="forgets which non-zeros it sent (one leaves twice)")
def detector_order_spec(variant, *, config=TINY):
    """Columns leave in strictly increasing order within a layer, each below ``cols``, and
    only non-zero values leave: no column is sent twice.

    Unbounded: besides the property, the spec asserts the invariants that make it inductive,
    which tie the spec's last column to the detector's group registers (each one holds from
    reset and is kept by every step that keeps the others).
    """
    m = Module()
    dut = h.pick(variant, NonZeroDetector, _DetectorForgetsSent)(config)
    m.submodules.dut = inner = h.elaborated(dut)
    h.drive(m, dut.start, dut.cols, dut.lanes, dut.o.ready)
    m.d.comb += Assume(~dut.start | dut.idle)
    cols = Signal.like(dut.cols, name="layer_cols")
    last = Signal(len(dut.cols) + 1, name="last_col")
    any_sent = Signal(name="any_sent")
    take = dut.o.valid & dut.o.ready
    with m.If(dut.start):
        m.d.sync += [cols.eq(dut.cols), any_sent.eq(0)]
    with m.Elif(take):
        m.d.sync += [last.eq(dut.o.payload.col), any_sent.eq(1)]
    with m.If(take):
        m.d.comb += Assert(dut.o.payload.col < cols)
        m.d.comb += Assert(dut.o.payload.value != 0)
        with m.If(any_sent):
            m.d.comb += Assert(dut.o.payload.col > last)
    # The invariants: the group being read and the group held lie past the last column sent,
    # below cols, one group apart; of the group held, only lanes past it are still pending.
    n = config.n_pes
    det = {name: h.find(inner, name) for name in (
        "cols", "next_base", "reading", "reading_base", "base", "held", "inside", "pending")}
    m.d.comb += [
        Assert(det["cols"] == cols),
        Assert(det["next_base"] < cols + n),
        Assert(~(det["held"] & det["reading"])),
        Assert(~any_sent | (last < det["next_base"])),
    ]
    with m.If(det["reading"]):
        m.d.comb += [Assert(det["reading_base"] + n == det["next_base"]),
                     Assert(det["reading_base"] < cols),
                     Assert(~any_sent | (last < det["reading_base"]))]
    with m.If(det["held"]):
        m.d.comb += Assert(det["base"] + n == det["next_base"])
        for k in range(n):
            with m.If(det["inside"][k]):
                m.d.comb += Assert(det["base"] + k < cols)
            with m.If(det["pending"][k] & any_sent):
                m.d.comb += Assert(det["base"] + k > last)
    return m


#: The longest the detector stays busy after ``start`` for a layer that fits TINY (at most
#: ``max_acts`` columns: two groups), its consumer fair (``o.ready`` low at most one cycle in a
#: row): per group its read, its register, and each of its non-zeros offered for at most two
#: cycles; the next group's read overlaps the last take of the one before, so one cycle less.
#: detector_progress proves it enough; test_formal checks that one cycle less is not.
DETECTOR_CYCLES = 2 * (2 + TINY.n_pes * 2) - 1


_DetectorRereadsGroups = h.frozen(NonZeroDetector, "next_base", (
    "Broken: a group whose non-zeros are all sent is read again instead of the next."))


@h.progress("detector_progress", "NonZeroDetector(TINY)", DETECTOR_CYCLES, broken=(
    "reads the same group again and again"), covers=(
    f"a layer of at most max_acts columns is sent and idle {DETECTOR_CYCLES} cycles after start, "
    "o.ready low at most one cycle in a row"))
def detector_progress_spec(variant, *, config=TINY, bound=DETECTOR_CYCLES):
    """The compute phase's first half: the detector sends every non-zero and falls idle
    within ``bound`` cycles (the PEs' pipelines are the second half, not proven)."""
    m = Module()
    dut = h.pick(variant, NonZeroDetector, _DetectorRereadsGroups)(config)
    m.submodules.dut = dut
    h.drive(m, dut.start, dut.cols, dut.lanes, dut.o.ready)
    m.d.comb += [Assume(~dut.start | dut.idle), Assume(~dut.start | (dut.cols <= config.max_acts))]
    h.fair_ready(m, dut.o, FAIR_WAIT)
    busy_for = h.busy_for(m, ~dut.idle, bound)
    with m.If(~dut.idle):
        m.d.comb += [Assert(busy_for < bound), Cover(busy_for == bound - 1)]
    return m


# -- PointerReadUnit ------------------------------------------------------------------------------

@h.breaks(PointerReadUnit)
def _PointerOverwritesSpan(self, m):
    """Broken: the read stage moves on whether or not the span stage is free."""
    m.d.comb += h.find(m, "advance").eq(h.find(m, "read_valid"))


@h.proof("pointer_stream", "PointerReadUnit(TINY)", "prove", 4, fail_depth=8,
       covers="o keeps valid and payload until ready, for any pointer writes",
       broken="the read stage overwrites a stalled span")
def pointer_stream_spec(variant, *, config=TINY):
    m = Module()
    cls = h.pick(variant, PointerReadUnit, _PointerOverwritesSpan)
    m.submodules.dut = dut = cls(config)
    h.drive(m, dut.w_en, dut.w_addr, dut.w_data, dut.base, dut.i.valid, dut.i.payload,
          dut.o.ready)
    h.assume_stream(m, dut.i)
    h.check_stream(m, dut.o)
    return m


# -- WriteBack ------------------------------------------------------------------------------------

@h.breaks(WriteBack)
def _WriteBackIgnoresReady(self, m):
    """Broken: the post-processor's output is taken even when ``o`` is stalled."""
    m.d.comb += m.submodules.postproc.o.ready.eq(1)


@h.proof("writeback_stream", "WriteBack(TINY)", "prove", 10, fail_depth=16,
       covers="o keeps valid and payload until ready (layer fields change only at a start, "
              "which waits for o to be taken)",
       broken="the post-processor's output is taken while o is stalled")
def writeback_stream_spec(variant, *, config=TINY):
    m = Module()
    cls = h.pick(variant, WriteBack, _WriteBackIgnoresReady)
    m.submodules.dut = dut = cls(config)
    h.drive(m, dut.w_en, dut.w_addr, dut.w_data, dut.start, dut.active, *dut.acc_data,
          dut.o.ready)
    # The layer's fields are a register of the array, written only when a layer starts, and a
    # layer starts only when the last one's outputs are all taken (the array is idle).
    m.d.comb += Assume(~dut.start | ~dut.o.valid)
    layer = Signal.like(dut.layer, name="layer")
    with m.If(dut.start):
        m.d.sync += layer.eq(AnySeq(len(layer.as_value())))
    m.d.comb += dut.layer.eq(layer)
    h.check_stream(m, dut.o)
    return m


#: The longest the array's write-back runs (``active`` high, not ``done``) for a layer that
#: fits TINY (at most ``max_acts`` rows, all through the one post-processor), ``o.ready`` low
#: at most one cycle in a row: the first row's read, register and post-processor, then each
#: row leaving in at most two cycles. writeback_progress proves it enough; test_formal checks
#: that one cycle less is not.
WRITEBACK_CYCLES = 2 + PostProcessor.LATENCY + TINY.max_acts * 2


_WriteBackLosesRow = h.frozen(WriteBack, "out_global", (
    "Broken: the post-processor's output is never counted out, so write-back never ends."))


@h.progress("writeback_progress", "WriteBack(TINY)", WRITEBACK_CYCLES,
            covers=f"a layer that fits (at most max_acts rows) is written back (done) within "
                   f"{WRITEBACK_CYCLES} active cycles, o.ready low at most one cycle in a row",
            broken="outputs are not counted out (done never comes)")
def writeback_progress_spec(variant, *, config=TINY, bound=WRITEBACK_CYCLES):
    """The write-back phase ends within ``bound`` cycles. The array's protocol is
    assumed: a layer starts (its fields set) while write-back is inactive and nothing waits on
    ``o``; then ``active`` rises and stays high until ``done``."""
    m = Module()
    dut = h.pick(variant, WriteBack, _WriteBackLosesRow)(config)
    m.submodules.dut = inner = h.elaborated(dut)
    h.drive(m, dut.w_en, dut.w_addr, dut.w_data, dut.start, dut.active, *dut.acc_data,
            dut.o.ready)
    layer = Signal.like(dut.layer, name="layer")
    with m.If(dut.start):
        m.d.sync += layer.eq(AnySeq(len(layer.as_value())))
    m.d.comb += dut.layer.eq(layer)
    running = ~dut.done & dut.active
    m.d.comb += [
        Assume(~dut.start | (~dut.o.valid & ~dut.active)),
        Assume(layer.rows <= config.max_acts),
        Assume(~h.past(m, running, name="was_running") | dut.active),
    ]
    h.fair_ready(m, dut.o, FAIR_WAIT)
    busy_for = h.busy_for(m, running, bound)
    with m.If(running):
        m.d.comb += [Assert(busy_for < bound), Cover(busy_for == bound - 1)]
    # The invariants: the row counters agree with their global rows (row i is local row
    # i // N of PE i % N), and the rows read but not yet out are exactly those in the read
    # ports, the registers and the post-processor.
    n = config.n_pes
    wb = {name: h.find(inner, name) for name in (
        "rd_pe", "rd_local", "rd_global", "out_pe", "out_local", "out_global", "held",
        "staged")}
    postproc = inner.submodules.postproc
    stages = h.find(h.elaborated_inside(inner, "postproc"), "valid")
    in_flight = (wb["held"] + wb["staged"] + sum(stages[k] for k in range(len(stages)))
                 + postproc.o.valid)
    m.d.comb += [
        Assert(wb["rd_pe"] < n),
        Assert(wb["out_pe"] < n),
        Assert(wb["rd_global"] == wb["rd_local"] * n + wb["rd_pe"]),
        Assert(wb["out_global"] == wb["out_local"] * n + wb["out_pe"]),
        Assert(wb["rd_global"] - wb["out_global"] == in_flight),
        Assert(wb["rd_global"] <= layer.rows),
    ]
    return m


# -- ArithmeticUnit: forwarding against a model that stalls instead ---------------------------

@h.breaks(ArithmeticUnit)
def _ArithForgetsOlderBypass(self, m):
    """Broken: the bypass of the sum written two cycles ago is gone (the stale read wins)."""
    m.d.sync += h.find(m, "fwd2_valid").eq(0)


#: TINY with two-bit codebook weights: the products stay small for the solver; the forwarding
#: logic does not depend on their width.
TINY_ARITH = SparseConfig(**{**TINY.params(), "weight_width": 2})


@h.proof("arith_forwarding", "ArithmeticUnit(TINY_ARITH)", "bmc", 10, kind="hazard",
       covers="accumulators written back = a model that applies each entry at once "
              "(any codes, rows and hazards)",
       broken="the two-cycle bypass is gone (the stale read wins)",
       why_bounded="the accumulators are a memory whose rows Amaranth 0.5 cannot name in a "
                   "property (rows are simulator-only), so no invariant can tie them to the "
                   "model, which induction needs")
def arith_forwarding_spec(variant, *, config=TINY_ARITH):
    """The accumulators the unit writes back equal a model that applies every entry at once.

    The model is the unit without a pipeline: ``model[row] += weight * value`` in the cycle the
    entry arrives, as a unit that stalled on every hazard would compute. Write-back reads a row
    and clears it (in the model too). Any codes, rows and entry sequences.
    """
    m = Module()
    cls = h.pick(variant, ArithmeticUnit, _ArithForgetsOlderBypass)
    m.submodules.dut = dut = cls(config)
    h.drive(m, dut.i.valid, dut.i.payload, dut.wb_en, dut.wb_addr)
    depth = config.act_depth
    model = [Signal(signed(32), name=f"model{r}") for r in range(depth)]
    p = dut.i.payload
    # The unit's contract: entries only after the post-reset sweep, write-back only when idle,
    # never both in one cycle, and rows inside the file.
    m.d.comb += [
        Assume(~dut.i.valid | dut.ready),
        Assume(~dut.wb_en | (dut.ready & dut.idle & ~dut.i.valid)),
        Assume(~(dut.i.valid & p.write) | (p.row < depth)),
        Assume(dut.wb_addr < depth),
    ]
    for r in range(depth):
        with m.If(dut.wb_en & (dut.wb_addr == r)):
            m.d.sync += model[r].eq(0)
        with m.Elif(dut.i.valid & p.write & (p.row == r)):
            m.d.sync += model[r].eq(model[r] + p.weight * p.value)
    # Write-back's read lands one cycle after wb_en: compare it with the model at the read.
    at_read = Signal(signed(32), name="model_at_read")
    m.d.comb += at_read.eq(Array(model)[dut.wb_addr])
    expected = h.past(m, at_read, name="expected")
    with m.If(h.past(m, dut.wb_en, name="read")):
        m.d.comb += Assert(dut.wb_data == expected.as_signed())
    m.d.comb += Cover(h.past(m, dut.wb_en) & (dut.wb_data != 0))
    return m


# -- SparseArray ----------------------------------------------------------------------------------

@h.breaks(SparseArray)
def _ArrayBroadcastSkipsLastPE(self, m):
    """Broken: the last PE's queue is never offered the broadcast."""
    m.d.comb += m.submodules[f"pe{self.config.n_pes - 1}"].q.valid.eq(0)


@h.breaks(SparseArray)
def _ArraySkipsNothing(self, m):
    """Broken: a RUN that does not fit the memories starts all the same (no RUN error)."""
    m.d.comb += h.find(m, "run_ok").eq(1)


@h.breaks(SparseArray)
def _ArrayWaitsForever(self, m):
    """Broken: write-back waits for one more PE than there is (a layer never ends)."""
    state = h.find(m, "state")
    with m.If(state == 3):  # WRITEBACK: never leaves
        m.d.sync += state.eq(3)


def _array(m, variant, broken_cls, config):
    cls = h.pick(variant, SparseArray, broken_cls)
    dut = cls(**config.params())
    m.submodules.dut = inner = h.elaborated(dut)
    h.drive(m, dut.i.valid, dut.i.payload, dut.o.ready)
    h.assume_stream(m, dut.i)
    return dut, inner


@h.proof("array_broadcast", "SparseArray(TINY)", "prove", 2, fail_depth=10,
       kind="conservation",
       covers="every non-zero sent enters every PE's queue exactly once: the registered "
              "broadcast never meets a full queue",
       broken="the last PE's queue is never offered the broadcast")
def array_broadcast_spec(variant, *, config=TINY):
    """Every non-zero the detector sends enters every PE's queue exactly once.

    Unbounded: the spec also asserts the invariants that make it inductive: each queue's
    registered almost-full flag is true to its level, and while the broadcast's ``go`` is high
    no queue is full (``go`` saw every queue with room for two in the cycle before, and at most
    one pair was sent since).
    """
    m = Module()
    _dut, inner = _array(m, variant, _ArrayBroadcastSkipsLastPE, config)
    det = inner.submodules.detector
    go = h.find(h.elaborated_inside(inner, "broadcast"), "go")
    width = 4
    sent = h.count(m, det.o.valid & det.o.ready, width, name="sent")
    for k in range(config.n_pes):
        q = inner.submodules[f"pe{k}"].q
        queue = h.elaborated_inside(inner, f"pe{k}").submodules.queue
        got = h.count(m, q.valid & q.ready, width, name=f"queued{k}")
        m.d.comb += [
            Assert(got == sent),
            Assert(queue.almost_full == (queue.level >= config.fifo_depth - 1)),
            Assert(~go | (queue.level < config.fifo_depth)),
        ]
    return m


@h.proof("array_stream", "SparseArray(TINY)", "bmc", 18, slow=True,
       covers="o keeps valid and payload until ready (STATS words and a layer's first outputs)",
       broken="write-back's output is taken whether or not o takes it",
       why_bounded="induction stops at states where a PE counts its write-back done while an "
                   "output still waits, unreachable but excluded only by invariants inside "
                   "every PE; 18 steps reach the first output of a layer stalled")
def array_stream_spec(variant, *, config=TINY):
    """The array's ``o`` follows the valid/ready rule (outputs and STATS words)."""
    m = Module()
    dut, _inner = _array(m, variant, _ArrayWritesBackUnasked, config)
    h.check_stream(m, dut.o)
    return m


@h.breaks(SparseArray)
def _ArrayWritesBackUnasked(self, m):
    """Broken: write-back's output is taken whether or not ``o`` takes it."""
    m.d.comb += m.submodules.writeback.o.ready.eq(h.find(m, "state") == 3)


@h.proof("array_errors", "SparseArray(TINY)", "prove", 2, fail_depth=6, kind="progress",
       covers="a bad write or RUN sets its sticky bit, is skipped, and the array stays ready; "
              "error bits stay set until STATS",
       broken="a RUN that does not fit starts all the same")
def array_errors_spec(variant, *, config=TINY):
    """A bad command raises its sticky error bit, is skipped, and the next one is taken.

    After a configuration write past its memory, or a RUN that does not fit: the error bit is
    set in the next cycle, the array is still ready (nothing started), and error bits, once set,
    stay set until a STATS readout ends.
    """
    m = Module()
    dut, inner = _array(m, variant, _ArraySkipsNothing, config)
    accept = dut.i.valid & dut.i.ready
    cmd = dut.i.payload
    bad_config, bad_run = _bad_commands(m, config, accept, cmd)
    after_bad_config = h.past(m, bad_config, name="after_bad_config")
    after_bad_run = h.past(m, bad_run, name="after_bad_run")
    with m.If(after_bad_config):
        m.d.comb += [Assert(dut.error[0]), Assert(dut.i.ready)]
    with m.If(after_bad_run):
        m.d.comb += [Assert(dut.error[1]), Assert(dut.i.ready)]
    stats_end = h.past(m, h.find(inner, "clear_errors"), name="stats_end")
    before = h.past(m, dut.error, name="error_before")
    with m.If(~stats_end):
        m.d.comb += Assert((before & ~dut.error) == 0)
    return m


def _bad_commands(m, config, accept, cmd):
    """The spec's own reading of the command table (tessera.hw.sparse.protocol): a write past
    its memory or to a PE that does not exist, and a RUN that does not fit the memories."""
    n = config.n_pes
    limits = {Op.CODEBOOK: 2**config.index_bits, Op.POINTERS: (config.ptr_depth + 1) // 2,
              Op.SPMAT: config.spmat_depth, Op.PARAMS: config.param_depth,
              Op.ACT: config.act_depth}
    bad_config = Signal(name="bad_config")
    bad_run = Signal(name="bad_run")
    for op, limit in limits.items():
        targets = config.lane_groups if op == Op.ACT else n
        with m.If(accept & (cmd.op == op)):
            wrong_pe = 0 if op == Op.CODEBOOK else cmd.pe >= targets
            m.d.comb += bad_config.eq((cmd.addr >= limit) | wrong_pe)
    run = run_layout(cmd.data[:run_layout.size])
    fits = ((cmd.addr <= config.max_acts) & (run.rows <= config.max_acts)
            & (run.ptr_base + cmd.addr < config.ptr_depth)
            & (run.param_base * n + run.rows <= config.param_depth * n))
    m.d.comb += bad_run.eq(accept & (cmd.op == Op.RUN) & ~fits)
    return bad_config, bad_run


@h.proof("array_cover", "SparseArray(TINY)", "cover", 17, kind="cover", slow=True,
       covers="each error bit; a layer that ends",
       broken="write-back never ends")
def array_cover_spec(variant, *, config=TINY):
    """Each error bit and the end of a layer are reachable. (A full queue inside the array
    needs three non-zeros broadcast to a PE busy with a long column: about 30 steps of
    set-up and compute, minutes of solving; queue_full covers the queue on its own.)"""
    m = Module()
    dut, inner = _array(m, variant, _ArrayWaitsForever, config)
    state = h.find(inner, "state")
    for bit in Error:
        m.d.comb += Cover(dut.error[bit.bit_length() - 1])
    was_writeback = h.past(m, state == 3, name="was_writeback")
    m.d.comb += Cover(was_writeback & (state == 1))
    return m


#: The fair environment of the progress proofs: ``o.ready`` is never low for more than this
#: many cycles in a row.
FAIR_WAIT = 1
#: STATS words of TINY: cycles, write-back cycles, errors, non-zeros, then busy and stall per PE.
STATS_WORDS = 4 + 2 * TINY.n_pes
#: The longest any command but a RUN keeps the array busy, in the fair environment: a STATS
#: readout, each word waiting at most FAIR_WAIT cycles for o.ready (configuration writes, bad
#: RUNs and NOPs keep it ready: array_errors). The post-reset sweep (act_depth cycles) is
#: shorter. array_progress proves it enough; test_formal checks that one cycle less is not.
PROGRESS_CYCLES = STATS_WORDS * (FAIR_WAIT + 1)


@h.breaks(SparseArray)
def _ArrayStatsNeverEnds(self, m):
    """Broken: the STATS readout never returns to IDLE (the word counter wraps)."""
    state = h.find(m, "state")
    with m.If(state == 4):  # STATS
        m.d.sync += state.eq(4)


@h.proof("array_progress", "SparseArray(TINY)", "bmc", PROGRESS_CYCLES + 8, kind="progress",
       covers=f"any command but a RUN that starts a layer is done within {PROGRESS_CYCLES} "
              f"cycles (a STATS readout) with o.ready low at most {FAIR_WAIT} cycle in a row; "
              "the array then takes the next command",
       broken="the STATS readout never returns to IDLE",
       why_bounded="induction needs the PEs' post-reset sweep counters, inside units the array "
                   "instantiates as components; the depth covers the sweep and a whole STATS "
                   "readout that starts right after it")
def array_progress_spec(variant, *, config=TINY, bound=PROGRESS_CYCLES, runs=False):
    """``busy`` (``i.ready`` low) never lasts more than ``bound`` cycles, for any commands
    but a RUN that starts a layer (array_layer_progress bounds those), in a fair
    environment."""
    m = Module()
    dut, inner = _array(m, variant, _ArrayStatsNeverEnds, config)
    h.fair_ready(m, dut.o, FAIR_WAIT)
    if not runs:
        m.d.comb += Assume(~h.find(inner, "start"))
    busy_for = h.busy_for(m, dut.busy, bound)
    with m.If(dut.busy):
        m.d.comb += [Assert(busy_for < bound), Cover(busy_for == bound - 1)]
    return m


# -- SparseArray: a whole layer -------------------------------------------------------------------

def _column_entries(config, cols):
    """Every entries vector one PE's pointers can give a layer of ``cols`` columns: column
    ``j`` spans ``p[q] .. p[q + 1]`` (``q = ptr_base + j``), its entries ``p[q + 1] - p[q]``
    when ``p[q] < p[q + 1] <= capacity``; an empty or bad span is dropped in one cycle, as an
    empty column (hw/sparse/pointer.py). Pointers above the capacity all act alike, so
    ``0 .. capacity + 1`` covers every pointer value."""
    vectors = set()
    for p in itertools.product(range(config.capacity + 2), repeat=cols + 1):
        vectors.add(tuple(b - a if a < b <= config.capacity else 0
                          for a, b in itertools.pairwise(p)))
    return sorted(vectors)


def run_worst_case(config, *, wait):
    """The longest a RUN that starts a layer keeps the array busy, in cycles, from the golden
    cycle model (tessera.golden.sparse_cycles): the worst compute phase over every layer that
    fits ``config`` (every ``cols`` the RUN check admits, every pointer contents of every PE,
    every non-zero pattern of the activations), plus the longest write-back: ``max_acts`` rows
    sent on ``o`` (a write-back that sends nothing is shorter), each waiting at most ``wait``
    cycles for ``o.ready``. Compute and write-back are independent (rows do not change the
    compute phase, nor columns the write-back), so their worst cases add.

    Returns (cycles, compute, writeback, the worst layer as (entries, x))."""
    n = config.n_pes
    worst = (0, None)
    # The RUN check: cols <= max_acts and ptr_base + cols < ptr_depth.
    for cols in range(min(config.max_acts, config.ptr_depth - 1) + 1):
        vectors = _column_entries(config, cols)
        # The model treats the PEs alike (each its own pipeline; the broadcast waits on any
        # of them), so one order of each choice of per-PE vectors is enough.
        for per_pe in itertools.combinations_with_replacement(vectors, n):
            entries = np.array(per_pe, dtype=np.int64).reshape(n, cols)
            for x in itertools.product((0, 1), repeat=cols):
                x = np.array(x, dtype=np.int64)
                compute = layer_cycles(entries, x, fifo_depth=config.fifo_depth, rows=0).cycles
                if compute > worst[0]:
                    worst = (compute, (entries, x))
    rows = config.max_acts
    writeback = writeback_cycles(rows, n) + rows * wait
    return worst[0] + writeback, worst[0], writeback, worst[1]


#: The longest a RUN keeps TINY busy, o.ready low at most FAIR_WAIT cycles in a row: the
#: golden model's worst compute phase (19 cycles: three columns, the last with four entries
#: for one PE) and write-back (4 rows sent: 4 + 10 cycles, and one cycle of wait each).
RUN_CYCLES, RUN_COMPUTE, RUN_WRITEBACK, RUN_WORST_LAYER = run_worst_case(TINY, wait=FAIR_WAIT)
#: Memories the RUN proof starts with any contents: whatever configuration and ACT commands
#: could have written (pointers, matrix words, codebook, parameters, both activation buffers).
#: The activation queue's storage and the accumulators keep their reset contents.
RUN_FREE_MEMORIES = ("even", "odd", "words", "table", "params", "buffers")


@h.proof("array_run_progress", "SparseArray(TINY)", "bmc", RUN_CYCLES + 6, kind="progress",
         slow=True, free_memories=RUN_FREE_MEMORIES,
         covers=f"any command, a RUN that starts a layer included (any pointers, codes and "
                f"activations), is done within {RUN_CYCLES} cycles with o.ready low at most "
                f"{FAIR_WAIT} cycle in a row (the golden model's worst TINY layer: "
                f"{RUN_COMPUTE} of compute, {RUN_WRITEBACK} of write-back); the array is then "
                "idle and takes the next command",
         broken="write-back waits for one more PE than there is (a layer never ends)",
         why_bounded="the layer runs through every PE's queue, pointer, matrix and arithmetic "
                     "pipelines, whose invariants were not written (array_progress's reason, "
                     "and more); the memories start free, so any layer can start in the first "
                     "idle cycle after the post-reset sweep, and the depth covers the sweep, "
                     "the RUN and the whole worst layer")
def array_run_progress_spec(variant, *, config=TINY, bound=RUN_CYCLES):
    """``busy`` never lasts more than ``bound`` cycles, for any commands (a RUN that starts a
    layer included), in a fair environment. The memories start with any contents
    (RUN_FREE_MEMORIES), so the layer is any that fits."""
    m = Module()
    dut, _inner = _array(m, variant, _ArrayWaitsForever, config)
    h.fair_ready(m, dut.o, FAIR_WAIT)
    busy_for = h.busy_for(m, dut.busy, bound)
    with m.If(dut.busy):
        m.d.comb += [Assert(busy_for < bound), Cover(busy_for == bound - 1)]
    return m
