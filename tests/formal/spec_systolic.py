"""Specs of the systolic engine's units (tessera.hw.systolic) and their broken variants."""

from amaranth import Module, Signal
from amaranth.hdl import Assert, Assume, Cover
from tessera.hw.systolic import top
from tessera.hw.systolic.buffer import OperandBuffer
from tessera.hw.systolic.sequencer import WSSequencer
from tessera.hw.systolic.top import SystolicGemm

from . import harness as h

__all__ = [
    "buffer_conservation_spec", "gemm_bank_spec", "gemm_progress_spec", "gemm_stream_spec",
    "gemm_weights_spec",
]


#: Why the engine's proofs are bounded.
_GEMM = ("the engine's state (three operand memories, the accumulator bank, the array's "
         "pipelines) is too large for induction to close in minutes; the depth covers a whole "
         "GEMM of the small configuration")


@h.breaks(OperandBuffer)
def _BufferCountsUnwritten(self, m):
    """Broken: ``count`` also moves on a word offered while the buffer is full (not stored)."""
    with m.If(~self.clear & self.w.valid & ~self.w.ready):
        m.d.sync += self.count.eq(self.count + 1)


@h.proof("buffer_conservation", "OperandBuffer(depth=4)", "prove", 3, fail_depth=8,
       kind="conservation",
       covers="count = words accepted since clear, at most depth: nothing lost or doubled",
       broken="count moves on for a word offered to a full buffer (not stored)")
def buffer_conservation_spec(variant, *, depth=4):
    """``count`` = words accepted since ``clear``, never above ``limit`` or ``depth``."""
    m = Module()
    dut = h.pick(variant, OperandBuffer, _BufferCountsUnwritten)(shape=4, depth=depth)
    m.submodules.dut = h.elaborated(dut)
    h.drive(m, dut.w.valid, dut.w.payload, dut.clear, dut.limit, dut.raddr, dut.ren)
    h.assume_stream(m, dut.w)
    # The engine sets limit at a command and only raises it during the load, up to depth.
    m.d.comb += Assume(dut.limit <= depth)
    accepted = h.count(m, dut.w.valid & dut.w.ready & ~dut.clear, 8, name="accepted")
    with m.If(dut.clear):
        m.d.sync += accepted.eq(0)
    m.d.comb += [
        Assert(dut.count == accepted),
        Assert(dut.count <= depth),
        Cover(dut.count == depth),
    ]
    return m


# -- SystolicGemm (weight-stationary) -------------------------------------------------------------

#: A small weight-stationary engine: two rows, two columns, GEMMs up to 2 x 2 x 2, one row per
#: bank half (so M = 2 swaps halves and reloads the weights): every tile switch, bank swap and
#: edge of the schedule exists.
TINY = dict(rows=2, cols=2, dataflow="ws", acc_width=17, max_m=2, max_k=2, max_n=2,
            acc_depth=1)
#: TINY with three rows: a swap's token needs two cycles to reach the last row, so a shift that
#: follows too early is a real hazard (with two rows the schedule's slack hides it), and K = 2
#: leaves a row of zeros in every weight tile.
TINY3 = {**TINY, "rows": 3}
#: TINY with N up to 3: two N-tiles, so a GEMM of M = 2 has four groups and comes back to a
#: bank half it used before (with two groups no half is reused within a GEMM).
TINY_N3 = {**TINY, "max_n": 3}
#: The longest GEMM of TINY with streams that never wait: tessera.golden.systolic.gemm_cycles
#: over every shape and raw (30 edges from the command to the last result, of which 4 are the
#: PE's pipeline, golden.mac.PE_LATENCY, and 7 the post-processor's; 31 with a 1-lane output
#: path).
TINY_CYCLES = 30


@h.breaks(SystolicGemm)
def _GemmIgnoresRelease(self, m):
    """Broken: the sequencer is told both bank halves are always free (the drain's release
    is ignored), so it writes a half the drain has not read yet."""
    m.d.comb += m.submodules.sequencer.release.eq(0b11)


