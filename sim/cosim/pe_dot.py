"""Stream dot products through one MAC PE (tessera.hw.pe.MACPE).

Inputs: ``a`` and ``w``, int8 arrays of shape (count, length). Output: ``dots`` (count,), the
accumulator read after the last product of each dot product. Report: ``cycles`` simulated and
``seconds`` of wall time spent in the simulation loop.
"""

import time

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge
from tessera.golden.mac import PE_LATENCY as LATENCY
from tessera.sim import tb


@cocotb.test()
async def dot_products(dut):
    data = tb.inputs()
    a, w = data["a"].astype(np.int64), data["w"].astype(np.int64)
    count, length = a.shape
    a_flat, w_flat = a.ravel().tolist(), w.ravel().tolist()
    tb.start_clock(dut)
    dut.en.value = 0
    dut.clr.value = 0
    await tb.reset(dut)
    await FallingEdge(dut.clk)

    dots = []
    total = count * length
    start = time.perf_counter()
    dut.en.value = 1
    # Inputs are written on falling edges and sampled at the next rising edge; the accumulator
    # read at falling edge t holds the sum of every product up to input t - LATENCY + 1.
    for t in range(total + LATENCY - 1):
        if t < total:
            dut.a.value = a_flat[t]
            dut.w.value = w_flat[t]
            dut.clr.value = int(t % length == 0)
        else:
            dut.en.value = 0
        await FallingEdge(dut.clk)
        done = t - (LATENCY - 1)
        if done >= 0 and done % length == length - 1:
            dots.append(dut.acc.value.to_signed())
    seconds = time.perf_counter() - start
    tb.save_outputs(dots=np.array(dots, dtype=np.int64))
    tb.report(cycles=total + LATENCY - 1, seconds=seconds)
