"""Run command streams on the sparse PE array (tessera.hw.sparse.SparseArray), cocotb side.

:class:`SparseHost` drives the array's command stream ``i`` and collects its output stream
``o`` with seeded valid/ready patterns; with the default always-valid/always-ready patterns it
waits on the array's signals instead of polling every cycle, so long layers cost no Python per
cycle. The tests (tests/hw/tb_sparse.py) and the product test below share it.

The product test :func:`run_program` (what ``tessera spmv`` and the demo run) takes

- inputs ``words``: the command words as a ``(count, chunks)`` uint64 array
  (:func:`tessera.sim.host.words.words_to_array`);
- params ``width`` (bits per word), ``outputs`` (words the commands make the array send),
  optional ``ready`` and ``valid`` patterns and ``limit`` (cycles without progress that count
  as a hang, default 1,000,000);

and hands back the output words (``out``, int64, signed 32-bit values) and a report with the
simulated ``cycles`` and the wall ``seconds`` spent simulating them.
"""

import time

import cocotb
import numpy as np
from cocotb.triggers import Event, FallingEdge, First, RisingEdge, Timer
from tessera.sim import tb
from tessera.sim.host.words import array_to_words

CLOCK_NS = 10


def _high(signal):
    """True when a one-bit signal is 1 (X and Z, before reset, count as 0)."""
    return str(signal.value) == "1"


class SparseHost:
    """Command source and output sink of a SparseArray, inside a cocotb test.

    Parameters
    ----------
    dut
        The array's top level.
    valid, ready : tuple
        :func:`tessera.sim.tb.pattern` arguments for ``i.valid`` gaps and ``o.ready`` back-pressure.
    seed : int
        Seed of the random patterns.
    limit : int
        Cycles without progress (no command taken, no output received) after which a wait
        fails as a hang instead of waiting for ever.
    """

    def __init__(self, dut, *, valid=("always",), ready=("always",), seed=0, limit=1_000_000):
        self.dut = dut
        self.limit = int(limit)
        self.sent = 0
        self.valid_pattern = tb.pattern(*valid, seed=seed)
        self.ready_pattern = tb.pattern(*ready, seed=seed + 1)
        self.received = []
        self._want = None
        self._arrived = Event()
        dut.i__valid.value = 0
        dut.o__ready.value = 0
        self._sink = cocotb.start_soon(self._collect())

    @property
    def cycle(self):
        """The current simulation time in clock cycles."""
        return cocotb.simtime.get_sim_time("ns") // CLOCK_NS

    async def reset(self, cycles=2):
        """Reset the array and wait for its accumulator sweep to finish."""
        self.dut.i__valid.value = 0
        await tb.reset(self.dut, cycles)
        await self.wait_idle()

    async def wait_idle(self):
        """Wait until the array takes commands again (``busy`` low)."""
        if _high(self.dut.busy):
            await self._bounded(lambda: FallingEdge(self.dut.busy), "the array to finish")

    async def _bounded(self, trigger, what):
        """Await ``trigger()``; fail after :attr:`limit` cycles in which nothing progressed."""
        while True:
            progress = (len(self.received), self.sent)
            timeout = Timer(self.limit * CLOCK_NS, unit="ns")
            if await First(trigger(), timeout) is not timeout:
                return
            if (len(self.received), self.sent) == progress:
                raise AssertionError(f"waited {self.limit} cycles for {what} without any "
                                     f"progress ({self.sent} commands taken, "
                                     f"{len(self.received)} outputs): the array hangs")

    async def send(self, words):
        """Send command words (ints) in order; return when the last one has been taken."""
        dut = self.dut
        clk = dut.clk
        pattern = self.valid_pattern
        always = pattern == [True]
        step = 0
        for word in words:
            while not pattern[step % len(pattern)]:
                dut.i__valid.value = 0
                await RisingEdge(clk)
                step += 1
            dut.i__payload.value = word
            dut.i__valid.value = 1
            while True:
                await RisingEdge(clk)
                step += 1
                if _high(dut.i__ready):  # sampled at this edge: the word was taken
                    self.sent += 1
                    break
                if always:  # a layer is running: sleep until the array takes commands again
                    await self._bounded(lambda: RisingEdge(dut.i__ready),
                                        "the array to take a command")
            if not always:
                dut.i__valid.value = 0
        dut.i__valid.value = 0

    async def outputs(self, count):
        """Wait until ``count`` output words have arrived in total; return them all."""
        if len(self.received) < count:
            self._want = count
            self._arrived.clear()
            await self._bounded(self._arrived.wait, f"output {count}")
        return self.received[:count]

    def _got(self, value):
        self.received.append(value)
        if self._want is not None and len(self.received) >= self._want:
            self._want = None
            self._arrived.set()

    async def _collect(self):
        dut = self.dut
        clk = dut.clk
        pattern = self.ready_pattern
        if pattern == [True]:
            dut.o__ready.value = 1
            while True:
                if not _high(dut.o__valid):
                    await RisingEdge(dut.o__valid)
                await RisingEdge(clk)
                if _high(dut.o__valid):
                    self._got(dut.o__payload.value.to_signed())
        step = 0
        while True:
            ready = pattern[step % len(pattern)]
            dut.o__ready.value = int(ready)
            await RisingEdge(clk)
            step += 1
            if ready and _high(dut.o__valid):
                self._got(dut.o__payload.value.to_signed())

    def stop(self):
        self._sink.cancel()


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
    await host.wait_idle()
    seconds = time.perf_counter() - start
    tb.save_outputs(out=np.array(out, dtype=np.int64))
    tb.report(cycles=int(host.cycle - first), seconds=seconds, commands=len(words))