@h.breaks(WSSequencer)
def _SequencerLoadsEarly(self, m):
    """Broken: the next tile starts shifting in right after a swap, before the swap's token
    has reached the last row."""
    m.d.sync += h.find(m, "swap_wait").eq(0)


class _GemmLoadsEarly(SystolicGemm):
    """Broken: built with :class:`_SequencerLoadsEarly`."""

    def elaborate(self, platform):
        saved = top.WSSequencer
        top.WSSequencer = _SequencerLoadsEarly
        try:
            return super().elaborate(platform)
        finally:
            top.WSSequencer = saved


@h.breaks(SystolicGemm)
def _GemmIgnoresStall(self, m):
    """Broken: the post-processor's output moves on whether or not ``o`` took it."""
    m.d.comb += m.submodules.postproc.o.ready.eq(1)


@h.breaks(SystolicGemm)
def _GemmLosesCount(self, m):
    """Broken: results handed over are not subtracted from the in-flight count, so the end
    condition (one result left) never comes for a GEMM of more than one result."""
    in_flight = h.find(m, "in_flight")
    m.d.sync += in_flight.eq(in_flight + m.submodules.drain.issue)


def _gemm(m, variant, broken_cls, params):
    dut = h.pick(variant, SystolicGemm, broken_cls)(**params)
    m.submodules.dut = inner = h.elaborated(dut)
    h.drive(m, dut.cmd.valid, dut.cmd.payload, dut.a.valid, dut.a.payload, dut.b.valid,
          dut.b.payload, dut.q.valid, dut.q.payload, dut.o.ready)
    for name in ("cmd", "a", "b", "q"):
        h.assume_stream(m, getattr(dut, name), name=name)
    return dut, inner


@h.proof("gemm_stream", "SystolicGemm(TINY)", "bmc", 28, why_bounded=_GEMM,
       covers="o and the drain's o keep valid and payload until ready (any commands, any "
              "o.ready, operands always valid)",
       broken="the post-processor's output moves on while o is stalled")
def gemm_stream_spec(variant, *, params=TINY):
    """The engine's ``o``, and inside it the drain's ``o`` (the post-processor's input), for
    any commands and any ``o.ready``; the operand streams always valid (the solver's time
    grows fast with free ones, and the stall logic under test is on the result side)."""
    m = Module()
    dut, inner = _gemm(m, variant, _GemmIgnoresStall, params)
    m.d.comb += [Assume(dut.a.valid), Assume(dut.b.valid), Assume(dut.q.valid)]
    h.check_stream(m, dut.o)
    h.check_stream(m, inner.submodules.drain.o, name="drain")
    return m


#: TINY, output-stationary (no accumulator bank: the array holds the sums).
TINY_OS = {**TINY, "dataflow": "os", "acc_depth": None}


@h.proof("gemm_os_stream", "SystolicGemm(TINY_OS)", "bmc", 30, why_bounded=_GEMM,
         covers="the output-stationary engine's o and its drain's o keep valid and payload "
                "until ready (any commands and o.ready, operands always valid)",
         broken="the post-processor's output moves on while o is stalled")
def gemm_os_stream_spec(variant):
    return gemm_stream_spec(variant, params=TINY_OS)


@h.proof("gemm_bank", "SystolicGemm(TINY_N3)", "bmc", 26, kind="hazard", why_bounded=_GEMM,
       covers="the drain never reads a bank entry while it is being written",
       broken="the drain's release is ignored (both halves always free)")
