"""The max-pool unit: ``k x k`` windows of an NHWC int8 map in activation memory."""

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.isa import FIELD_BITS, Op

from .protocol import args_layout

__all__ = ["ADDRESS_STAGES", "MaxPoolUnit"]

#: Registers between the window counters and ``rd_addr``: the unit's added latency.
ADDRESS_STAGES = 2

#: Width of an activation-memory address (the instruction's base fields).
ADDR_WIDTH = FIELD_BITS[Op.POOL]["in_base"]


class MaxPoolUnit(wiring.Component):
    """Max-pool an ``h x w x c`` int8 map: ``kernel x kernel`` windows, ``stride``, no padding.

    Outputs ``OH x OW x c`` (``OH = (h - kernel) // stride + 1``) go to ``out_base`` in NHWC
    order. The unit walks output pixels row by row, channels inside, and each window row by
    row; it reads one element a cycle and writes each output in the cycle after its window's
    last read (the cycle its value arrives).

    The read address ``in_base + ((y0 + ky) * w + x0 + kx) * c + ch`` is computed in a pipeline
    of :data:`ADDRESS_STAGES` registers (one multiplication each), so that ``rd_addr`` is a
    register: the activation memory's address does not wait on two multiplications.

    Timing, with the command transferred at clock edge 0 and ``L =`` :data:`ADDRESS_STAGES`:
    ``rd_en`` is high after edges ``L .. L + T - 1`` (``T = OH * OW * c * kernel**2`` reads,
    one a cycle, no stalls), the last output is written at edge ``L + T + 1`` (``wr_en`` high
    after edge ``L + T``), and ``cmd.ready`` is high again after edge ``L + T + 1``: it is high
    exactly when the unit is idle. The system's POOL takes ``INSTRUCTION_WORDS + 2 + (L + T +
    1)`` cycles (:mod:`tessera.golden.executor`).

    The geometry is not checked here: the command processor refuses a bad one (zero sizes, a
    window larger than the map, ranges past the memory) before it reaches the unit. A command
    with a zero size is taken and dropped: no read, no write, ``cmd.ready`` stays high.

    Members
    -------
    cmd : In(stream.Signature(args_layout(Op.POOL)))
        The POOL instruction's arguments.
    rd_en : Out(1), rd_addr : Out(16)
        Read activation ``rd_addr``.
    rd_data : In(signed(8))
        The activation read by the previous cycle's ``rd_en`` (a synchronous read port).
    wr_en : Out(1), wr_addr : Out(16), wr_data : Out(signed(8))
        Write one output.
    busy : Out(1)
        A command is running.
    """

    cmd: In(stream.Signature(args_layout(Op.POOL)))
    rd_en: Out(1)
    rd_addr: Out(ADDR_WIDTH)
    rd_data: In(signed(8))
    wr_en: Out(1)
    wr_addr: Out(ADDR_WIDTH)
    wr_data: Out(signed(8))
    busy: Out(1)

    def elaborate(self, platform):
        m = Module()
        bits = FIELD_BITS[Op.POOL]
        args = Signal(args_layout(Op.POOL))
        running = Signal()
        y0 = Signal(bits["h"] + 1)       # top row of the window
        x0 = Signal(bits["w"] + 1)       # left column of the window
        ch = Signal(bits["c"])
        ky = Signal(bits["kernel"])
        kx = Signal(bits["kernel"])
        out_addr = Signal(ADDR_WIDTH)
        # The read of the previous cycle: its data arrives now.
        pend = Signal()
        pend_first = Signal()
        pend_last = Signal()
        pend_out = Signal(ADDR_WIDTH)
        best = Signal(signed(8))

        # The address pipeline: stage 1 registers the pixel (y0 + ky) * w + x0 + kx, stage 2
        # the address; each carries the read's flags.
        v1, v2 = Signal(), Signal()
        first1, last1, first2, last2 = Signal(), Signal(), Signal(), Signal()
        out1, out2 = Signal(ADDR_WIDTH), Signal(ADDR_WIDTH)
        pixel1, ch1 = Signal(ADDR_WIDTH + 1), Signal(bits["c"])
        addr2 = Signal(ADDR_WIDTH)
        busy = Cat(running, v1, v2, pend).any()
        m.d.comb += [self.cmd.ready.eq(~busy), self.busy.eq(busy)]

        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += [args.eq(self.cmd.payload), y0.eq(0), x0.eq(0), ch.eq(0), ky.eq(0),
                         kx.eq(0), out_addr.eq(self.cmd.payload.out_base)]
            empty = Cat(self.cmd.payload.h == 0, self.cmd.payload.w == 0,
                        self.cmd.payload.c == 0, self.cmd.payload.kernel == 0,
                        self.cmd.payload.stride == 0).any()
            m.d.sync += running.eq(~empty)

        k = args.kernel
        last_kx = kx == k - 1
        last_ky = ky == k - 1
        last_ch = ch == args.c - 1
        window_done = last_kx & last_ky
        next_x0 = x0 + args.stride
        next_y0 = y0 + args.stride
        row_done = next_x0 + k > args.w
        map_done = next_y0 + k > args.h
        m.d.sync += [v1.eq(running), first1.eq(running & (kx == 0) & (ky == 0)),
                     last1.eq(running & window_done), out1.eq(out_addr),
                     pixel1.eq((y0 + ky) * args.w + x0 + kx), ch1.eq(ch),
                     v2.eq(v1), first2.eq(first1), last2.eq(last1), out2.eq(out1),
                     addr2.eq(args.in_base + pixel1 * args.c + ch1)]
        m.d.comb += [self.rd_en.eq(v2), self.rd_addr.eq(addr2)]

        m.d.sync += [pend.eq(v2), pend_first.eq(first2), pend_last.eq(last2),
                     pend_out.eq(out2)]
        with m.If(running):
            m.d.sync += kx.eq(kx + 1)
            with m.If(last_kx):
                m.d.sync += [kx.eq(0), ky.eq(ky + 1)]
                with m.If(last_ky):
                    m.d.sync += [ky.eq(0), ch.eq(ch + 1), out_addr.eq(out_addr + 1)]
                    with m.If(last_ch):
                        m.d.sync += [ch.eq(0), x0.eq(next_x0)]
                        with m.If(row_done):
                            m.d.sync += [x0.eq(0), y0.eq(next_y0)]
                            with m.If(map_done):
                                m.d.sync += running.eq(0)

        value = Signal(signed(8))
        with m.If(pend_first | (self.rd_data > best)):
            m.d.comb += value.eq(self.rd_data)
        with m.Else():
            m.d.comb += value.eq(best)
        with m.If(pend):
            m.d.sync += best.eq(value)
        m.d.comb += [self.wr_en.eq(pend & pend_last), self.wr_addr.eq(pend_out),
                     self.wr_data.eq(value)]
        return m
