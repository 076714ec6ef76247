"""Specs of the UART (tessera.hw.uart) and their broken variants.

The divisor is the smallest the UART takes (4 cycles a bit): every state and every edge of
the bit timing exists, and a frame is 40 cycles.
"""

from amaranth import C, Cat, Module, Signal
from amaranth.hdl import Assert, Cover
from tessera.golden.uart import FRAME_BITS, MIN_DIVISOR
from tessera.hw.uart import UARTReceiver, UARTTransmitter

from . import harness as h

__all__ = [
    "rx_conservation_spec", "rx_errors_cover_spec", "rx_resync_spec", "rx_stream_spec",
    "tx_frame_spec",
]

DIVISOR = MIN_DIVISOR
#: The longest the receiver needs to be idle again once the line goes (and stays) high,
#: whatever it was doing: two cycles of synchronizer, then, at worst, the nine bit times (eight
#: data bits and the stop bit) of a frame whose start bit was sampled just before. rx_resync
#: proves it enough; test_formal checks that one cycle less is not.
RESYNC_CYCLES = 2 + 9 * DIVISOR


def _rx(m, variant, broken):
    dut = h.pick(variant, UARTReceiver, broken)(divisor=DIVISOR)
    m.submodules.dut = inner = h.elaborated(dut)
    h.drive(m, dut.rx, dut.o.ready)
    return dut, inner


@h.breaks(UARTReceiver)
def _RxOverwritesWaiting(self, m):
    """Broken: a byte whose stop bit is sampled replaces the one still waiting on ``o``."""
    shreg = h.find(m, "shreg")
    with m.If(h.in_state(m, "STOP") & (h.find(m, "count") == 0)):
        m.d.sync += self.o.payload.eq(shreg)


@h.proof("uart_rx_stream", f"UARTReceiver(divisor={DIVISOR})", "prove", 4, fail_depth=96,
       covers="o keeps valid and payload until ready, whatever the line does",
       broken="a new byte replaces the one still waiting on o")
def rx_stream_spec(variant):
    m = Module()
    dut, _inner = _rx(m, variant, _RxOverwritesWaiting)
    h.check_stream(m, dut.o)
    return m


@h.breaks(UARTReceiver)
def _RxDropsSilently(self, m):
    """Broken: a byte dropped because the last one still waits is not flagged."""
    m.d.sync += self.err.overflow.eq(0)


def _stop_sampled_high(inner):
    """The cycle in which a stop bit is sampled high: a byte is complete."""
    line = inner.submodules.sync.o  # the line after the synchronizer
    return h.in_state(inner, "STOP") & (h.find(inner, "count") == 0) & line


@h.proof("uart_rx_conservation", f"UARTReceiver(divisor={DIVISOR})", "prove", 4, fail_depth=96,
       kind="conservation",
       covers="bytes with a good stop bit = bytes out + the byte waiting + overflow strobes",
       broken="a byte dropped on overflow is not flagged")
def rx_conservation_spec(variant):
    """The receiver's one-byte buffer: every byte framed by a high stop bit leaves on ``o``,
    waits in it, or is counted by an ``err.overflow`` strobe; none vanishes unflagged."""
    m = Module()
    dut, inner = _rx(m, variant, _RxDropsSilently)
    width = 4
    framed = h.count(m, _stop_sampled_high(inner), width, name="framed")
    taken = h.count(m, dut.o.valid & dut.o.ready, width, name="taken")
    dropped = h.count(m, dut.err.overflow, width, name="dropped")
    m.d.comb += Assert((framed - taken - dropped)[:width] == dut.o.valid + dut.err.overflow)
    return m


@h.breaks(UARTReceiver)
def _RxStuckInBreak(self, m):
    """Broken: after a low stop bit the receiver never leaves BREAK (it does not resync)."""
    state = h.fsm_register(m)
    with m.If(h.in_state(m, "BREAK")):
        m.d.sync += state.eq(state)


@h.progress("uart_rx_resync", f"UARTReceiver(divisor={DIVISOR})", RESYNC_CYCLES,
            fail_depth=RESYNC_CYCLES + 48,
            covers=f"after the line has been high {RESYNC_CYCLES} cycles the receiver is idle, "
                   "ready for a start bit, whatever came before (garbage, a break, a bad stop "
                   "bit)",
            broken="after a low stop bit it never leaves BREAK")
