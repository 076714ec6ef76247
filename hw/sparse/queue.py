"""The activation queue: the PE's FIFO of broadcast (column, activation) pairs."""

from amaranth import *
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.config.sparse import ACT_WIDTH, FIELD_WIDTH
from tessera.golden.errors import check_int

__all__ = ["ActivationQueue", "column_layout"]

#: A broadcast non-zero activation: its column ``col`` (the input index ``j``) and ``value``.
column_layout = data.StructLayout({"col": unsigned(FIELD_WIDTH), "value": signed(ACT_WIDTH)})


class ActivationQueue(wiring.Component):
    """First-in first-out queue of ``(col, value)`` pairs between the broadcast and the PE.

    It lets a PE run ahead of or behind the others: the broadcast only stalls when some PE's
    queue is full (EIE, section IV: "activation queue", depth 8).

    Parameters
    ----------
    depth : int
        Capacity in pairs, 1..64.

    Members
    -------
    i : In(stream.Signature(column_layout))
        Pairs in. ``i.ready`` is high while the queue holds fewer than ``depth`` pairs; it does
        not rise in the cycle a full queue is read (no pass-through), so a pair written at a
        clock edge must wait for a read at an earlier edge when the queue is full.
    o : Out(stream.Signature(column_layout))
        Pairs out, oldest first. A pair written at one clock edge is valid on ``o`` from the
        next cycle (first-word fall-through, no extra latency).
    level : Out(range(depth + 1))
        Number of pairs held.

    Built on :class:`amaranth.lib.fifo.SyncFIFO`, whose storage is a small memory with an
    asynchronous read port (distributed RAM on an FPGA). A queue of depth 1 is one register with
    the same contract (a SyncFIFO of depth 1 has zero-width pointers, which Verilog linters
    reject).
    """

    def __init__(self, *, depth=8):
        self.depth = check_int(depth, "depth", 1, 64)
        super().__init__({
            "i": In(stream.Signature(column_layout)),
            "o": Out(stream.Signature(column_layout)),
            "level": Out(range(self.depth + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        if self.depth == 1:
            full = Signal()
            m.d.comb += [
                self.i.ready.eq(~full),
                self.o.valid.eq(full),
                self.level.eq(full),
            ]
            with m.If(self.i.valid & ~full):
                m.d.sync += [full.eq(1), self.o.payload.eq(self.i.payload)]
            with m.Elif(self.o.ready & full):
                m.d.sync += full.eq(0)
            return m
        m.submodules.fifo = queue = fifo.SyncFIFO(width=column_layout.size, depth=self.depth)
        wiring.connect(m, wiring.flipped(self.i), queue.w_stream)
        wiring.connect(m, queue.r_stream, wiring.flipped(self.o))
        m.d.comb += self.level.eq(queue.level)
        return m