def gemm_bank_spec(variant, *, params=TINY_N3):
    """The drain never reads a bank entry while it is being written.

    An entry presented to the bank in cycle ``c`` is written into column ``j`` in cycle
    ``c + j + 2`` (the bank's read-modify-write, weight-stationary): from ``c`` to
    ``c + cols + 1`` it is being written. (The drain reads a group's rows while its last
    K-tile writes the later ones; with TINY_N3's one row per half, an entry is a half.)
    """
    m = Module()
    _dut, inner = _gemm(m, variant, _GemmIgnoresRelease, params)
    bank = inner.submodules.bank
    half = bank.depth // 2
    pending = [(bank.valid, bank.addr)]
    for step in range(bank.cols + 1):
        valid, addr = pending[-1]
        pending.append((h.past(m, valid, name=f"w_valid{step}"),
                        h.past(m, addr, name=f"w_addr{step}")))
    for valid, addr in pending:
        with m.If(bank.ren & valid):
            m.d.comb += Assert(addr != bank.raddr)
    m.d.comb += Cover(bank.ren & (bank.raddr >= half))
    return m


@h.proof("gemm_weights", "SystolicGemm(TINY3)", "bmc", 20, kind="hazard", why_bounded=_GEMM,
       covers="the weight double buffer swaps only a whole tile, and no shift follows a swap "
              "until its token has reached the last row",
       broken="the next tile shifts in right after a swap")
def gemm_weights_spec(variant, *, params=TINY3):
    """The weight double buffer never swaps while in use.

    At the array's ports (:class:`WSArray`): a ``first`` token (the swap) comes after exactly
    ``rows`` shifts since the previous one (the shadow holds one whole tile), and no shift
    follows it for ``rows - 1`` cycles (until the token has reached the last row, every cell
    of a column has copied its shadow).
    """
    m = Module()
    _dut, inner = _gemm(m, variant, _GemmLoadsEarly, params)
    array = inner.submodules.array
    rows = array.rows
    shifts = Signal(range(rows + 2), name="shifts_since_swap")
    since = Signal(range(rows + 1), name="cycles_since_swap", init=rows)
    with m.If(array.first):
        m.d.sync += [shifts.eq(array.shift), since.eq(1)]
    with m.Else():
        with m.If(array.shift & (shifts <= rows)):
            m.d.sync += shifts.eq(shifts + 1)
        with m.If(since < rows):
            m.d.sync += since.eq(since + 1)
    with m.If(array.first):
        m.d.comb += Assert(shifts == rows)
    with m.If(array.shift):
        m.d.comb += Assert(~array.first | (rows == 1))
        m.d.comb += Assert(since >= rows - 1)
    m.d.comb += Cover(h.past(m, array.first) & h.past(m, array.first, name="first2") == 0)
    return m


@h.proof("gemm_progress", "SystolicGemm(TINY)", "bmc", 35, kind="progress", why_bounded=_GEMM,
       covers="any command, bad ones too, ends within the golden model's longest GEMM "
              "(30 cycles), streams never waiting",
       broken="results handed over are not counted out (busy never falls)")
def gemm_progress_spec(variant, *, params=TINY, bound=TINY_CYCLES):
    """Every command ends within ``bound`` cycles: ``busy`` falls, whatever the command holds.

    The environment is the fair one at its simplest: the operand streams always valid, the
    result stream always ready, and any command (dimensions of 0 or above the maximum too).
    ``bound`` is the golden cycle model's longest GEMM, so the proof also says that no
    command takes longer than the model predicts for the largest one.
    """
    m = Module()
    dut, _inner = _gemm(m, variant, _GemmLosesCount, params)
    m.d.comb += [Assume(dut.a.valid), Assume(dut.b.valid), Assume(dut.q.valid),
                 Assume(dut.o.ready)]
    busy_for = Signal(range(bound + 2), name="busy_for")
    with m.If(~dut.busy):
        m.d.sync += busy_for.eq(0)
    with m.Elif(busy_for <= bound):
        m.d.sync += busy_for.eq(busy_for + 1)
    # busy_for counts the busy cycles before this one: the golden model's 30 edges from the
    # command's transfer to the last result's are 30 busy cycles.
    m.d.comb += Assert(busy_for <= bound)
    return m
