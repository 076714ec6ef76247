"""cocotb testbench of the UART: bytes driven bit by bit into the echo design come back."""

import cocotb
from cocotb.triggers import ClockCycles
from tessera.golden.uart import line, receive
from tessera.sim import tb
from tessera.sim.uart import attach


@cocotb.test()
async def echo(dut):
    p = tb.params()
    divisor = p["divisor"]
    source, sink = await attach(dut, divisor)
    rng = tb.rng()

    data = bytes([0x00, 0xFF, 0x55, 0xAA]) + bytes(rng.integers(0, 256, p["count"]).tolist())
    gaps = [int(g) for g in rng.choice([0, 0, 0, 1, divisor, 7 * divisor], len(data))]
    # A framing error in the middle: that byte must be dropped, the rest must come back.
    stop_bits = [1] * len(data)
    bad = len(data) // 2
    stop_bits[bad] = 0
    gaps[bad + 1] = 2 * divisor      # the line idles after the bad frame, so the next byte counts
    await source.write(data, gaps=gaps, stop_bits=stop_bits)
    expected, frame_errors = receive(line(data, divisor, gaps=gaps, stop_bits=stop_bits), divisor)
    expected = bytes(expected)
    assert expected == data[:bad] + data[bad + 1:] and frame_errors == 1
    got = await sink.read(len(expected))
    await ClockCycles(dut.clk, 12 * divisor)
    if got != expected:
        first = next(i for i in range(len(got)) if got[i] != expected[i])
        raise AssertionError(f"echo differs at byte {first}: sent {expected[first]:#04x}, "
                             f"got {got[first]:#04x} (seed {cocotb.RANDOM_SEED})")
    assert len(sink.received) == len(expected), "bytes beyond those sent came back"
    assert int(dut.frame_errors.value) == 1 and int(dut.overflows.value) == 0
    tb.report(bytes=len(expected))
