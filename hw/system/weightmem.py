"""The weight memory: words written by LOAD, streamed out in address order to an engine."""

from amaranth import *
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.errors import check_int

__all__ = ["WeightMemory"]

#: Width of an address and of a count.
ADDR_WIDTH = 16


class WeightMemory(wiring.Component):
    """``depth`` words of ``shape``: written one a cycle, read out as a stream of a range.

    The system holds two: the dense weight memory (``pack_b`` words of the systolic ``b``
    stream) and the requantization parameters of systolic layers (its ``q`` stream).

    Parameters
    ----------
    shape : shape-like
        One word (an ``amaranth.lib.data`` layout, or a plain shape).
    depth : int
        Words, 1..65536.

    Members
    -------
    w_en : In(1), w_addr : In(16), w_data : In(shape)
        Write one word.
    cmd : In(stream.Signature(StructLayout({"base": 16, "count": 17})))
        Stream ``count`` words from ``base``. Taken only when idle (``ready`` is ``~busy``).
    o : Out(stream.Signature(shape))
        The words, one a cycle under no back-pressure: with ``cmd`` transferred at edge 0 the
        first is read at edge 1 and offered after it (transferred at edge 2 at the earliest);
        ``valid`` never waits for ``ready`` and the payload holds under back-pressure.
    busy : Out(1)
        Words are left to send.

    Raises
    ------
    TesseraError, TesseraTypeError
        If ``depth`` is out of range or not an integer.
    """

    #: The ``cmd`` payload.
    Command = data.StructLayout({"base": ADDR_WIDTH, "count": ADDR_WIDTH + 1})

    def __init__(self, *, shape, depth):
        self.shape = shape
        self.depth = check_int(depth, "depth", 1, 2**ADDR_WIDTH)
        super().__init__({
            "w_en": In(1),
            "w_addr": In(ADDR_WIDTH),
            "w_data": In(shape),
            "cmd": In(stream.Signature(self.Command)),
            "o": Out(stream.Signature(shape)),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = memory.Memory(shape=self.shape, depth=self.depth, init=[])
        wp = mem.write_port()
        rp = mem.read_port()
        m.d.comb += [wp.en.eq(self.w_en), wp.addr.eq(self.w_addr), wp.data.eq(self.w_data)]

        addr = Signal(ADDR_WIDTH + 1)
        left = Signal(ADDR_WIDTH + 1)            # reads left to issue
        valid = Signal()
        advance = ~valid | self.o.ready          # the output register frees at this edge
        issue = advance & (left != 0)
        m.d.comb += [
            self.cmd.ready.eq(~self.busy),
            self.busy.eq((left != 0) | valid),
            rp.addr.eq(addr), rp.en.eq(issue),
            self.o.valid.eq(valid), self.o.payload.eq(rp.data),
        ]
        with m.If(advance):
            m.d.sync += valid.eq(issue)
        with m.If(issue):
            m.d.sync += [addr.eq(addr + 1), left.eq(left - 1)]
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += [addr.eq(self.cmd.payload.base), left.eq(self.cmd.payload.count)]
        return m
