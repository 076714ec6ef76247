"""A test design: the UART receiver into a FIFO into the transmitter (an echo on two pins)."""

from amaranth import Module
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out
from tessera.hw.uart import UARTReceiver, UARTTransmitter


class UARTEcho(wiring.Component):
    """Every byte received on ``rx`` is sent back on ``tx``; ``frame_errors`` and ``overflows``
    count the receiver's error strobes."""

    rx: In(1, init=1)
    tx: Out(1, init=1)
    frame_errors: Out(8)
    overflows: Out(8)

    def __init__(self, divisor=4, depth=16):
        self.divisor, self.depth = divisor, depth
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx = rx = UARTReceiver(divisor=self.divisor)
        m.submodules.fifo = queue = fifo.SyncFIFOBuffered(width=8, depth=self.depth)
        m.submodules.tx = tx = UARTTransmitter(divisor=self.divisor)
        wiring.connect(m, rx.o, queue.w_stream)
        wiring.connect(m, queue.r_stream, tx.i)
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx)]
        with m.If(rx.err.frame):
            m.d.sync += self.frame_errors.eq(self.frame_errors + 1)
        with m.If(rx.err.overflow):
            m.d.sync += self.overflows.eq(self.overflows + 1)
        return m
