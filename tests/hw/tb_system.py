"""cocotb testbenches of the system top (tessera.hw.system.SystemTop).

The host side (tests/hw/test_system.py) compiles programs and runs them on the golden executor;
this side sends the ``cmd`` words in bulk and checks every ``o`` word against the executor's:
READ data (the logits), BARRIER tags and STATS words, which carry the cycles of every
instruction. Words flagged loose (cycle counts under gaps and back-pressure) must only be at
least the executor's.
"""

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles
from tessera.sim import tb
from tessera.sim.stream import StreamSink, StreamSource, pause_pattern


def _pause(kind, seed):
    return None if kind == "always" else pause_pattern(kind, seed)


def _check(got, expected, loose, what):
    assert len(got) == len(expected), f"{what}: {len(got)} o words, expected {len(expected)}"
    bad = [(i, hex(g), hex(e)) for i, (g, e, lo) in enumerate(zip(got, expected, loose))
           if (g < e if lo else g != e)]
    assert not bad, f"{what}: o words differ from the executor (index, got, expected): {bad[:8]}"


async def _run(dut, words, expected, loose, params, what):
    seed = params.get("pattern_seed", 0)
    source = StreamSource(dut, "cmd", pause=_pause(params.get("valid", "always"), seed))
    sink = StreamSink(dut, "o", pause=_pause(params.get("ready", "always"), seed + 1))
    source.send(np.asarray(words, dtype=np.int64))
    got = await sink.wait_for(len(expected))
    await ClockCycles(dut.clk, 8)
    assert len(sink.received) == len(expected), f"{what}: extra o words"
    _check([int(w) for w in got], [int(w) for w in expected], loose, what)
    source.stop()
    sink.stop()
    return len(expected)


@cocotb.test()
async def programs(dut):
    """Every program of the inputs, in order, with no reset between them."""
    tb.start_clock(dut)
    await tb.reset(dut)
    params, data = tb.params(), tb.inputs()
    checked = 0
    for n in range(params["programs"]):
        checked += await _run(dut, data[f"words{n}"], data[f"expected{n}"], data[f"loose{n}"],
                              params, f"program {n}")
    tb.report(checked=checked)


@cocotb.test()
async def reset_mid_program(dut):
    """Part of a program, a reset in the middle of it, then a clean program from scratch."""
    tb.start_clock(dut)
    await tb.reset(dut)
    params, data = tb.params(), tb.inputs()
    source = StreamSource(dut, "cmd")
    sink = StreamSink(dut, "o")
    source.send(np.asarray(data["abandoned"], dtype=np.int64))
    await ClockCycles(dut.clk, params["reset_after"])
    source.clear()
    await tb.reset(dut)
    source.stop()
    sink.stop()
    checked = await _run(dut, data["words0"], data["expected0"], data["loose0"], params,
                         "after reset")
    tb.report(checked=checked)
