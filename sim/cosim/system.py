"""Run a program on the system top (:class:`tessera.hw.system.SystemTop`) inside the simulator.

The cocotb test :func:`program` is the co-simulation behind
:class:`tessera.sim.system.CosimTransport`. Inputs: ``words``, the ``cmd`` words (uint32).
Parameters (:func:`tessera.sim.tb.params`): ``count``, the ``o`` words the program sends
(:func:`tessera.sim.host.system.output_count`). Outputs: ``o``, every ``o`` payload
(``output_layout`` ints). Report: ``simulated`` (clock cycles) and ``seconds`` (wall time).

The words go in as one bulk transfer (:class:`tessera.sim.stream.StreamSource`); no Python runs
while the system computes.
"""

import time

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles
from tessera.sim import stream, tb

__all__ = ["program"]


@cocotb.test()
async def program(dut):
    """Send the words, take ``count`` words from ``o``."""
    start = time.perf_counter()
    tb.start_clock(dut)
    await tb.reset(dut)
    first = cocotb.simtime.get_sim_time("ns")
    source = stream.StreamSource(dut, "cmd")
    sink = stream.StreamSink(dut, "o")
    source.send(np.asarray(tb.inputs()["words"], dtype=np.int64))
    received = await sink.wait_for(tb.params()["count"])
    await ClockCycles(dut.clk, 2)
    simulated = int((cocotb.simtime.get_sim_time("ns") - first) // 10)
    tb.save_outputs(o=np.array(received, dtype=np.int64))
    tb.report(simulated=simulated, seconds=time.perf_counter() - start)
