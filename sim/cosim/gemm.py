"""Run GEMMs on the systolic engine (:class:`tessera.hw.systolic.SystolicGemm`) inside the
simulator.

The cocotb test :func:`gemms` is the co-simulation behind ``tessera gemm``, the GEMM part of
``tessera sim`` and the systolic benchmark. Parameters (:func:`tessera.sim.tb.params`):

- ``config``: the :class:`tessera.golden.config.SystolicConfig` as a dict;
- ``jobs``: a list of GEMMs, each ``{"a": name, "b": name, "relu": bool, "raw": bool}`` plus,
  unless raw, ``"bias"``, ``"multiplier"``, ``"shift"`` naming per-column input arrays;
- ``patterns`` (optional): pause patterns of the ``a``, ``b``, ``q`` streams' valid and of
  ``o``'s ready, as :func:`tessera.sim.stream.pause_pattern` arguments.

Inputs are the named arrays. Outputs: ``c<i>`` for job ``i``, the (M, N) result (int32 raw, int8
otherwise). Report: ``cycles`` (the engine's cycle counter, per job), ``simulated`` (clock cycles
the whole run took) and ``seconds`` (wall time of the run).

:class:`GemmDriver` is the host side, reusable by testbenches: it packs the words with the
host encoder (:mod:`tessera.sim.host.systolic`), drives the four input streams and collects the
results with the drivers of :mod:`tessera.sim.stream` (one coroutine per clock cycle while words
flow, none while the engine computes).
"""

import time

import cocotb
import cocotb.simtime
import numpy as np
from cocotb.triggers import RisingEdge
from tessera.golden.config.systolic import SystolicConfig
from tessera.golden.systolic import result_lanes, unpack_results
from tessera.sim import stream, tb
from tessera.sim.host.systolic import gemm_words, result_values

__all__ = ["GemmDriver", "Job", "gemms"]


class Job:
    """One GEMM for :class:`GemmDriver`: operands, post-processing, and what came back."""

    def __init__(self, a, b, *, bias=None, multiplier=None, shift=None, relu=False, raw=False):
        self.a = np.asarray(a)
        self.b = np.asarray(b)
        self.m, self.k = self.a.shape
        self.n = self.b.shape[1]
        self.relu, self.raw = bool(relu), bool(raw)
        self.bias, self.multiplier, self.shift = bias, multiplier, shift
        self.results = []          # the results, in stream order
        self.lanes = None          # the lane count of each word of the result stream
        self.cycles = None
        self.encoded = None         # the host encoder's GemmWords, made once


