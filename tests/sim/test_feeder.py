# amaranth: UnusedElaboratable=no
"""The co-simulation's command feeder (tessera.sim.feeder) in amaranth.sim, its host packer
against the entry layout, and the wrapper of a clock inside the simulator
(tessera.sim.simclock)."""

import numpy as np
import pytest
from amaranth.sim import Simulator
from tessera.sim.feeder import CommandFeeder, entry_layout, pack_entries
from tessera.sim.simclock import CLOCKED_TOP, clocked_wrapper


@pytest.mark.parametrize("words, count", [(1, 3), (3, 7), (16, 33), (16, 16)])
def test_pack_entries_equals_the_layout(words, count):
    seed = words * 100 + count
    values = np.random.default_rng(seed).integers(0, 1 << 32, count, dtype=np.uint64)
    layout = entry_layout(words, 32)
    expected = []
    for start in range(0, count, words):
        chunk = values[start:start + words].tolist()
        const = layout.const({"words": chunk + [0] * (words - len(chunk)),
                              "last": len(chunk) - 1})
        expected.append(const.as_value().value)
    assert pack_entries(values, words, 32) == expected, f"seed {seed}"


@pytest.mark.parametrize("kwargs, message", [
    ({"words": 0}, r"^words must be an integer of at least 1, not 0$"),
    ({"depth": 1.5}, r"^depth must be an integer of at least 1, not 1\.5$"),
    ({"width": 12}, r"^width must be 8, 16, 32 or 64, not 12$"),
])
def test_feeder_parameters(kwargs, message):
    with pytest.raises(TypeError, match=message):
        CommandFeeder(**kwargs)


def _feed(dut, entries, *, gaps, pause, cycles, seed):
    """Write ``entries`` into ``dut.i`` (with random gaps when ``gaps``), read ``dut.o`` with
    ``ready`` low where ``pause(cycle)`` says; return (words, the cycle of each, the cycle
    the last entry was written)."""
    rng = np.random.default_rng(seed)
    got, when, loaded = [], [], []

    async def producer(ctx):
        for entry in entries:
            while gaps and rng.random() < 0.4:
                ctx.set(dut.i.valid, 0)
                await ctx.tick()
            ctx.set(dut.i.payload.as_value(), entry)
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
        ctx.set(dut.i.valid, 0)
        loaded.append(True)

    async def consumer(ctx):
        for cycle in range(cycles):
            ctx.set(dut.o.ready, int(not pause(cycle)))
            _, _, valid, ready, payload = await ctx.tick().sample(dut.o.valid, dut.o.ready,
                                                                   dut.o.payload)
            if valid and ready:
                got.append(payload)
                when.append(cycle)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run_until(1e-6 * (cycles + 2))
    assert loaded, "the producer did not finish"
    return got, when


@pytest.mark.parametrize("seed", [1, 2])
def test_feeder_keeps_order_under_gaps_and_back_pressure(seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 1 << 32, 45, dtype=np.uint64)
    dut = CommandFeeder(words=4, width=32, depth=3)
    stalls = rng.random(400) < 0.5
    got, _ = _feed(dut, pack_entries(values, 4, 32), gaps=True, pause=lambda c: stalls[c],
                   cycles=400, seed=seed)
    assert got == values.tolist(), f"seed {seed}"


def test_a_preloaded_feeder_sends_a_word_every_cycle():
    """Once the FIFO holds the program, ``o`` is valid every cycle until the last word: what
    the executor assumes of ``cmd`` (a consumer that starts late sees no gap)."""
    values = np.arange(1, 38, dtype=np.uint64)
    dut = CommandFeeder(words=8, width=32, depth=8)
    start = 20                                   # the consumer is held off while entries load
    got, when = _feed(dut, pack_entries(values, 8, 32), gaps=False,
                      pause=lambda c: c < start, cycles=100, seed=0)
    assert got == values.tolist()
    assert when == list(range(start, start + len(values)))


VERILOG = """module top(a__valid, clk, rst, a__payload, b);
  input a__valid;
  wire a__valid;
  input clk;
  input rst;
  input [31:0] a__payload;
  output [3:0] b;
endmodule
"""


def test_clocked_wrapper_passes_every_port_but_the_clock():
    text = clocked_wrapper(VERILOG, "top", 10)
    assert text.startswith(f"module {CLOCKED_TOP}(a__valid, rst, a__payload, b);")
    assert "  input [31:0] a__payload;" in text and "  output [3:0] b;" in text
    assert "reg clk = 1'b0;" in text and "always #5 clk = ~clk;" in text
    assert "top core (.a__valid(a__valid), .clk(clk), .rst(rst), .a__payload(a__payload), " \
           ".b(b));" in text
    assert "always #2.5 clk" in clocked_wrapper(VERILOG, "top", 5)


@pytest.mark.parametrize("module, period, message", [
    ("core", 10, r"^the Verilog has no module 'core'$"),
    ("top", 0, r"^clock period must be a positive number of ns, not 0$"),
    ("top", 1e-4, r"^half the clock period must be a whole number of ps"),
])
def test_clocked_wrapper_errors(module, period, message):
    with pytest.raises(ValueError, match=message):
        clocked_wrapper(VERILOG, module, period)


def test_clocked_wrapper_needs_a_clock():
    with pytest.raises(ValueError, match=r"^module 'top' has no one-bit input 'clk'$"):
        clocked_wrapper(VERILOG.replace("clk", "clock"), "top", 10)
