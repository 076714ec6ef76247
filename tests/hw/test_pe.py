# amaranth: UnusedElaboratable=no
"""cocotb testbenches of the int8 MAC PE, on Icarus and Verilator."""

import numpy as np
import pytest
from amaranth import Module, Signal, signed
from amaranth.sim import Simulator
from tessera.golden.mac import PE_LATENCY, wrap_signed
from tessera.hw.pe import MACPE, booth_multiply
from tessera.sim.runner import Design, simulate

SIMULATORS = ["icarus", "verilator"]


@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("acc_width", [32, 18])
def test_pe(sim, acc_width):
    simulate(Design(MACPE, acc_width=acc_width), "tests.hw.tb_pe", sim=sim,
             params={"cycles": 3000})


@pytest.mark.parametrize("sim", SIMULATORS)
def test_pe_lut_multiplier(sim):
    """The Booth (LUT) multiplier behaves exactly as the DSP one, cycle for cycle."""
    simulate(Design(MACPE, acc_width=32, multiplier="lut"), "tests.hw.tb_pe", sim=sim,
             params={"cycles": 3000})


def test_booth_multiply_is_exact():
    """Every one of the 65,536 int8 pairs, -128 * -128 included."""
    a, w, p = Signal(signed(8)), Signal(signed(8)), Signal(signed(16))
    m = Module()
    m.d.comb += p.eq(booth_multiply(a, w))
    wrong = []

    async def testbench(ctx):
        for x in range(-128, 128):
            ctx.set(a, x)
            for y in range(-128, 128):
                ctx.set(w, y)
                if ctx.get(p) != x * y:
                    wrong.append((x, y, ctx.get(p)))

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()
    assert not wrong, f"{len(wrong)} wrong products, first {wrong[0]} (a, w, a*w)"


def test_pe_latency_is_the_cycle_models():
    """The PE's pipeline is the constant the systolic cycle model adds (golden.mac.PE_LATENCY)."""
    assert MACPE.LATENCY == PE_LATENCY == 4


@pytest.mark.parametrize("multiplier", ["dsp", "lut"])
def test_pe_psum_mode(multiplier):
    """With psum_in: acc = psum (LATENCY - 1 cycles after a, w) + a * w (if en), and it wraps;
    acc shows it exactly LATENCY edges after a and w, not one earlier or later."""
    pe = MACPE(acc_width=18, psum_in=True, multiplier=multiplier)
    rng = np.random.default_rng(11)
    n = 400
    a, w = rng.integers(-128, 128, n), rng.integers(-128, 128, n)
    en = rng.random(n) < 0.8
    psum = rng.integers(-(2 ** 17), 2 ** 17, n)
    got = []

    lag = PE_LATENCY - 1                             # psum trails a and w by this many cycles

    async def testbench(ctx):
        for t in range(n + PE_LATENCY):
            if t < n:
                ctx.set(pe.a, int(a[t]))
                ctx.set(pe.w, int(w[t]))
                ctx.set(pe.en, int(en[t]))
            if lag <= t < n + lag:
                ctx.set(pe.psum, int(psum[t - lag]))
            await ctx.tick()
            if t >= lag:
                got.append(ctx.get(pe.acc))

    sim = Simulator(pe)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    expected = wrap_signed(psum + np.where(en, a * w, 0), 18)
    got = np.array(got[:n])
    bad = np.flatnonzero(got != expected)
    assert not bad.size, (f"cycle {bad[0]}: a={a[bad[0]]} w={w[bad[0]]} en={en[bad[0]]} "
                          f"psum={psum[bad[0]]}: expected {expected[bad[0]]}, got {got[bad[0]]}")


@pytest.mark.parametrize(("kwargs", "exception", "error"), [
    ({"multiplier": "booth"}, ValueError, "multiplier must be one of 'dsp', 'lut', not 'booth'"),
    ({"psum_in": 1}, TypeError, "psum_in must be a bool, not 1"),
])
def test_pe_rejects_bad_options(kwargs, exception, error):
    with pytest.raises(exception, match=f"^{error}$"):
        MACPE(**kwargs)


@pytest.mark.parametrize(("acc_width", "error"), [
    (15, "acc_width must be between 16 and 64, not 15"),
    (65, "acc_width must be between 16 and 64, not 65"),
    ("32", "acc_width must be an integer, not '32'"),
])
def test_pe_rejects_bad_width(acc_width, error):
    with pytest.raises((TypeError, ValueError), match=error):
        MACPE(acc_width=acc_width)


def test_pe_signature():
    pe = MACPE(acc_width=24)
    assert pe.acc.shape().width == 24 and pe.acc.shape().signed
    assert {name for name, _ in pe.signature.members.items()} == {
        "a", "w", "en", "clr", "a_out", "acc"}
    chained = MACPE(acc_width=24, psum_in=True)
    assert {name for name, _ in chained.signature.members.items()} == {
        "a", "w", "en", "psum", "a_out", "acc"}
