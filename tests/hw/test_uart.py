# amaranth: UnusedElaboratable=no
"""The UART against the line definition (:mod:`tessera.golden.uart`), in ``amaranth.sim``.

The transmitter's line must equal :func:`~tessera.golden.uart.line` cycle for cycle; the receiver
must take from any line exactly what :func:`~tessera.golden.uart.receive` takes, including lines
whose bit length is off by a few percent, glitches, framing errors and breaks.
"""

import itertools
import random

import numpy as np
import pytest
from amaranth.sim import Simulator
from tessera.golden import uart
from tessera.golden.errors import TesseraError
from tessera.hw.uart import UARTReceiver, UARTTransmitter

SYNC = 2          # the receiver's input synchronizer delays the line by two cycles


def _transmit(divisor, data, gaps):
    """Run the transmitter; return the line (one level per cycle, after each clock edge) and
    the indices into it at which each byte was accepted."""
    dut = UARTTransmitter(divisor=divisor)
    levels, accepted = [], []
    total = sum(gaps) + len(data) * uart.FRAME_BITS * divisor + 4 * divisor

    async def producer(ctx):
        for byte, gap in zip(data, gaps, strict=True):
            if gap:
                await ctx.tick().repeat(gap)
            ctx.set(dut.i.payload, byte)
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
            ctx.set(dut.i.valid, 0)

    async def probe(ctx):
        for index in range(total):
            _, _, valid, ready = await ctx.tick().sample(dut.i.valid, dut.i.ready)
            if valid and ready:
                accepted.append(index)
            levels.append(ctx.get(dut.tx))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(probe)
    sim.run()
    return np.array(levels, dtype=np.uint8), accepted


@pytest.mark.parametrize("divisor", [4, 5, 13, 104])
@pytest.mark.parametrize("seed", [1, 2])
def test_transmitter_line_is_exact(divisor, seed):
    rng = random.Random(seed)
    data = [0x00, 0xFF, 0x55, 0xAA] + [rng.randrange(256) for _ in range(8)]
    gaps = [0] + [rng.choice([0, 0, 1, 3 * divisor, 17]) for _ in data[1:]]
    levels, accepted = _transmit(divisor, data, gaps)
    frame = uart.FRAME_BITS * divisor
    assert len(accepted) == len(data)
    expected = np.ones_like(levels)
    for byte, start in zip(data, accepted, strict=True):
        expected[start:start + frame] = uart.line([byte], divisor)
    np.testing.assert_array_equal(levels, expected, err_msg=f"seed {seed}")
    # A byte starts the cycle after it is accepted, never before the previous stop bit ends.
    assert all(b - a >= frame for a, b in itertools.pairwise(accepted))
    assert uart.receive(levels, divisor) == (data, 0)


@pytest.mark.parametrize("divisor", [4, 6])
def test_transmitter_runs_at_the_full_line_rate(divisor):
    data = [0x3C, 0xC3, 0x00, 0xFF, 0x81]
    levels, accepted = _transmit(divisor, data, [0] * len(data))
    frame = uart.FRAME_BITS * divisor
    assert accepted == [accepted[0] + n * frame for n in range(len(data))]
    np.testing.assert_array_equal(levels[accepted[0]:accepted[0] + len(data) * frame],
                                  uart.line(data, divisor))


def _receive(divisor, levels, *, ready=None, extra=0):
    """Drive ``levels`` into the receiver; return (bytes, frame strobes, overflow strobes)."""
    dut = UARTReceiver(divisor=divisor)
    got, frames, overflows = [], [0], [0]

    async def drive(ctx):
        for level in levels:
            ctx.set(dut.rx, int(level))
            await ctx.tick()
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(SYNC + 2 + extra)

    async def sink(ctx):
        for cycle in range(len(levels) + SYNC + 1 + extra):
            ctx.set(dut.o.ready, 1 if ready is None else ready(cycle))
            _, _, valid, ready_now, payload, err = await ctx.tick().sample(
                dut.o.valid, dut.o.ready, dut.o.payload, dut.err)
            if valid and ready_now:
                got.append(payload)
            frames[0] += err.frame
            overflows[0] += err.overflow

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(drive)
    sim.add_testbench(sink)
    sim.run()
    return got, frames[0], overflows[0]


