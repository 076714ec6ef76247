"""The UART transmitter: a stream of bytes out on one pin, 8N1."""

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.errors import check_int
from tessera.golden.uart import FRAME_BITS, MIN_DIVISOR

__all__ = ["UARTTransmitter"]


class UARTTransmitter(wiring.Component):
    """Send bytes as 8N1 frames (:func:`tessera.golden.uart.line` is the waveform).

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, the same range and meaning as the receiver's
        (:class:`tessera.hw.uart.rx.UARTReceiver`).

    Members
    -------
    i : In(stream.Signature(8))
        Bytes to send. A byte accepted at one clock edge puts its start bit on ``tx`` from the
        next cycle; ``i.ready`` is high while the line is idle and in the last cycle of a stop
        bit, so bytes offered back to back leave exactly ``10 * divisor`` cycles apart (the
        line's full rate). ``ready`` does not depend on ``valid``.
    tx : Out(1, init=1)
        The line: high when idle, a registered output (no glitches).
    """

    def __init__(self, *, divisor):
        self._divisor = check_int(divisor, "divisor", MIN_DIVISOR, 65535)
        super().__init__({"i": In(stream.Signature(8)), "tx": Out(1, init=1)})

    @property
    def divisor(self):
        return self._divisor

    def elaborate(self, platform):
        m = Module()
        count = Signal(range(self._divisor))       # cycles left in the current bit, minus one
        remaining = Signal(range(FRAME_BITS))      # bits still to put on the line after this one
        shreg = Signal(FRAME_BITS - 1)             # data bits then the stop bit, LSB first
        busy = Signal()

        last = busy & (count == 0) & (remaining == 0)
        m.d.comb += self.i.ready.eq(~busy | last)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [
                busy.eq(1),
                self.tx.eq(0),                     # the start bit
                shreg.eq(Cat(self.i.payload, C(1, 1))),
                remaining.eq(FRAME_BITS - 1),
                count.eq(self._divisor - 1),
            ]
        with m.Elif(last):
            m.d.sync += busy.eq(0)                 # the stop bit has lasted its divisor cycles
        with m.Elif(busy & (count == 0)):
            m.d.sync += [
                self.tx.eq(shreg[0]),
                shreg.eq(shreg >> 1),
                remaining.eq(remaining - 1),
                count.eq(self._divisor - 1),
            ]
        with m.Elif(busy):
            m.d.sync += count.eq(count - 1)
        return m
