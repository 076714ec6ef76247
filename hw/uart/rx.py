"""The UART receiver: one pin in, a stream of bytes out, 8N1, mid-bit sampling."""

from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out
from tessera.golden.errors import check_int
from tessera.golden.uart import MIN_DIVISOR

__all__ = ["UARTReceiver", "rx_error_layout"]

#: The receiver's error strobes: ``frame`` (a low stop bit: the byte is dropped) and ``overflow``
#: (a byte arrived while the previous one still waited on ``o``: the new byte is dropped).
rx_error_layout = data.StructLayout({"frame": 1, "overflow": 1})


class UARTReceiver(wiring.Component):
    """Receive 8N1 frames, as :func:`tessera.golden.uart.receive` states the rule.

    ``rx`` passes through a two-flip-flop synchronizer first, so everything happens two cycles
    after the line changes. The start bit is sampled ``divisor // 2`` cycles after the first low
    sample (a high level there is a glitch and is ignored), then each bit one ``divisor`` later.
    A low stop bit drops the byte, strobes ``err.frame``, and the receiver waits for the line to
    go high before it looks for the next start bit, so a break or garbage never hangs it.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, 4..65535 (:func:`tessera.golden.uart.divisor_for`).

    Members
    -------
    rx : In(1, init=1)
        The line.
    o : Out(stream.Signature(8))
        Bytes received. A byte is valid from the cycle after its stop bit's sample until it is
        taken. There is no back-pressure on a serial line: the consumer has about ten bit times
        to take it; otherwise the next byte is dropped and ``err.overflow`` strobes.
    err : Out(rx_error_layout)
        One-cycle strobes of the errors above.
    """

    def __init__(self, *, divisor):
        self._divisor = check_int(divisor, "divisor", MIN_DIVISOR, 65535)
        super().__init__({
            "rx": In(1, init=1),
            "o": Out(stream.Signature(8)),
            "err": Out(rx_error_layout),
        })

    @property
    def divisor(self):
        return self._divisor

    def elaborate(self, platform):
        m = Module()
        line = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, line, init=1)

        count = Signal(range(self._divisor))
        bit = Signal(range(8))
        shreg = Signal(8)
        sample = count == 0

        m.d.sync += self.err.eq(0)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += count.eq(self._divisor // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                m.d.sync += count.eq(count - 1)
                with m.If(sample):
                    m.d.sync += [count.eq(self._divisor - 1), bit.eq(0)]
                    m.next = "DATA"
                    with m.If(line):
                        m.next = "IDLE"            # a glitch shorter than half a bit
            with m.State("DATA"):
                m.d.sync += count.eq(count - 1)
                with m.If(sample):
                    m.d.sync += [
                        shreg.eq(Cat(shreg[1:], line)),
                        bit.eq(bit + 1),
                        count.eq(self._divisor - 1),
                    ]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                m.d.sync += count.eq(count - 1)
                with m.If(sample):
                    with m.If(~line):
                        m.d.sync += self.err.frame.eq(1)
                        m.next = "BREAK"
                    with m.Elif(self.o.valid & ~self.o.ready):
                        m.d.sync += self.err.overflow.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [self.o.payload.eq(shreg), self.o.valid.eq(1)]
                        m.next = "IDLE"
            with m.State("BREAK"):
                with m.If(line):
                    m.next = "IDLE"
        return m
