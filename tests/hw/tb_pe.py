"""cocotb testbench of the int8 MAC processing element (tessera.hw.pe.MACPE) against
tessera.golden.mac."""

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, FallingEdge, Timer
from tessera.golden.mac import PE_LATENCY, mac_trace, wrap_signed
from tessera.sim import tb

LATENCY = PE_LATENCY  # edges from sampling a, w, en, clr to seeing the result on acc


class PETB:
    """Drives the PE on falling edges (inputs are sampled at the next rising edge) and reads its
    outputs on falling edges, once they have settled."""

    def __init__(self, dut):
        self.dut = dut
        self.acc_width = len(dut.acc)
        tb.start_clock(dut)
        self.idle()

    def idle(self):
        for name in ("a", "w", "en", "clr"):
            getattr(self.dut, name).value = 0

    async def reset(self):
        await tb.reset(self.dut)
        await FallingEdge(self.dut.clk)

    async def stream(self, a, w, en, clr):
        """Drive one input per cycle; return (acc, a_out) as seen LATENCY and 1 cycles later."""
        n = len(a)
        accs, a_outs = [], []
        dut = self.dut
        for t in range(n + LATENCY):
            if t < n:
                dut.a.value = int(a[t])
                dut.w.value = int(w[t])
                dut.en.value = int(en[t])
                dut.clr.value = int(clr[t])
            else:
                self.idle()
            await FallingEdge(dut.clk)
            if t >= LATENCY - 1:
                accs.append(dut.acc.value.to_signed())
            a_outs.append(dut.a_out.value.to_signed())
        return np.array(accs[:n], dtype=np.int64), np.array(a_outs[:n], dtype=np.int64)

    def check(self, what, got, expected, inputs):
        bad = np.flatnonzero(got != expected)
        if bad.size:
            t = int(bad[0])
            a, w, en, clr = (int(x[t]) for x in inputs)
            raise AssertionError(
                f"{what} mismatch at cycle {t} of {len(got)} (a={a}, w={w}, en={en}, clr={clr}): "
                f"expected {int(expected[t])} (0x{int(expected[t]) & (2**64 - 1):x}), "
                f"got {int(got[t])}; {bad.size} mismatches")


def random_stream(rng, n, p_en=0.85, p_clr=0.05):
    a = rng.integers(-128, 128, n)
    w = rng.integers(-128, 128, n)
    en = rng.random(n) < p_en
    clr = rng.random(n) < p_clr
    return a, w, en, clr


async def run_and_check(pe, inputs):
    acc, a_out = await pe.stream(*inputs)
    pe.check("acc", acc, mac_trace(*inputs, acc_width=pe.acc_width), inputs)
    pe.check("a_out", a_out, np.asarray(inputs[0]), inputs)


@cocotb.test()
async def random_streams(dut):
    """Random a, w, en and clr against tessera.golden.mac.mac_trace, cycle by cycle."""
    pe = PETB(dut)
    await pe.reset()
    rng = tb.rng()
    n = tb.params().get("cycles", 2000)
    await run_and_check(pe, random_stream(rng, n))


@cocotb.test()
async def corners(dut):
    """-128*-128 runs, extremes in every combination, clear while enabled, clear while idle."""
    pe = PETB(dut)
    await pe.reset()
    extremes = [-128, -1, 0, 1, 127]
    pairs = [(x, y) for x in extremes for y in extremes]
    a = [-128] * 8 + [p[0] for p in pairs] + [5, 6, 7, -128, 0, 3]
    w = [-128] * 8 + [p[1] for p in pairs] + [5, 6, 7, -128, 0, 3]
    en = [1] * 8 + [1] * len(pairs) + [1, 1, 1, 1, 0, 1]
    clr = [1] + [0] * 7 + [1] + [0] * (len(pairs) - 1) + [0, 1, 1, 0, 1, 0]
    await run_and_check(pe, (np.array(a), np.array(w), np.array(en), np.array(clr)))


@cocotb.test()
async def a_out_is_registered(dut):
    """a_out keeps the old activation until the next clock edge, then shows the new one."""
    pe = PETB(dut)
    await pe.reset()
    values = [int(v) for v in tb.rng(2).integers(-128, 128, 16)]
    previous = 0
    for value in values:
        dut.a.value = value
        await Timer(1, unit="ns")  # the write has landed; combinational logic has settled
        assert dut.a_out.value.to_signed() == previous, (
            f"a_out changed to {dut.a_out.value.to_signed()} before the clock edge "
            f"(a={value}, previous a={previous})")
        await FallingEdge(dut.clk)
        assert dut.a_out.value.to_signed() == value, (
            f"a_out is {dut.a_out.value.to_signed()} one cycle after a={value}")
        previous = value


@cocotb.test()
async def accumulator_limit(dut):
    """A long run of -128*-128 up to the accumulator's limit, then one past it: wraps around."""
    pe = PETB(dut)
    await pe.reset()
    dut.a.value = -128
    dut.w.value = -128
    dut.clr.value = 1
    dut.en.value = 1
    await FallingEdge(dut.clk)
    dut.clr.value = 0
    # The largest number of 16384s that still fits, then one more. The clock runs in the
    # simulator and the inputs stay put, so no Python runs per cycle.
    limit = (2 ** (pe.acc_width - 1) - 1) // 16384
    await ClockCycles(dut.clk, limit - 1)
    dut.en.value = 0
    await FallingEdge(dut.clk)
    await ClockCycles(dut.clk, LATENCY)
    await FallingEdge(dut.clk)
    assert dut.acc.value.to_signed() == limit * 16384, (
        f"after {limit} products of 16384 expected {limit * 16384}, "
        f"got {dut.acc.value.to_signed()}")
    dut.en.value = 1
    await FallingEdge(dut.clk)
    dut.en.value = 0
    await ClockCycles(dut.clk, LATENCY)
    await FallingEdge(dut.clk)
    expected = int(wrap_signed((limit + 1) * 16384, pe.acc_width))
    assert dut.acc.value.to_signed() == expected, (
        f"one product past the limit expected the wrapped {expected}, "
        f"got {dut.acc.value.to_signed()}")


@cocotb.test()
async def reset_mid_stream(dut):
    """Reset in the middle of a stream clears everything; the next stream starts clean."""
    pe = PETB(dut)
    await pe.reset()
    rng = tb.rng(1)
    first = random_stream(rng, 200, p_clr=0.0)
    await run_and_check(pe, first)
    # Feed more work, then reset while the product stage is full.
    dut.a.value, dut.w.value, dut.en.value, dut.clr.value = 77, -90, 1, 0
    await FallingEdge(dut.clk)
    dut.rst.value = 1
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    pe.idle()
    assert dut.acc.value.to_signed() == 0, f"acc is {dut.acc.value.to_signed()} after reset"
    assert dut.a_out.value.to_signed() == 0, "a_out not cleared by reset"
    await FallingEdge(dut.clk)
    assert dut.acc.value.to_signed() == 0, "the product in flight survived reset"
    # Without a clear the accumulator must start from zero.
    await run_and_check(pe, random_stream(rng, 200, p_clr=0.0))
