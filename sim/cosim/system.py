"""Run a program on the system top inside the simulator, its commands loaded in bulk.

The cocotb test :func:`program` is the co-simulation behind
:class:`tessera.sim.system.CosimTransport`; its design is
:class:`tessera.sim.system_harness.SystemHarness` (:class:`tessera.hw.system.SystemTop`
behind a command feeder), simulated with its clock inside the simulator
(:mod:`tessera.sim.simclock`). Inputs: ``words``, the ``cmd`` words (uint32). Parameters
(:func:`tessera.sim.tb.params`): ``count``, the ``o`` words the program sends
(:func:`tessera.sim.host.system.output_count`); ``feed_words`` and ``feed_depth``, the
feeder's (``feed_depth`` entries must hold the whole program). Outputs: ``o``, every ``o``
payload (``output_layout`` ints). Report: ``simulated`` (clock cycles from the write of
``run``, a cycle before the system's first, to the last output and two more), ``seconds``
(wall time of the whole test), ``cpu_seconds`` (the simulator process's CPU time over the
same span) and ``load_cycles`` (the cycles spent filling the feeder while the system was held
in reset).

The program goes in as entries of ``feed_words`` words, one write a cycle while the system is
held in reset; then the system runs with ``cmd`` valid every cycle, and Python wakes only when
an ``o`` word arrives. Nothing here samples a signal at a clock edge: on Verilator, with the
clock inside the model, a callback at the rising edge sees the values *after* the edge
(cocotb's GPI clock shows the values before it, as Icarus does). The writes take effect at the
next edge either way, and each ``o`` word is read from the harness's registers (``got``,
``got_count``) in the read-only phase of the step they changed in.
"""

import time

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge, ValueChange
from tessera.sim import stream, tb
from tessera.sim.feeder import pack_entries
from tessera.sim.system_harness import GOT_COUNT_WIDTH

__all__ = ["program"]


async def _load(dut, entries):
    """Write ``entries`` into the feeder, one a cycle (it has room for all of them)."""
    edge = RisingEdge(dut.clk)
    dut.load_valid.value = 1
    for entry in entries:
        dut.load.value = entry
        await edge
    dut.load_valid.value = 0
    for _ in range(3):              # the last entry through the input register, the FIFO and
        await edge                  # the FIFO's output register


async def _collect(dut, count, hang_cycles=stream.HANG_CYCLES):
    """Return the next ``count`` ``o`` words, each read when ``got_count`` changes."""
    received = []
    expected = int(dut.got_count.value)
    mask = (1 << GOT_COUNT_WIDTH) - 1
    while len(received) < count:
        await stream.bounded(lambda: ValueChange(dut.got_count), clk=dut.clk,
                             cycles=hang_cycles, name="o", progress=lambda: len(received),
                             what=lambda: f"payload {count} ({len(received)} received)")
        await ReadOnly()
        expected = (expected + 1) & mask
        seen = int(dut.got_count.value)
        assert seen == expected, f"o words missed: count {seen}, expected {expected}"
        received.append(dut.got.value.to_unsigned())
    return received


@cocotb.test()
async def program(dut):
    """Load the words, run, take ``count`` words from ``o``."""
    start, cpu = time.perf_counter(), time.process_time()
    params = tb.params()
    tb.start_clock(dut)
    dut.run.value = 0
    dut.load_valid.value = 0
    dut.reset.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.reset.value = 0
    await RisingEdge(dut.clk)       # the harness registers its reset: out of it one edge later
    entries = pack_entries(tb.inputs()["words"], params["feed_words"], 32)
    if len(entries) > params["feed_depth"]:
        raise ValueError(f"the program needs {len(entries)} feeder entries, more than its "
                         f"{params['feed_depth']}")
    loading = cocotb.simtime.get_sim_time("ns")
    await _load(dut, entries)
    dut.run.value = 1
    first = cocotb.simtime.get_sim_time("ns")
    received = await _collect(dut, params["count"])
    await ClockCycles(dut.clk, 2)
    simulated = int((cocotb.simtime.get_sim_time("ns") - first) // 10)
    tb.save_outputs(o=np.array(received, dtype=np.int64))
    tb.report(simulated=simulated, seconds=time.perf_counter() - start,
              cpu_seconds=time.process_time() - cpu, load_cycles=int((first - loading) // 10))
