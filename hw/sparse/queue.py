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
    queue is (almost) full (EIE, section IV: "activation queue", depth 8).

    Parameters
    ----------
    depth : int
        Capacity in pairs, 2..64.

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
    almost_full : Out(1)
        Registered: high in the cycles in which the queue holds ``depth - 1`` pairs or more
        (no room for two). Computed from this cycle's write and read, so it is true to
        ``level`` in every cycle while its logic ends at a flip-flop: the broadcast
        (:class:`tessera.hw.sparse.array.SparseArray`) builds its registered decision from it.

    Built on :class:`amaranth.lib.fifo.SyncFIFO`, whose storage is a small memory with an
    asynchronous read port (distributed RAM on an FPGA).

    Raises
    ------
    TesseraError
        If ``depth`` is not an integer in 2..64.
    """

    def __init__(self, *, depth=8):
        self.depth = check_int(depth, "depth", 2, 64)
        super().__init__({
            "i": In(stream.Signature(column_layout)),
            "o": Out(stream.Signature(column_layout)),
            "level": Out(range(self.depth + 1)),
            "almost_full": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = queue = fifo.SyncFIFO(width=column_layout.size, depth=self.depth)
        wiring.connect(m, wiring.flipped(self.i), queue.w_stream)
        wiring.connect(m, queue.r_stream, wiring.flipped(self.o))
        m.d.comb += self.level.eq(queue.level)
        written = self.i.valid & self.i.ready
        read = self.o.valid & self.o.ready
        level_next = Signal(range(self.depth + 2))
        m.d.comb += level_next.eq(queue.level + written - read)
        m.d.sync += self.almost_full.eq(level_next >= self.depth - 1)
        return m
