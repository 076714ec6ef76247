"""cocotb testbenches of the systolic GEMM engine (tessera.hw.systolic.SystolicGemm) against golden.

Every test compares the result stream with :func:`tessera.golden.systolic.expected_stream` (exact,
in
stream order) and, when the streams neither gap nor back-pressure, the engine's cycle counter
with :func:`tessera.golden.systolic.gemm_cycles`. The configuration comes from the parameters
(``config``), so one design build serves every test.
"""

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, RisingEdge
from tessera.golden.config.systolic import SystolicConfig
from tessera.golden.gemm import conv2d_int8, im2col, kernel_to_matrix
from tessera.golden.quant import requantize
from tessera.golden.systolic import (
    expected_stream,
    gemm_cycles,
    result_order,
    unpack_results,
)
from tessera.hw.systolic.protocol import command_layout
from tessera.sim import stream, tb
from tessera.sim.cosim.gemm import GemmDriver, Job


class SystolicTB:
    """The engine, its driver and the checks, for one cocotb test."""

    def __init__(self, dut, *, valid=None, ready=None):
        self.dut = dut
        self.config = SystolicConfig(**tb.params()["config"])
        tb.start_clock(dut)
        dut.cmd__valid.value = 0
        self.driver = GemmDriver(dut, self.config, valid=valid, ready=ready)
        self.timed = valid is None and ready is None
        self.count = 0

    async def reset(self):
        await tb.reset(self.dut)

    def figures(self):
        """What the test reports: the GEMMs checked."""
        return {"gemms": self.count}

    def random_job(self, rng, m, k, n, *, raw=None, lo=-128, hi=127):
        cfg = self.config
        a = rng.integers(lo, hi + 1, (m, k)).astype(np.int8)
        b = rng.integers(lo, hi + 1, (k, n)).astype(np.int8)
        if raw is None:
            raw = bool(rng.integers(0, 2))
        if raw:
            return Job(a, b, raw=True)
        bias_bits = min(cfg.acc_width - 2, 20)
        return Job(a, b, raw=False, relu=bool(rng.integers(0, 2)),
                   bias=rng.integers(-(2 ** bias_bits), 2 ** bias_bits, n),
                   multiplier=rng.integers(0, 2 ** 16, n),
                   shift=np.where(rng.random(n) < 0.85, rng.integers(8, 26, n),
                                  rng.integers(0, 48, n)))

    async def run(self, job, what=""):
        """Run ``job`` on the engine and check it against the golden models."""
        await self.driver.run(job)
        self.count += 1
        self.check(job, what)
        return job

    def check(self, job, what=""):
        cfg = self.config
        label = (f"{what} GEMM {job.m}x{job.k}x{job.n} ({'raw' if job.raw else 'requantized'}"
                 f"{', relu' if job.relu else ''}) on {cfg.rows}x{cfg.cols} {cfg.dataflow}")
        expected = expected_stream(job.a, job.b, cfg, bias=job.bias, multiplier=job.multiplier,
                                   shift=job.shift, relu=job.relu, raw=job.raw)
        got = np.asarray(job.results, dtype=np.int64)
        assert got.shape == expected.shape, (
            f"{label}: {got.size} results, expected {expected.size}")
        bad = np.flatnonzero(got != expected)
        if bad.size:
            rows, cols = result_order(job.m, job.n, cfg)
            i = int(bad[0])
            raise AssertionError(
                f"{label}: result {i} of {got.size} (C[{rows[i]}, {cols[i]}]) is {got[i]} "
                f"(0x{int(got[i]) & 0xFFFFFFFF:x}), expected {expected[i]} "
                f"(0x{int(expected[i]) & 0xFFFFFFFF:x}); {bad.size} mismatches")
        model = gemm_cycles(cfg, job.m, job.k, job.n, raw=job.raw).cycles
        if self.timed:
            assert job.cycles == model, (
                f"{label}: the cycle counter reads {job.cycles}, the golden model says {model}")
        else:
            assert job.cycles >= model, (
                f"{label}: {job.cycles} cycles with gaps, fewer than the model's {model}")


