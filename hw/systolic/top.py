"""The systolic GEMM engine: array, buffers, accumulator bank, sequencer and post-processors."""

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.config.systolic import SystolicConfig
from tessera.golden.errors import check_int

from .accumulator import AccumulatorBank
from .array import OSArray, WSArray
from .buffer import OperandBuffer
from .drain import Drain
from .lanes import LanePostProcessor
from .protocol import command_layout, operand_layout, quant_layout, result_layout
from .sequencer import OSSequencer, WSSequencer

__all__ = ["SystolicGemm"]

#: Width of the cycle counter.
CYCLES_WIDTH = 32


class SystolicGemm(wiring.Component):
    """An int8 GEMM engine on an R x C systolic array of MAC PEs: ``C = A @ B``.

    The host sends one command per GEMM and streams the operands; the engine computes while
    they arrive and streams the results out, ``lanes`` a cycle (a whole row of the array by
    default), requantized to int8 per output column (:func:`tessera.golden.quant.requantize`)
    or as raw accumulators.

    Parameters
    ----------
    **params
        The fields of :class:`tessera.golden.config.SystolicConfig` (``rows``, ``cols``,
        ``dataflow``, ``acc_width``, ``max_m``, ``max_k``, ``max_n``, ``acc_depth``,
        ``lanes``), keyword only, validated by it; :meth:`from_config` takes a configuration.
    dsp_macs : int or None
        How many PEs (row by row) multiply in DSP blocks; the others use a Booth multiplier in
        logic. Default: all. Results and timing do not depend on it.
    dsp_lanes : int or None
        How many of the ``lanes`` post-processors multiply in DSP blocks (two 18x18 each); the
        others multiply in logic (:class:`tessera.hw.systolic.lanes.LanePostProcessor`).
        Default: all. Results and timing do not depend on it.

    Members
    -------
    cmd : In(stream.Signature(command_layout(config)))
        Start a GEMM of ``m`` x ``k`` x ``n`` (each at least 1 and at most its ``max_``);
        ``relu`` clamps negative results to 0; ``raw`` returns the accumulators instead of
        int8. Accepted only when idle (``ready`` is ``~busy``). A command with a dimension
        of 0 or above its ``max_`` is taken and skipped: it raises ``error`` and starts
        nothing (no operand is taken, no result sent, ``busy`` stays low).
    a : In(stream.Signature(operand_layout(rows)))
        A's words after the command, lane ``i`` for array row ``i``, in the order of
        :func:`tessera.golden.systolic.pack_a`.
    b : In(stream.Signature(operand_layout(cols)))
        B's words after the command, lane ``j`` = ``B[k, nt*C + j]``, in the order of
        :func:`tessera.golden.systolic.pack_b`.
    q : In(stream.Signature(quant_layout(acc_width)))
        One word per output column ``n`` (``n`` words, none when ``raw``): ``bias``,
        ``multiplier`` and ``shift`` of :func:`tessera.golden.quant.requantize`.
    o : Out(stream.Signature(result_layout(lanes, acc_width)))
        The ``m * n`` results, int8 sign-extended (or raw), in the order of
        :func:`tessera.golden.systolic.result_order`, ``lanes`` consecutive columns of one row
        a word: ``data`` lanes ``0 .. n - 1``, ``n`` as
        :func:`tessera.golden.systolic.result_lanes` says (``lanes`` but in the last word of a
        row at the right edge of N).
    busy : Out(1)
        A GEMM is running: from the edge after the command to the last result's transfer.
    cycles : Out(32)
        Edges from the command's transfer to the last word's transfer (counting while busy;
        holds afterwards until the next command). :func:`tessera.golden.systolic.gemm_cycles`
        predicts
        it when the streams neither gap nor back-pressure.
    error : Out(1)
        Sticky: a command was skipped because a dimension was 0 or above its ``max_``.
        Cleared by reset only.

    Raises
    ------
    TypeError
        If a parameter has the wrong type.
    ValueError
        If a parameter is out of range, or ``acc_width`` is too narrow for ``max_k``
        (:class:`tessera.golden.errors.TesseraError`).

    Notes
    -----
    Each operand stream takes exactly the words its GEMM needs (``ready`` drops after the
    last), so the host may queue all three streams at once. Words sent before the command wait.
    Nothing is dropped under back-pressure; synchronous reset abandons the GEMM.
    """

    @classmethod
    def from_config(cls, config, *, dsp_macs=None, dsp_lanes=None):
        """Build the engine of ``config`` (a :class:`tessera.golden.config.SystolicConfig`)."""
        return cls(dsp_macs=dsp_macs, dsp_lanes=dsp_lanes, **config.params())

    def __init__(self, *, dsp_macs=None, dsp_lanes=None, **params):
        self.config = SystolicConfig(**params)
        cfg = self.config
        self.dsp_macs = cfg.macs if dsp_macs is None else check_int(dsp_macs, "dsp_macs", 0,
                                                                     cfg.macs)
        self.dsp_lanes = cfg.lanes if dsp_lanes is None else check_int(dsp_lanes, "dsp_lanes",
                                                                        0, cfg.lanes)
        self.Command = command_layout(cfg)
        self.Quant = quant_layout(cfg.acc_width)
        super().__init__({
            "cmd": In(stream.Signature(self.Command)),
            "a": In(stream.Signature(operand_layout(cfg.rows))),
            "b": In(stream.Signature(operand_layout(cfg.cols))),
            "q": In(stream.Signature(self.Quant)),
            "o": Out(stream.Signature(result_layout(cfg.lanes, cfg.acc_width))),
            "busy": Out(1),
            "cycles": Out(CYCLES_WIDTH),
            "error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        r, c = cfg.rows, cfg.cols
        ws = cfg.dataflow == "ws"

        m.submodules.a_buf = a_buf = OperandBuffer(shape=operand_layout(r), depth=cfg.a_depth)
        m.submodules.b_buf = b_buf = OperandBuffer(shape=operand_layout(c), depth=cfg.b_depth)
        m.submodules.q_buf = q_buf = OperandBuffer(shape=self.Quant, depth=cfg.q_depth,
                                                   lanes=cfg.lanes)
        wiring.connect(m, wiring.flipped(self.a), a_buf.w)
        wiring.connect(m, wiring.flipped(self.b), b_buf.w)
        wiring.connect(m, wiring.flipped(self.q), q_buf.w)

        # -- The command. ----------------------------------------------------------------------
        gemm = Signal(self.Command)
        start = Signal()                       # one cycle after the command: units begin
        # A command whose dimensions do not fit is taken and skipped, with the sticky error: a
        # GEMM of M = 0 would otherwise wait forever for a last result (found by the formal
        # hang-freedom proof, tests/formal).
        cmd = self.cmd.payload
        fits = Signal()
        m.d.comb += fits.eq((cmd.m >= 1) & (cmd.m <= cfg.max_m) & (cmd.k >= 1)
                            & (cmd.k <= cfg.max_k) & (cmd.n >= 1) & (cmd.n <= cfg.max_n))
        taken = self.cmd.valid & self.cmd.ready
        accept = taken & fits
        m.d.comb += self.cmd.ready.eq(~self.busy)
        with m.If(taken & ~fits):
            m.d.sync += self.error.eq(1)
        m.d.sync += start.eq(accept)
        with m.If(accept):
            m.d.sync += [gemm.eq(self.cmd.payload), self.busy.eq(1), self.cycles.eq(0)]
        with m.Elif(self.busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)

        # -- How many words each buffer takes. The totals (ceil(K/R) * M words of A, ...) are
        # summed one tile per cycle from the command on; a load can never catch up with its
        # running total, so no multiplier or divider is needed and no word waits for it.
        p = self.cmd.payload
        a_step = gemm.m if ws else gemm.k          # words per K-tile (WS) or M-tile (OS)
        a_side = gemm.k if ws else gemm.m          # the dimension cut into R-wide tiles
        a_tiled = Signal(range(max(cfg.max_k, cfg.max_m) + r + 1))
        b_tiled = Signal(range(cfg.max_n + c + 1))
        m.d.comb += [a_buf.clear.eq(accept), b_buf.clear.eq(accept), q_buf.clear.eq(accept)]
        with m.If(accept):
            m.d.sync += [
                a_buf.limit.eq(p.m if ws else p.k), a_tiled.eq(r),
                b_buf.limit.eq(p.k), b_tiled.eq(c),
                q_buf.limit.eq(Mux(p.raw, 0, p.n)),
            ]
        with m.Elif(self.busy):
            with m.If(a_tiled < a_side):
                m.d.sync += [a_tiled.eq(a_tiled + r), a_buf.limit.eq(a_buf.limit + a_step)]
            with m.If(b_tiled < gemm.n):
                m.d.sync += [b_tiled.eq(b_tiled + c), b_buf.limit.eq(b_buf.limit + gemm.k)]

        # -- Array, sequencer, accumulator bank. -------------------------------------------------
        if ws:
            m.submodules.array = array = WSArray(rows=r, cols=c, acc_width=cfg.acc_width,
                                                 dsp_macs=self.dsp_macs)
            m.submodules.sequencer = seq = WSSequencer(cfg)
        else:
            m.submodules.array = array = OSArray(rows=r, cols=c, acc_width=cfg.acc_width,
                                                 dsp_macs=self.dsp_macs)
            m.submodules.sequencer = seq = OSSequencer(cfg)
        m.submodules.bank = bank = AccumulatorBank(cols=c, depth=2 * cfg.tile_m,
                                                   acc_width=cfg.acc_width, accumulate=ws)
        m.d.comb += [
            seq.start.eq(start), seq.m.eq(gemm.m), seq.k.eq(gemm.k), seq.n.eq(gemm.n),
            seq.a_count.eq(a_buf.count), seq.b_count.eq(b_buf.count),
            a_buf.raddr.eq(seq.a_raddr), a_buf.ren.eq(seq.a_ren),
            b_buf.raddr.eq(seq.b_raddr), b_buf.ren.eq(seq.b_ren),
            array.a.as_value().eq(a_buf.rdata),
            array.first.eq(seq.first),
            array.shift.eq(seq.shift),
            bank.valid.eq(seq.acc_valid), bank.addr.eq(seq.acc_addr),
            bank.add.eq(seq.acc_add), bank.last.eq(seq.acc_last), bank.final.eq(seq.acc_final),
        ]
        if ws:
            m.d.comb += [
                array.w.as_value().eq(Mux(seq.w_zero, 0, b_buf.rdata)),
                bank.value.eq(array.psum),
            ]
        else:
            m.d.comb += [
                array.b.as_value().eq(b_buf.rdata),
                array.valid.eq(seq.valid),
                bank.value.eq(array.result),
            ]

        # -- Drain and post-processing. ---------------------------------------------------------
        m.submodules.drain = drain = Drain(cols=c, tile_m=cfg.tile_m, acc_width=cfg.acc_width,
                                           max_m=cfg.max_m, max_n=cfg.max_n, lanes=cfg.lanes)
        m.submodules.postproc = postproc = LanePostProcessor(
            lanes=cfg.lanes, acc_width=cfg.acc_width, dsp_lanes=self.dsp_lanes)
        m.d.comb += [
            drain.start.eq(start), drain.m.eq(gemm.m), drain.n.eq(gemm.n),
            drain.relu.eq(gemm.relu), drain.raw.eq(gemm.raw),
            drain.done.eq(bank.done), drain.row_done.eq(bank.row_done),
            drain.q_count.eq(q_buf.count),
            seq.release.eq(drain.release),
            bank.raddr.eq(drain.raddr), bank.ren.eq(drain.ren), drain.rdata.eq(bank.rdata),
            q_buf.raddr.eq(drain.qaddr), q_buf.ren.eq(drain.qen), drain.qdata.eq(q_buf.rdata),
        ]
        wiring.connect(m, drain.o, postproc.i)
        wiring.connect(m, postproc.o, wiring.flipped(self.o))

        # -- The end: every word read and every one in flight handed over. ---------------------
        in_flight = Signal(range(64))
        out = self.o.valid & self.o.ready
        m.d.sync += in_flight.eq(in_flight + drain.issue - out)
        with m.If(self.busy & ~start & drain.finished & (in_flight == 1) & out & ~drain.issue):
            m.d.sync += self.busy.eq(0)
        return m