def _skewed_line(data, divisor, skew, gaps):
    """The line of ``data`` at a bit rate off by ``skew`` (0.03 = bits 3% longer)."""
    levels = []
    for byte, gap in zip(data, gaps, strict=True):
        levels.extend([1] * gap)
        bits = uart.frame_bits(byte)
        length = round(uart.FRAME_BITS * divisor * (1 + skew))
        levels.extend(bits[min(int(t / (divisor * (1 + skew))), 9)] for t in range(length))
    return np.array(levels, dtype=np.uint8)


@pytest.mark.parametrize("divisor", [4, 7, 16, 217])
@pytest.mark.parametrize("skew", [0.0, 0.03, -0.03])
def test_receiver_matches_the_definition(divisor, skew):
    rng = random.Random(divisor)
    data = [0x00, 0xFF, 0x80, 0x01] + [rng.randrange(256) for _ in range(10)]
    gaps = [rng.choice([0, 0, 1, 5, divisor]) for _ in data]
    levels = _skewed_line(data, divisor, skew, gaps)
    assert uart.receive(levels, divisor) == (data, 0)
    got, frames, overflows = _receive(divisor, levels)
    assert (got, frames, overflows) == (data, 0, 0)


@pytest.mark.parametrize("divisor", [4, 9])
def test_receiver_on_a_hostile_line(divisor):
    """Glitches, framing errors, a long break and random garbage: the receiver takes exactly
    what the definition takes, then recovers for clean bytes."""
    rng = np.random.default_rng(divisor)
    parts = [
        uart.line([0x12], divisor),
        np.array([1] * 3 + [0] * (divisor // 2 - 1) + [1] * 3, dtype=np.uint8),   # glitch
        uart.line([0x34, 0x56], divisor, stop_bits=[0, 1]),                         # frame error
        np.zeros(5 * divisor, dtype=np.uint8),                                      # break
        np.ones(3 * divisor, dtype=np.uint8),
        rng.integers(0, 2, 40 * divisor).astype(np.uint8),                          # garbage
        np.ones(12 * divisor, dtype=np.uint8),
        uart.line([0xA5, 0x5A, 0x00], divisor, gaps=[0, 2, 0]),
    ]
    levels = np.concatenate(parts)
    expected, frame_errors = uart.receive(levels, divisor)
    assert frame_errors >= 1 and expected[0] == 0x12 and expected[-3:] == [0xA5, 0x5A, 0x00]
    got, frames, overflows = _receive(divisor, levels)
    assert (got, frames, overflows) == (expected, frame_errors, 0)


def test_receiver_overflow_drops_the_new_byte():
    divisor = 4
    data = [0x11, 0x22, 0x33]
    levels = uart.line(data, divisor)
    # Nothing is taken until the third byte has arrived: 0x11 waits, 0x22 and 0x33 overflow.
    release = len(levels) + SYNC + 1
    got, frames, overflows = _receive(divisor, levels, ready=lambda c: int(c >= release), extra=4)
    assert (got, frames, overflows) == ([0x11], 0, 2)


def test_loopback_at_full_rate():
    """Transmitter into receiver, bytes back to back: every byte arrives, in order."""
    divisor = 4
    data = list(range(256))
    levels, _ = _transmit(divisor, data, [0] * len(data))
    got, frames, overflows = _receive(divisor, levels)
    assert (got, frames, overflows) == (data, 0, 0)


@pytest.mark.parametrize("component", [UARTReceiver, UARTTransmitter])
def test_divisor_is_validated(component):
    with pytest.raises(TesseraError, match=r"^divisor must be between 4 and 65535, not 3$"):
        component(divisor=3)
    with pytest.raises(TypeError, match=r"^divisor must be an integer, not 4.0$"):
        component(divisor=4.0)
    assert component(divisor=217).divisor == 217


def test_divisor_for():
    assert uart.divisor_for(12_000_000, 3_000_000) == 4        # iCEBreaker's FT2232H, exact
    assert uart.divisor_for(25_000_000, 1_000_000) == 25       # ULX3S, exact
    assert uart.divisor_for(25_000_000, 115_200) == 217        # 0.01% off
    with pytest.raises(TesseraError, match=r"needs at least 4 clock cycles a bit"):
        uart.divisor_for(12_000_000, 6_000_000)
    with pytest.raises(TesseraError, match=r"is not reachable from 25000000 Hz"):
        uart.divisor_for(25_000_000, 3_000_000)