def rx_resync_spec(variant, *, bound=RESYNC_CYCLES):
    """A bounded liveness property: any line, then ``bound`` cycles of high line, and the
    receiver waits in IDLE for the next start bit."""
    m = Module()
    dut, inner = _rx(m, variant, _RxStuckInBreak)
    high_for = Signal(range(bound + 1), name="high_for")
    with m.If(~dut.rx):
        m.d.sync += high_for.eq(0)
    with m.Elif(high_for != bound):
        m.d.sync += high_for.eq(high_for + 1)
    with m.If(high_for == bound):
        m.d.comb += Assert(h.in_state(inner, "IDLE"))
    # The invariants: the state is one of the five, and a start bit's wait is half a bit.
    m.d.comb += Assert(h.fsm_register(inner) < 5)
    with m.If(h.in_state(inner, "START")):
        m.d.comb += Assert(h.find(inner, "count") < DIVISOR // 2)
    return m


@h.proof("uart_rx_errors", f"UARTReceiver(divisor={DIVISOR})", "cover", 120, kind="cover",
       covers="a framing error and an overflow, each followed by a byte received",
       broken="after a low stop bit it never leaves BREAK")
def rx_errors_cover_spec(variant):
    """Each error strobe is reachable, and after each one the receiver delivers a byte again
    (it resynchronises)."""
    m = Module()
    dut, _inner = _rx(m, variant, _RxStuckInBreak)
    arrived = dut.o.valid & ~h.past(m, dut.o.valid, name="was_valid")
    for name in ("frame", "overflow"):
        strobe = getattr(dut.err, name)
        seen = Signal(name=f"seen_{name}")
        with m.If(strobe):
            m.d.sync += seen.eq(1)
        m.d.comb += [Cover(strobe), Cover(seen & arrived)]
    return m


# -- UARTTransmitter ------------------------------------------------------------------------------

@h.breaks(UARTTransmitter)
def _TxCutsStopBit(self, m):
    """Broken: takes the next byte at the end of any bit (the stop bit of a frame is lost)."""
    m.d.comb += self.i.ready.eq(~h.find(m, "busy") | (h.find(m, "count") == 0))


@h.proof("uart_tx_frame", f"UARTTransmitter(divisor={DIVISOR})", "prove", 4, fail_depth=12,
       kind="conservation",
       covers="every byte taken leaves as its 8N1 frame, bit for bit, divisor cycles a bit; the "
              "next is taken only in the stop bit's last cycle (none lost, none cut)",
       broken="the next byte is taken at the end of any bit")
def tx_frame_spec(variant):
    """The line is the frame of the byte last taken, as :func:`tessera.golden.uart.line` draws
    it, and high between frames.

    The spec keeps the byte and its own position (bit, cycle within the bit) and asserts the
    line; the invariants tie its position to the transmitter's counters, so that induction
    closes.
    """
    m = Module()
    dut = h.pick(variant, UARTTransmitter, _TxCutsStopBit)(divisor=DIVISOR)
    m.submodules.dut = inner = h.elaborated(dut)
    h.drive(m, dut.i.valid, dut.i.payload)
    active = Signal(name="active")
    frame = Signal(FRAME_BITS - 1, name="frame")        # the data bits, then the stop bit
    bit = Signal(range(FRAME_BITS), name="bit")         # 0: the start bit
    cycle = Signal(range(DIVISOR), name="cycle")
    last = active & (bit == FRAME_BITS - 1) & (cycle == DIVISOR - 1)
    with m.If(dut.i.valid & dut.i.ready):
        m.d.sync += [active.eq(1), frame.eq(Cat(dut.i.payload, C(1, 1))), bit.eq(0),
                     cycle.eq(0)]
    with m.Elif(last):
        m.d.sync += active.eq(0)
    with m.Elif(active & (cycle == DIVISOR - 1)):
        m.d.sync += [bit.eq(bit + 1), cycle.eq(0)]
    with m.Elif(active):
        m.d.sync += cycle.eq(cycle + 1)
    expected = Signal(name="expected")
    m.d.comb += expected.eq(~active | Cat(C(0, 1), frame).bit_select(bit, 1))
    m.d.comb += [Assert(dut.tx == expected), Assert(dut.i.ready == (~active | last))]
    # The invariants.
    m.d.comb += [Assert(h.find(inner, "busy") == active), Assert(bit < FRAME_BITS)]
    with m.If(active):
        m.d.comb += [
            Assert(h.find(inner, "count") == DIVISOR - 1 - cycle),
            Assert(h.find(inner, "remaining") == FRAME_BITS - 1 - bit),
            Assert(h.find(inner, "shreg") == (frame >> bit)),
            Assert(frame[-1]),                          # the stop bit is high
        ]
    m.d.comb += Cover(last)
    return m
