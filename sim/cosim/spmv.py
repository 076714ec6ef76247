"""Run command streams on the sparse PE array (tessera.hw.sparse.SparseArray), cocotb side.

:class:`SparseHost` drives the array's command stream ``i`` and collects its output stream
``o`` with the drivers of :mod:`tessera.sim.stream` and seeded pause patterns; they wait on the
array's ``ready`` and ``valid`` instead of polling every cycle, so long layers cost no Python per
cycle. The tests (tests/hw/tb_sparse.py) and the product test below share it.

The product test :func:`run_program` (what ``tessera spmv`` and the demo run) takes

- inputs ``words``: the command words as a ``(count, chunks)`` uint64 array
  (:func:`tessera.sim.host.words.words_to_array`);
- params ``width`` (bits per word), ``outputs`` (words the commands make the array send),
  optional ``ready`` and ``valid`` pause patterns and ``limit`` (the hang limit in cycles,
  default 1,000,000);

and hands back the output words (``out``, int64, signed 32-bit values) and a report with the
simulated ``cycles`` and the wall ``seconds`` spent simulating them.
"""

import time

import cocotb
import cocotb.simtime
import numpy as np
from cocotb.triggers import FallingEdge
from tessera.sim import stream, tb
from tessera.sim.host.words import array_to_words

CLOCK_NS = stream.CLOCK_NS


class SparseHost:
    """Command source and output sink of a SparseArray, inside a cocotb test.

    Parameters
    ----------
    dut
        The array's top level.
    valid, ready : tuple
        :func:`tessera.sim.stream.pause_pattern` arguments for ``i.valid`` gaps and
        ``o.ready`` back-pressure.
    seed : int
        Seed of the random patterns (``seed`` for ``valid``, ``seed + 1`` for ``ready``).
    limit : int
        Hang limit (``hang_cycles`` of :mod:`tessera.sim.stream`): cycles without a command
        taken or an output received after which a wait fails instead of waiting for ever.
    """

    def __init__(self, dut, *, valid=("always",), ready=("always",), seed=0, limit=1_000_000):
        self.dut = dut
        self.limit = int(limit)
        self.source = stream.StreamSource(dut, "i", pause=stream.pause_pattern(*valid, seed=seed),
                                          hang_cycles=self.limit)
        self.sink = stream.StreamSink(dut, "o", pause=stream.pause_pattern(*ready, seed=seed + 1),
                                      signed=True, hang_cycles=self.limit)

    @property
    def sent(self):
        """Command words taken by the array so far."""
        return self.source.sent

    @property
    def received(self):
        """Output words received so far (a list the caller may clear)."""
        return self.sink.received

    @property
    def cycle(self):
        """The current simulation time in clock cycles."""
        return cocotb.simtime.get_sim_time("ns") // CLOCK_NS

    async def reset(self, cycles=2):
        """Drop the commands not yet sent, reset the array, wait for its accumulator sweep."""
        self.source.clear()
        await tb.reset(self.dut, cycles)
        await self.wait_idle()

    async def wait_idle(self):
        """Wait until the array takes commands again (``busy`` low)."""
        busy = self.dut.busy
        if str(busy.value) == "1":
            await stream.bounded(lambda: FallingEdge(busy), clk=self.dut.clk,
                                 cycles=self.limit, name="busy", what="the array to finish",
                                 progress=lambda: (self.source.sent, self.sink.transfers))

    async def send(self, words):
        """Send command words (ints) in order; return when the last one has been taken."""
        self.source.send(words)
        await self.source.wait_idle()

    async def outputs(self, count):
        """Wait until ``count`` output words have arrived in total; return them all."""
        return await self.sink.wait_for(count)

    def stop(self):
        self.source.stop()
        self.sink.stop()


@cocotb.test()
async def run_program(dut):
    """Send the command words, collect the expected number of outputs, report the time."""
    p = tb.params()
    words = array_to_words(tb.inputs()["words"])
    tb.start_clock(dut, CLOCK_NS)
    host = SparseHost(dut, valid=tuple(p.get("valid", ["always"])),
                      ready=tuple(p.get("ready", ["always"])), seed=p.get("seed", 0),
                      limit=p.get("limit", 1_000_000))
    await host.reset()
    first = host.cycle
    start = time.perf_counter()
    sender = cocotb.start_soon(host.send(words))
    out = await host.outputs(p["outputs"])
    await sender
    commands = host.sent
    await host.wait_idle()
    seconds = time.perf_counter() - start
    tb.save_outputs(out=np.array(out, dtype=np.int64))
    tb.report(cycles=int(host.cycle - first), seconds=seconds, commands=commands)
