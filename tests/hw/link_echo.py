"""A test design: the whole board link around a stand-in system that answers each command byte
with ``byte ^ 0x5A`` (UART receiver -> link receiver -> system -> link transmitter -> UART
transmitter)."""

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from tessera.hw.link import LinkReceiver, LinkTransmitter
from tessera.hw.uart import UARTReceiver, UARTTransmitter


class LinkEcho(wiring.Component):
    rx: In(1, init=1)
    tx: Out(1, init=1)

    def __init__(self, divisor=4, buffer_bytes=256, max_payload=32, window=4,
                 results_bytes=256, quiet_cycles=200, retransmit_cycles=20_000,
                 flush_cycles=100):
        self.options = dict(buffer_bytes=buffer_bytes, max_payload=max_payload)
        self.divisor, self.window, self.results_bytes = divisor, window, results_bytes
        self.quiet_cycles, self.retransmit_cycles = quiet_cycles, retransmit_cycles
        self.flush_cycles = flush_cycles
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.urx = urx = UARTReceiver(divisor=self.divisor)
        m.submodules.utx = utx = UARTTransmitter(divisor=self.divisor)
        m.submodules.lrx = lrx = LinkReceiver(quiet_cycles=self.quiet_cycles, **self.options)
        m.submodules.ltx = ltx = LinkTransmitter(
            window=self.window, results_bytes=self.results_bytes,
            retransmit_cycles=self.retransmit_cycles, flush_cycles=self.flush_cycles,
            **self.options)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx)]
        wiring.connect(m, urx.o, lrx.i)
        wiring.connect(m, lrx.reply, ltx.reply)
        m.d.comb += [ltx.credit.eq(lrx.credit), ltx.peer_ack.eq(lrx.peer_ack),
                     ltx.new_session.eq(lrx.new_session)]
        # The stand-in system.
        m.d.comb += [ltx.i.payload.eq(lrx.o.payload ^ 0x5A), ltx.i.valid.eq(lrx.o.valid),
                     lrx.o.ready.eq(ltx.i.ready)]
        wiring.connect(m, ltx.o, utx.i)
        return m
