"""cocotb testbench of the system's max-pool unit (tessera.hw.system.pool) against golden.

A Python model of the activation memory answers the unit's synchronous read port; every case is
checked for its values (:func:`tessera.golden.pool.max_pool`), for the memory outside the output
being untouched, and for its cycles (the unit's contract, which the executor's POOL formula
builds on).
"""

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from tessera.golden.isa import Pool
from tessera.golden.pool import max_pool
from tessera.hw.system.pool import ADDRESS_STAGES
from tessera.hw.system.protocol import args_layout
from tessera.sim import tb

MEMORY = 1024


async def run_case(dut, instr, mem):
    """Send one command and serve its memory; return (edge of the last write, edge ready)."""
    layout = args_layout(instr.op)
    await FallingEdge(dut.clk)
    dut.cmd__payload.value = layout.const(instr.args()).as_bits()
    dut.cmd__valid.value = 1
    await ReadOnly()
    assert int(dut.cmd__ready.value), "the unit is not ready for a command"
    await RisingEdge(dut.clk)           # edge 0: the transfer
    edge, last_write, pending = 0, None, None
    while True:
        await FallingEdge(dut.clk)
        dut.cmd__valid.value = 0
        if pending is not None:
            dut.rd_data.value = int(mem[pending])
        await ReadOnly()
        if int(dut.wr_en.value):
            mem[int(dut.wr_addr.value)] = dut.wr_data.value.to_signed()
            last_write = edge
        if int(dut.cmd__ready.value):
            return last_write, edge
        assert edge < 100_000, f"the pool unit hangs on {instr}"
        pending = int(dut.rd_addr.value) if int(dut.rd_en.value) else None
        await RisingEdge(dut.clk)
        edge += 1


@cocotb.test()
async def random_windows(dut):
    """Random maps, windows and strides, back to back, against golden values and cycles."""
    p = tb.params()
    tb.start_clock(dut)
    dut.cmd__valid.value = 0
    dut.rd_data.value = 0
    await tb.reset(dut)
    rng = tb.rng(p.get("salt", 0))
    for n in range(p.get("cases", 10)):
        h, w = int(rng.integers(1, 9)), int(rng.integers(1, 9))
        instr = Pool(in_base=int(rng.integers(0, 200)), out_base=600 + int(rng.integers(0, 100)),
                     h=h, w=w, c=int(rng.integers(1, 5)),
                     kernel=int(rng.integers(1, min(h, w) + 1)), stride=int(rng.integers(1, 4)))
        before = rng.integers(-128, 128, size=MEMORY).astype(np.int8)
        mem = before.copy()
        last_write, ready = await run_case(dut, instr, mem)
        image = before[instr.in_base:instr.in_base + h * w * instr.c].reshape(1, h, w, instr.c)
        expected = max_pool(image, instr.kernel, instr.stride).ravel()
        out = slice(instr.out_base, instr.out_base + expected.size)
        bad = np.flatnonzero(mem[out] != expected)
        assert not bad.size, (f"case {n} {instr}: output {int(bad[0])} is {int(mem[out][bad[0]])}, "
                              f"expected {int(expected[bad[0]])}")
        mem[out] = before[out]
        assert np.array_equal(mem, before), f"case {n} {instr}: wrote outside its output"
        last = ADDRESS_STAGES + expected.size * instr.kernel ** 2
        assert (last_write, ready) == (last, last + 1), (
            f"case {n} {instr}: last write at {last_write}, ready at {ready}; expected "
            f"{last}, {last + 1}")
