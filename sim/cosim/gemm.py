"""Run GEMMs on the systolic engine (:class:`tessera.hw.systolic.SystolicGemm`) inside the
simulator.

The cocotb test :func:`gemms` is the co-simulation behind ``tessera gemm``, the GEMM part of
``tessera sim`` and the systolic benchmark. Parameters (:func:`tessera.sim.tb.params`):

- ``config``: the :class:`tessera.golden.config.SystolicConfig` as a dict;
- ``jobs``: a list of GEMMs, each ``{"a": name, "b": name, "relu": bool, "raw": bool}`` plus,
  unless raw, ``"bias"``, ``"multiplier"``, ``"shift"`` naming per-column input arrays;
- ``patterns`` (optional): valid patterns of the ``a``, ``b``, ``q`` streams and the ready
  pattern of ``o`` (see :func:`tessera.sim.tb.pattern`).

Inputs are the named arrays. Outputs: ``c<i>`` for job ``i``, the (M, N) result (int32 raw, int8
otherwise). Report: ``cycles`` (the engine's cycle counter, per job), ``simulated`` (clock cycles
the whole run took) and ``seconds`` (wall time of the run).

:class:`GemmDriver` is the host side, reusable by testbenches: it packs the words with the
host encoder (:mod:`tessera.sim.host.systolic`), drives the four input streams and collects the
results from one coroutine that wakes once per clock cycle.
"""

import time

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge
from tessera.golden.config.systolic import SystolicConfig
from tessera.golden.systolic import unpack_results
from tessera.sim import tb
from tessera.sim.host.systolic import gemm_words

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
        self.results = []
        self.cycles = None
        self.encoded = None         # the host encoder's GemmWords, made once


class _Source:
    """One input stream, driven from the driver's loop (no coroutine of its own)."""

    def __init__(self, dut, name, pattern):
        self.valid = getattr(dut, f"{name}__valid")
        self.payload = getattr(dut, f"{name}__payload")
        self.ready = getattr(dut, f"{name}__ready")
        self.pattern = pattern
        self.words = []
        self.next = 0
        self.shown = False          # words[next] is on the payload with valid high
        self.high = False           # valid is high
        self.valid.value = 0

    def load(self, words):
        self.words, self.next, self.shown = words, 0, False

    @property
    def done(self):
        return self.next >= len(self.words)

    def drive(self, step):
        """Before an edge: show the next word when the pattern allows (and hold it)."""
        if self.shown:
            return
        if not self.done and self.pattern[step % len(self.pattern)]:
            self.payload.value = self.words[self.next]
            self.shown = True
            if not self.high:
                self.valid.value = self.high = 1
        elif self.high:
            self.valid.value = self.high = 0


class GemmDriver:
    """Drive a :class:`tessera.hw.systolic.SystolicGemm` from cocotb.

    Parameters
    ----------
    dut
        The cocotb handle of the engine (clock ``clk``, reset ``rst``).
    config : tessera.golden.config.SystolicConfig
        The engine's parameters (for the protocol's layouts).
    valid : dict, optional
        Valid patterns (lists of bools, :func:`tessera.sim.tb.pattern`) for ``"a"``, ``"b"``,
        ``"q"``.
    ready : list of bool, optional
        Ready pattern of the result stream.
    stall_cycles : int
        Give up (AssertionError) after this many cycles without a transfer on any stream.
    """

    def __init__(self, dut, config, *, valid=None, ready=None, stall_cycles=tb.STALL_CYCLES):
        self.dut = dut
        self.config = config
        valid = valid or {}
        self.cmd = _Source(dut, "cmd", [True])
        self.sources = {name: _Source(dut, name, list(valid.get(name, [True])))
                        for name in ("a", "b", "q")}
        self.ready_pattern = list(ready or [True])
        self.stall_cycles = stall_cycles
        self.edge = RisingEdge(dut.clk)
        self.step = 0
        self.cycles_simulated = 0
        dut.o__ready.value = 0

    def words(self, job):
        """Return the cmd, a, b and q words of ``job`` (encoded once, then kept in the job)."""
        if job.encoded is None:
            job.encoded = gemm_words(self.config, job.a, job.b, relu=job.relu, raw=job.raw,
                                     bias=job.bias, multiplier=job.multiplier, shift=job.shift)
        words = job.encoded
        return words.cmd, words.a, words.b, words.q

    async def run(self, job, *, command=True):
        """Run one GEMM; fill ``job.results`` (stream order) and ``job.cycles``; return job.

        ``command=False`` drives only the operand streams, for a command that someone else
        has already sent (the engine must have accepted it).
        """
        dut = self.dut
        cmd, a, b, q = self.words(job)
        self.cmd.load(cmd if command else [])
        for name, words in zip(("a", "b", "q"), (a, b, q)):
            self.sources[name].load(words)
        active = [s for s in (self.cmd, *self.sources.values()) if not s.done]
        total = job.m * job.n
        out_valid, out_payload, out_ready = dut.o__valid, dut.o__payload, dut.o__ready
        results = job.results = []
        ready_pattern = self.ready_pattern
        period = len(ready_pattern)
        ready_now = None
        edge = self.edge
        idle = 0
        # One wake-up per clock cycle; every signal access is a VPI call, so only what changes
        # is written and only what matters is read.
        while len(results) < total:
            step = self.step
            for source in active:
                source.drive(step)
            ready = ready_pattern[step % period]
            if ready != ready_now:
                out_ready.value = ready_now = int(ready)
            await edge
            self.step += 1
            progress = False
            if active:
                for source in active:
                    if source.shown and int(source.ready.value):
                        source.next += 1
                        source.shown = False
                        progress = True
                if any(source.done for source in active):
                    for source in active:
                        if source.done:
                            source.drive(step)        # drops valid
                    active = [source for source in active if not source.done]
            if ready and int(out_valid.value):
                results.append(out_payload.value.to_signed())
                progress = True
            idle = 0 if progress else idle + 1
            if idle > self.stall_cycles:
                raise AssertionError(
                    f"no transfer for {self.stall_cycles} cycles: {len(results)} of {total} "
                    f"results, words left a={len(a) - self.sources['a'].next} "
                    f"b={len(b) - self.sources['b'].next} q={len(q) - self.sources['q'].next}")
        out_ready.value = 0
        await edge                          # the counter's last increment lands on this edge
        self.step += 1
        job.cycles = int(dut.cycles.value)
        extra = [name for name, s in self.sources.items() if not s.done]
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
    valid = {name: tb.pattern(*patterns[name]) for name in ("a", "b", "q") if name in patterns}
    ready = tb.pattern(*patterns["o"]) if "o" in patterns else None
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
    first_step = driver.step
    cycles = []
    for index, job in enumerate(jobs):
        await driver.run(job)
        cycles.append(job.cycles)
        dtype = np.int32 if job.raw else np.int8
        tb.save_outputs(**{f"c{index}": driver.matrix(job, dtype=dtype)})
    seconds = time.perf_counter() - start
    tb.report(cycles=cycles, simulated=driver.step - first_step, seconds=seconds)