def shapes(config, rng, count):
    """Random shapes within the configuration, biased to small ones and edges of tiles."""
    out = []
    for _ in range(count):
        dims = []
        for limit, tile in ((config.max_m, config.tile_m), (config.max_k, config.rows),
                            (config.max_n, config.cols)):
            choice = rng.integers(0, 4)
            if choice == 0:
                value = rng.integers(1, limit + 1)
            elif choice == 1:
                value = rng.integers(1, min(limit, 2 * tile + 2) + 1)
            elif choice == 2:   # one past a multiple of the tile
                value = min(limit, tile * rng.integers(1, max(2, limit // tile + 1)) + 1)
            else:
                value = limit
            dims.append(int(value))
        out.append(tuple(dims))
    return out


@tb.bench_test(SystolicTB)
async def random_gemms(t, rng):
    """Random GEMMs of many shapes, raw and requantized: exact results, exact cycle counts."""
    for m, k, n in shapes(t.config, rng, tb.params().get("count", 12)):
        await t.run(t.random_job(rng, m, k, n), "random")


@tb.bench_test(SystolicTB, salt=1)
async def edges(t, rng):
    """M, K, N of 1; shapes one past multiples of the array and of the M-tile; the maximum."""
    cfg = t.config
    r, c, tm = cfg.rows, cfg.cols, cfg.tile_m
    cases = {(1, 1, 1), (1, cfg.max_k, 1), (cfg.max_m, 1, 1), (1, 1, cfg.max_n),
             (cfg.max_m, cfg.max_k, cfg.max_n)}
    for m, k, n in [(tm + 1, r + 1, c + 1), (2 * tm + 1, 2 * r + 1, 2 * c + 1), (tm, r, c),
                    (r + 1, r, 1), (1, 2 * r + 1, c + 1)]:
        cases.add((min(m, cfg.max_m), min(k, cfg.max_k), min(n, cfg.max_n)))
    for m, k, n in sorted(cases):
        await t.run(t.random_job(rng, m, k, n), "edge")


@tb.bench_test(SystolicTB)
async def extremes(t, rng):
    """All -128, all 127 and mixed extremes with K at max_k: the accumulator's limit, exactly.

    The configurations under test set ``acc_width`` to the narrowest that holds ``max_k``
    products of -128 * -128, so these sums come within one product of overflowing.
    """
    cfg = t.config
    m, k, n = min(cfg.max_m, cfg.tile_m + 1), cfg.max_k, min(cfg.max_n, cfg.cols + 1)
    for x, y in ((-128, -128), (127, 127), (127, -128), (-128, 127)):
        a = np.full((m, k), x, dtype=np.int8)
        b = np.full((k, n), y, dtype=np.int8)
        await t.run(Job(a, b, raw=True), f"all {x} times all {y}")
        # Requantized: scaled to saturate both ways, and a pass-through (M = 1, s = 0).
        await t.run(Job(a, b, bias=0, multiplier=1, shift=0, relu=False), "saturating")
        await t.run(Job(a, b, bias=-(2 ** (cfg.acc_width - 2)), multiplier=3, shift=cfg.acc_width
                        - 8, relu=True), "scaled")
    # Alternating signs across K: partial sums swing to the limit and back.
    a = np.where(np.arange(k) % 2, 127, -128).astype(np.int8)[None, :].repeat(m, 0)
    b = np.full((k, n), -128, dtype=np.int8)
    await t.run(Job(a, b, raw=True), "alternating")


@cocotb.test()
async def backpressure(dut):
    """Gaps on every input stream and back-pressure on the results: nothing lost or repeated."""
    p = tb.params()
    patterns = p.get("patterns", {"a": ["random"], "b": ["bursty"], "q": ["alternate"],
                                  "o": ["random"]})
    valid = {name: stream.pause_pattern(patterns[name][0], seed=i)
             for i, name in enumerate("abq")}
    t = SystolicTB(dut, valid=valid, ready=stream.pause_pattern(patterns["o"][0], seed=7))
    await t.reset()
    rng = tb.rng(2)
    for m, k, n in shapes(t.config, rng, p.get("count", 6)):
        await t.run(t.random_job(rng, m, k, n), "back-pressured")
    tb.report(gemms=t.count)


@tb.bench_test(SystolicTB, salt=5)
async def bunched_rows(t, rng):
    """Gaps on A that bunch a pass's rows against the next pass's: an accumulator entry is then
    read two cycles after it was read before (forwarded in the bank), over and over."""
    cfg = t.config
    for index in range(tb.params().get("count", 24)):
        m = int(rng.integers(2, min(cfg.tile_m, 4) + 1)) if cfg.tile_m > 1 else 1
        k = min(cfg.max_k, cfg.rows * int(rng.integers(2, 5)) + int(rng.integers(0, 2)))
        n = min(cfg.max_n, int(rng.integers(1, cfg.cols + 2)))
        t.driver.stop()
        t.driver = GemmDriver(t.dut, cfg, valid={"a": stream.pause_pattern("random", seed=index)})
        t.timed = False
        await t.run(t.random_job(rng, m, k, n, raw=True), "bunched")


async def hold_command(dut, command):
    """From the first busy cycle on, hold ``command`` valid until the engine takes it; check
    that it never does while busy. Returns how many busy cycles the command waited."""
    edge = RisingEdge(dut.clk)
    while not int(dut.busy.value):
        await edge
    dut.cmd__payload.value = command
    dut.cmd__valid.value = 1
    waited = 0
    while True:
        await edge
        if int(dut.cmd__ready.value):
            assert not int(dut.busy.value), "cmd.ready is high while busy"
            break                             # taken on this edge
        waited += 1
    dut.cmd__valid.value = 0
    return waited


@tb.bench_test(SystolicTB, salt=6)
async def command_while_busy(t, rng):
    """The next GEMM's command, held valid from the first busy cycle of a GEMM, waits:
    ``cmd.ready`` stays low while ``busy`` is high, the running GEMM is undisturbed (exact
    results and cycles), and the waiting command is taken after the last result, then runs
    exactly."""
    for first_shape, second_shape in zip(shapes(t.config, rng, 3), shapes(t.config, rng, 3)):
        first = t.random_job(rng, *first_shape)
        second = t.random_job(rng, *second_shape)
        holder = cocotb.start_soon(hold_command(t.dut, t.driver.words(second)[0][0]))
        await t.run(first, "first of a pair")
        assert await holder > 0, "the waiting command never waited"
        t.timed = False                       # the operands start after the command
        await t.driver.run(second, command=False)
        t.count += 1
        t.check(second, "queued")
        t.timed = True


@tb.bench_test(SystolicTB, salt=7)
async def bad_command_skipped(t, rng):
    """A command with a dimension of 0 or above its maximum is taken and skipped: ``error``
    rises and stays, nothing starts (``busy`` and ``o.valid`` stay low), and the next command
    runs exactly. Regression: M = 0 left the engine busy forever (the formal hang-freedom
    proof found it, tests/formal)."""
    dut = t.dut
    cfg = t.config
    layout = command_layout(cfg)
    edge = RisingEdge(dut.clk)
    bad = [(0, 1, 1), (1, 0, 1), (1, 1, 0), (0, 0, 0)]
    for name, limit in (("m", cfg.max_m), ("k", cfg.max_k), ("n", cfg.max_n)):
        if limit + 1 < 2 ** len(layout[name].shape):   # the field can hold max + 1
            bad.append(tuple(limit + 1 if f == name else 1 for f in "mkn"))
    for m, k, n in bad:
        assert not int(dut.busy.value)
        word = layout.const({"m": m, "k": k, "n": n, "relu": 0, "raw": 1}).as_value().value
        dut.cmd__payload.value = word
        dut.cmd__valid.value = 1
        await edge
        assert int(dut.cmd__ready.value), "a bad command was not taken"
        dut.cmd__valid.value = 0
        for _ in range(40):
            await edge
            assert not int(dut.busy.value), f"busy after the bad command {(m, k, n)}"
            assert not int(dut.o__valid.value), f"a result after the bad command {(m, k, n)}"
        assert int(dut.error.value), f"no error after the bad command {(m, k, n)}"
        await t.run(t.random_job(rng, *shapes(cfg, rng, 1)[0]), f"after {(m, k, n)}")
        assert int(dut.error.value), "the error bit is not sticky"
    await tb.reset(dut)
    assert not int(dut.error.value), "reset leaves the error bit set"
    tb.report(skipped=len(bad))


@tb.bench_test(SystolicTB, salt=3)
async def reset_mid_gemm(t, rng):
    """Reset in the middle of a GEMM (operands half loaded, results flowing), then a clean one."""
    dut = t.dut
    cfg = t.config
    big = t.random_job(rng, cfg.max_m, cfg.max_k, cfg.max_n, raw=False)
    expected_cycles = gemm_cycles(cfg, big.m, big.k, big.n).cycles
    for fraction in (0.3, 0.8):
        task = cocotb.start_soon(t.driver.run(big))
        await ClockCycles(dut.clk, max(2, int(expected_cycles * fraction)))
        assert int(dut.busy.value), "the engine is not busy in the middle of a GEMM"
        task.cancel()
        t.driver.stop()
        t.driver = GemmDriver(dut, cfg)         # drops every valid
        await tb.reset(dut, cycles=3)
        assert not int(dut.busy.value), "busy after reset"
        assert not int(dut.o__valid.value), "a result is still offered after reset"
        for m, k, n in ((cfg.max_m, cfg.max_k, cfg.max_n), (2, 3, 2)):
            await t.run(t.random_job(rng, min(m, cfg.max_m), min(k, cfg.max_k),
                                     min(n, cfg.max_n)), "after reset")


@tb.bench_test(SystolicTB, salt=4)
async def convolution(t, rng):
    """A 3x3 convolution lowered to a GEMM with golden im2col, requantized with ReLU."""
    cfg = t.config
    p = tb.params().get("conv", {"n": 1, "h": 6, "w": 5, "c": 2, "oc": 3, "stride": 1,
                                  "padding": 1})
    x = rng.integers(-128, 128, (p["n"], p["h"], p["w"], p["c"])).astype(np.int8)
    kernel = rng.integers(-128, 128, (p["oc"], 3, 3, p["c"])).astype(np.int8)
    patches = im2col(x, 3, stride=p["stride"], padding=p["padding"])
    n_, oh, ow, kk = patches.shape
    a = patches.reshape(-1, kk)
    b = kernel_to_matrix(kernel).T.copy()
    bias = rng.integers(-5000, 5000, p["oc"])
    multiplier, shift = rng.integers(2 ** 14, 2 ** 16, p["oc"]), np.full(p["oc"], 24)
    job = await t.run(Job(a, b, bias=bias, multiplier=multiplier, shift=shift, relu=True),
                      "convolution")
    got = unpack_results(np.asarray(job.results), a.shape[0], b.shape[1], cfg, dtype=np.int8)
    acc = conv2d_int8(x, kernel, stride=p["stride"], padding=p["padding"])
    expected = requantize(acc, bias, multiplier, shift, relu=True)
    np.testing.assert_array_equal(got.reshape(n_, oh, ow, -1), expected, strict=True)
    tb.report(conv_output=list(expected.shape))
