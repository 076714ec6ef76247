"""The command gate: store a burst of command words, then forward it without a gap."""

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out
from tessera.golden.errors import check_int

__all__ = ["CommandGate"]


class CommandGate(wiring.Component):
    """Store and forward: hold the words of a burst until it has arrived, then send them one a
    cycle.

    Behind a serial link, command words reach a core a few cycles apart (the link's bridge
    gathers a byte a cycle) and with long pauses between frames. A core that counts the cycles of
    each instruction from its first header word (the system top) would count those gaps. The gate
    keeps the words in a FIFO; it **opens** when the FIFO holds ``depth`` words, or holds some
    and no word has been offered on ``i`` for ``quiet_cycles`` cycles; it **closes** when the
    FIFO is empty. So a burst of up to ``depth`` words that arrives with no gap longer than
    ``quiet_cycles`` (one frame of the link) leaves as an unbroken stream, one word a cycle while
    ``o`` is ready. A longer burst is forwarded in pieces of ``depth`` words; nothing is dropped
    or reordered, and the gate never waits for anything but ``i`` and ``o``.

    Latency: a burst's first word leaves ``quiet_cycles + 2`` to ``quiet_cycles + 3`` cycles
    after its last word was taken (the FIFO's read register).

    Parameters
    ----------
    width : int
        Bits of a word, 1..65536.
    depth : int
        Words the FIFO holds, 2..65536.
    quiet_cycles : int
        Cycles without a word on ``i`` that end a burst, 1..2**24.

    Members
    -------
    i : In(stream.Signature(width))
        Words; ready while the FIFO has room.
    o : Out(stream.Signature(width))
        The same words, in order; valid only while the gate is open.
    """

    def __init__(self, width, *, depth, quiet_cycles):
        self.width = check_int(width, "width", 1, 65536)
        self.depth = check_int(depth, "depth", 2, 65536)
        self.quiet_cycles = check_int(quiet_cycles, "quiet_cycles", 1, 1 << 24)
        super().__init__({"i": In(stream.Signature(width)), "o": Out(stream.Signature(width))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=self.width, depth=self.depth)
        wiring.connect(m, wiring.flipped(self.i), fifo.w_stream)

        idle = Signal(range(self.quiet_cycles + 1))    # cycles since a word was offered
        with m.If(self.i.valid):
            m.d.sync += idle.eq(0)
        with m.Elif(idle != self.quiet_cycles):
            m.d.sync += idle.eq(idle + 1)

        is_open = Signal()
        with m.If(is_open):
            with m.If(fifo.level == 0):
                m.d.sync += is_open.eq(0)
        with m.Elif((fifo.level == self.depth)
                    | ((fifo.level != 0) & (idle == self.quiet_cycles))):
            m.d.sync += is_open.eq(1)

        m.d.comb += [self.o.payload.eq(fifo.r_data), self.o.valid.eq(is_open & fifo.r_rdy),
                     fifo.r_en.eq(is_open & self.o.ready)]
        return m