class GemmDriver:
    """Drive a :class:`tessera.hw.systolic.SystolicGemm` from cocotb.

    Parameters
    ----------
    dut
        The cocotb handle of the engine (clock ``clk``, reset ``rst``).
    config : tessera.golden.config.SystolicConfig
        The engine's parameters (for the protocol's layouts).
    valid : dict, optional
        Pause patterns of ``valid`` (:func:`tessera.sim.stream.pause_pattern`, true = paused)
        for ``"a"``, ``"b"``, ``"q"``.
    ready : sequence of bool, optional
        Pause pattern of the result stream's ``ready``.
    hang_cycles : int
        Fail (:class:`tessera.sim.stream.StreamHang`) when this many cycles pass without a
        result while a GEMM runs.
    """

    def __init__(self, dut, config, *, valid=None, ready=None, hang_cycles=stream.HANG_CYCLES):
        self.dut = dut
        self.config = config
        valid = valid or {}
        self.cmd = stream.StreamSource(dut, "cmd", hang_cycles=hang_cycles)
        self.sources = {name: stream.StreamSource(dut, name, pause=valid.get(name),
                                                  hang_cycles=hang_cycles)
                        for name in ("a", "b", "q")}
        self.sink = stream.StreamSink(dut, "o", pause=ready, hang_cycles=hang_cycles)
        self.edge = RisingEdge(dut.clk)

    def stop(self):
        """Stop the five drivers (before another driver takes over the engine's streams)."""
        for driver in (self.cmd, *self.sources.values(), self.sink):
            driver.stop()

    def words(self, job):
        """Return the cmd, a, b and q words of ``job`` (encoded once, then kept in the job)."""
        if job.encoded is None:
            job.encoded = gemm_words(self.config, job.a, job.b, relu=job.relu, raw=job.raw,
                                     bias=job.bias, multiplier=job.multiplier, shift=job.shift)
        words = job.encoded
        return words.cmd, words.a, words.b, words.q

    async def run(self, job, *, command=True):
        """Run one GEMM; fill ``job.results`` (stream order), ``job.lanes`` and ``job.cycles``;
        return job.

        The result stream's words are unpacked (:func:`tessera.sim.host.systolic.result_values`)
        and their lane counts checked against :func:`tessera.golden.systolic.result_lanes`
        (:class:`AssertionError` naming the first wrong word). ``command=False`` drives only the
        operand streams, for a command that someone else has already sent (the engine must
        have accepted it).
        """
        cmd, a, b, q = self.words(job)
        if command:
            self.cmd.send(cmd)
        for name, words in zip(("a", "b", "q"), (a, b, q)):
            self.sources[name].send(words)
        sink = self.sink
        sink.received.clear()
        expected = result_lanes(job.m, job.n, self.config)
        words = await sink.wait_for(len(expected))
        await self.edge                     # the counter's last increment lands on this edge
        values, job.lanes = result_values(self.config, words)
        bad = np.flatnonzero(job.lanes != expected)
        if bad.size:
            i = int(bad[0])
            raise AssertionError(f"result word {i} of {len(words)} carries {job.lanes[i]} "
                                 f"lanes, expected {expected[i]}")
        job.results = values.tolist()
        job.cycles = int(self.dut.cycles.value)
        extra = [name for name, s in self.sources.items() if not s.idle]
        if extra:
            raise AssertionError(f"the engine finished without taking every word of {extra}")
        return job

    def matrix(self, job, dtype=np.int32):
        """Return ``job``'s results as the (M, N) matrix."""
        return unpack_results(np.asarray(job.results, dtype=np.int64), job.m, job.n,
                              self.config, dtype=dtype)


@cocotb.test()
async def gemms(dut):
    """Run the GEMMs listed in the parameters and hand back results and cycle counts."""
    p = tb.params()
    data = tb.inputs()
    config = SystolicConfig(**p["config"])
    patterns = p.get("patterns", {})
    valid = {name: stream.pause_pattern(*patterns[name])
             for name in ("a", "b", "q") if name in patterns}
    ready = stream.pause_pattern(*patterns["o"]) if "o" in patterns else None
    tb.start_clock(dut)
    dut.cmd__valid.value = 0
    driver = GemmDriver(dut, config, valid=valid, ready=ready)
    await tb.reset(dut)
    jobs = []
    for spec in p["jobs"]:
        extra = {}
        if not spec.get("raw"):
            extra = {name: data[spec[name]] for name in ("bias", "multiplier", "shift")}
        jobs.append(Job(data[spec["a"]], data[spec["b"]], relu=spec.get("relu", False),
                        raw=spec.get("raw", False), **extra))
        driver.words(jobs[-1])      # encode before the clock starts: the time is the simulator's
    start = time.perf_counter()
    first_cycle = cocotb.simtime.get_sim_time("ns") // stream.CLOCK_NS
    cycles = []
    for index, job in enumerate(jobs):
        await driver.run(job)
        cycles.append(job.cycles)
        dtype = np.int32 if job.raw else np.int8
        tb.save_outputs(**{f"c{index}": driver.matrix(job, dtype=dtype)})
    seconds = time.perf_counter() - start
    simulated = cocotb.simtime.get_sim_time("ns") // stream.CLOCK_NS - first_cycle
    tb.report(cycles=cycles, simulated=int(simulated), seconds=seconds)
