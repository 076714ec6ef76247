"""On-chip operand buffer: filled in order from a stream, read at random by the sequencer."""

from amaranth import *
from amaranth.hdl import ShapeCastable
from amaranth.lib import data, memory, stream, wiring
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
    lanes : int or None
        None: the memory holds one word a row. Otherwise it holds ``ceil(depth / lanes)`` rows
        of ``lanes`` words, word ``x`` in lane ``x % lanes`` of row ``x // lanes``: written a
        word at a time, read a row at a time (``raddr`` is a row, ``rdata`` an
        ``ArrayLayout(shape, lanes)``).

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

    def __init__(self, *, shape, depth, lanes=None):
        self.depth = check_int(depth, "depth", 1, 2**20)
        if not isinstance(shape, ShapeCastable):
            shape = Shape.cast(shape)
        self.shape = shape
        self.lanes = None if lanes is None else check_int(lanes, "lanes", 1, 64)
        self.rows = self.depth if lanes is None else -(-self.depth // self.lanes)
        row = shape if lanes is None else data.ArrayLayout(shape, self.lanes)
        super().__init__({
            "w": In(stream.Signature(shape)),
            "clear": In(1),
            "limit": In(range(self.depth + 1)),
            "count": Out(range(self.depth + 1)),
            "raddr": In(range(self.rows)),
            "ren": In(1),
            "rdata": Out(row),
        })

    def elaborate(self, platform):
        m = Module()
        write = self.w.valid & self.w.ready
        if self.lanes is None:
            m.submodules.mem = mem = memory.Memory(shape=self.shape, depth=self.depth, init=[])
            wp = mem.write_port()
            m.d.comb += [wp.addr.eq(self.count), wp.data.eq(self.w.payload), wp.en.eq(write)]
        else:
            # The write's row and lane, counted beside `count` (no division by `lanes`).
            m.submodules.mem = mem = memory.Memory(
                shape=data.ArrayLayout(self.shape, self.lanes), depth=self.rows, init=[])
            wp = mem.write_port(granularity=1)
            w_row = Signal(range(self.rows + 1))
            w_lane = Signal(range(self.lanes))
            m.d.comb += wp.addr.eq(w_row)
            for j in range(self.lanes):
                m.d.comb += wp.data[j].eq(self.w.payload)
            m.d.comb += wp.en.eq(Mux(write, 1 << w_lane, 0))
            with m.If(self.clear):
                m.d.sync += [w_row.eq(0), w_lane.eq(0)]
            with m.Elif(write):
                with m.If(w_lane == self.lanes - 1):
                    m.d.sync += [w_row.eq(w_row + 1), w_lane.eq(0)]
                with m.Else():
                    m.d.sync += w_lane.eq(w_lane + 1)
        rp = mem.read_port()
        m.d.comb += [
            self.w.ready.eq(self.count < self.limit),
            rp.addr.eq(self.raddr),
            rp.en.eq(self.ren),
            self.rdata.eq(rp.data),
        ]
        with m.If(self.clear):
            m.d.sync += self.count.eq(0)
        with m.Elif(write):
            m.d.sync += self.count.eq(self.count + 1)
        return m
