"""A small stream component for testing the runner and the cocotb stream helpers."""

from amaranth import Module
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out


class StreamFIFO(wiring.Component):
    """A synchronous FIFO between two ``amaranth.lib.stream`` interfaces."""

    def __init__(self, width=16, depth=4):
        self.width, self.depth = width, depth
        super().__init__({"i": In(stream.Signature(width)), "o": Out(stream.Signature(width))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = queue = fifo.SyncFIFOBuffered(width=self.width, depth=self.depth)
        wiring.connect(m, wiring.flipped(self.i), queue.w_stream)
        wiring.connect(m, queue.r_stream, wiring.flipped(self.o))
        return m
