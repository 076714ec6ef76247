"""On-chip operand buffer: filled in order from a stream, read at random by the sequencer."""

from amaranth import *
from amaranth.hdl import ShapeCastable
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.errors import check_int

__all__ = ["OperandBuffer"]


class OperandBuffer(wiring.Component):
    """A memory of ``depth`` words written from a stream in address order.

    The sequencer reads words as soon as they have arrived: it compares the address it wants
    with :attr:`count` ("chasing" the load), so a GEMM can start computing while its operands
    are still streaming in.

    Parameters
    ----------
    shape : shape-like
        Shape of one word (the stream payload).
    depth : int
        Number of words, 1..2**20.

    Members
    -------
    w : In(stream.Signature(shape))
        Words to store, in address order. ``ready`` is high while ``count < limit``.
    clear : In(1)
        Start a new load at address 0 (``count`` is 0 after the edge).
    limit : In(range(depth + 1))
        How many words the current load takes in total (may grow while the load runs).
    count : Out(range(depth + 1))
        Words written since ``clear``; word ``x`` can be read once ``count > x``.
    raddr : In(range(depth))
    ren : In(1)
        Read ``raddr`` at the next edge; ``rdata`` shows the word after it and holds it while
        ``ren`` is low.
    rdata : Out(shape)
    """

    def __init__(self, *, shape, depth):
        self.depth = check_int(depth, "depth", 1, 2**20)
        if not isinstance(shape, ShapeCastable):
            shape = Shape.cast(shape)
        self.shape = shape
        super().__init__({
            "w": In(stream.Signature(shape)),
            "clear": In(1),
            "limit": In(range(self.depth + 1)),
            "count": Out(range(self.depth + 1)),
            "raddr": In(range(self.depth)),
            "ren": In(1),
            "rdata": Out(shape),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = memory.Memory(shape=self.shape, depth=self.depth, init=[])
        wp = mem.write_port()
        rp = mem.read_port()
        m.d.comb += [
            self.w.ready.eq(self.count < self.limit),
            wp.addr.eq(self.count),
            wp.data.eq(self.w.payload),
            wp.en.eq(self.w.valid & self.w.ready),
            rp.addr.eq(self.raddr),
            rp.en.eq(self.ren),
            self.rdata.eq(rp.data),
        ]
        with m.If(self.clear):
            m.d.sync += self.count.eq(0)
        with m.Elif(self.w.valid & self.w.ready):
            m.d.sync += self.count.eq(self.count + 1)
        return m
