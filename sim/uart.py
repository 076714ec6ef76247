"""A UART line driven and read bit by bit from cocotb (8N1, as :mod:`tessera.golden.uart`).

Used by the UART testbenches and, later, by the simulated board behind a pseudo-terminal. Both
classes sleep on clock counts and line edges, so a byte costs about a dozen wake-ups, not
``10 * divisor``.
"""

__all__ = ["UartSink", "UartSource", "attach"]


class UartSource:
    """Drive the line ``signal`` with bytes, ``divisor`` cycles of ``clock`` a bit.

    Bytes are written whole frames at a time and in the order :meth:`write` was called; the line
    idles high between calls. Given the clock's ``period_ns``, each bit costs one timer instead
    of ``divisor`` clock edges (the line then changes half a period after an edge, as it would
    from a host's clock).
    """

    def __init__(self, signal, clock, divisor, *, period_ns=None):
        self.signal, self.clock, self.divisor = signal, clock, divisor
        self.period_ns = period_ns
        self.signal.value = 1

    async def _bit_time(self, bits=1):
        from cocotb.triggers import ClockCycles, Timer

        if self.period_ns is None:
            await ClockCycles(self.clock, bits * self.divisor)
        else:
            await Timer(bits * self.divisor * self.period_ns, unit="ns")

    async def write(self, data, *, gaps=None, stop_bits=None):
        """Send ``data`` (bytes or ints); ``gaps`` idle cycles before each byte and
        ``stop_bits`` levels (0 makes a framing error) as :func:`tessera.golden.uart.line`."""
        from cocotb.triggers import ClockCycles, FallingEdge
        from tessera.golden.uart import frame_bits

        if self.period_ns is not None:
            await FallingEdge(self.clock)                  # timers from here stay off the edges
        for n, byte in enumerate(data):
            if gaps is not None and gaps[n]:
                self.signal.value = 1                      # the line idles high in a gap
                await ClockCycles(self.clock, gaps[n])
            bits = list(frame_bits(byte))
            if stop_bits is not None:
                bits[-1] = stop_bits[n]
            for bit in bits:
                self.signal.value = bit
                await self._bit_time()
        self.signal.value = 1


class UartSink:
    """Collect the bytes on the line ``signal``, sampled in the middle of each bit.

    ``received`` (a bytearray) grows as frames arrive; ``frame_errors`` counts frames whose
    stop bit was low (dropped). :meth:`read` waits for a number of bytes with a bound. Given
    the clock's ``period_ns``, bit times are timers, not ``divisor`` clock edges each.
    """

    def __init__(self, signal, clock, divisor, *, period_ns=None):
        import cocotb

        self.signal, self.clock, self.divisor = signal, clock, divisor
        self.period_ns = period_ns
        self.received = bytearray()
        self.frame_errors = 0
        self._task = cocotb.start_soon(self._run())

    async def _wait(self, cycles):
        from cocotb.triggers import ClockCycles, Timer

        if self.period_ns is None:
            await ClockCycles(self.clock, cycles)
        else:
            await Timer(cycles * self.period_ns, unit="ns")

    async def _run(self):
        from cocotb.triggers import FallingEdge, RisingEdge

        while True:
            if self.signal.value == 1:
                await FallingEdge(self.signal)
            await self._wait(self.divisor // 2)
            if self.signal.value != 0:
                continue                                   # a glitch
            byte = 0
            for k in range(8):
                await self._wait(self.divisor)
                byte |= int(self.signal.value) << k
            await self._wait(self.divisor)
            if self.signal.value == 1:
                self.received.append(byte)
            else:
                self.frame_errors += 1
                while self.signal.value == 0:
                    await RisingEdge(self.signal)

    async def read(self, count, *, timeout_bits=200):
        """Return the first ``count`` bytes received; fail if the line stays quiet for
        ``timeout_bits`` bit times without a new byte (a hang, not a slow design)."""
        from cocotb.triggers import ClockCycles

        last, quiet = len(self.received), 0
        while len(self.received) < count:
            await ClockCycles(self.clock, self.divisor)
            if len(self.received) != last:
                last, quiet = len(self.received), 0
            quiet += 1
            if quiet > timeout_bits:
                raise AssertionError(f"UART line quiet for {timeout_bits} bit times with "
                                     f"{len(self.received)} of {count} bytes received")
        return bytes(self.received[:count])

    def stop(self):
        self._task.cancel()


async def attach(dut, divisor, *, period_ns=None):
    """Connect a host to a UART design's pins: the host's two ends of the line, after reset.

    Starts ``dut.clk`` (:func:`tessera.sim.tb.start_clock`, 10 ns unless ``period_ns`` is given),
    holds ``dut.rx`` idle (high) through :func:`tessera.sim.tb.reset`, and returns
    ``(source, sink)``: a :class:`UartSource` driving ``rx`` and a :class:`UartSink` reading
    ``tx``. Given ``period_ns``, both time a bit with one timer instead of counting clock edges.
    """
    from tessera.sim import tb

    tb.start_clock(dut, period_ns or 10)
    dut.rx.value = 1
    await tb.reset(dut)
    return (UartSource(dut.rx, dut.clk, divisor, period_ns=period_ns),
            UartSink(dut.tx, dut.clk, divisor, period_ns=period_ns))
