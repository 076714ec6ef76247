"""A register slice: one pipeline register on a stream, its payload and valid from flip-flops."""

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["StreamRegister"]


class StreamRegister(wiring.Component):
    """Register a stream's ``valid`` and ``payload``: a path that ends at ``i`` ends here.

    A transfer on ``i`` appears on ``o`` in the next cycle and stays there until ``o`` takes
    it. ``i.ready`` is high while the register is empty or ``o`` takes its transfer in this
    cycle, so with ``o`` always ready the slice passes one transfer a cycle with one cycle of
    latency. (``i.ready`` depends combinationally on ``o.ready``: the slice cuts the forward
    path, payload and ``valid``, which is where the long logic is; not the back-pressure.)
    It follows the four transfer rules of ``amaranth.lib.stream``: ``o.valid`` never waits for
    ``o.ready``, and the payload holds until the transfer.

    Parameters
    ----------
    shape : ShapeLike
        The payload's shape.

    Members
    -------
    i : In(stream.Signature(shape))
    o : Out(stream.Signature(shape))
    """

    def __init__(self, shape):
        self.shape = shape
        super().__init__({
            "i": In(stream.Signature(shape)),
            "o": Out(stream.Signature(shape)),
        })

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [self.o.valid.eq(1), self.o.payload.eq(self.i.payload)]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m
