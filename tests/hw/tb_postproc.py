"""cocotb testbench of the post-processing unit (tessera.hw.postproc) against
tessera.golden.quant.requantize."""

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, RisingEdge
from tessera.golden.quant import requantize
from tessera.hw.postproc import postproc_input_layout
from tessera.sim import stream, tb
from tessera.sim.host.words import encode_columns


class PostprocTB:
    def __init__(self, dut, valid=("always",), ready=("always",)):
        self.dut = dut
        self.acc_width = len(dut.o__payload)
        self.layout = postproc_input_layout(self.acc_width)
        tb.start_clock(dut)
        self.source = stream.StreamSource(dut, "i", pause=stream.pause_pattern(*valid, seed=3))
        self.sink = stream.StreamSink(dut, "o", pause=stream.pause_pattern(*ready, seed=4),
                                      signed=True)

    async def run(self, cases):
        """Send ``cases`` (a dict of equally long arrays) and return what comes out."""
        first = len(self.sink.received)
        self.source.send(encode_columns(self.layout, **cases))
        got = await self.sink.wait_for(first + len(cases["acc"]))
        return np.array(got[first:], dtype=np.int64)

    def expected(self, cases):
        y = np.empty(len(cases["acc"]), dtype=np.int64)
        for raw in (0, 1):
            for relu in (0, 1):
                sel = (cases["raw"] == raw) & (cases["relu"] == relu)
                if raw:
                    y[sel] = cases["acc"][sel]
                else:
                    y[sel] = requantize(cases["acc"][sel], cases["bias"][sel],
                                        cases["multiplier"][sel], cases["shift"][sel],
                                        relu=bool(relu))
        return y

    def check(self, got, cases):
        expected = self.expected(cases)
        bad = np.flatnonzero(got != expected)
        if bad.size:
            i = int(bad[0])
            fields = ", ".join(f"{k}={int(v[i])}" for k, v in cases.items())
            raise AssertionError(f"element {i} of {len(got)} ({fields}): expected "
                                 f"{int(expected[i])}, got {int(got[i])}; {bad.size} mismatches")


def random_cases(rng, n, acc_width):
    low, high = -(2 ** (acc_width - 1)), 2 ** (acc_width - 1)
    # Mostly realistic scales (shift 10..30) so that results are not all saturated.
    shift = np.where(rng.random(n) < 0.8, rng.integers(10, 31, n), rng.integers(0, 48, n))
    return {
        "acc": rng.integers(low, high, n) >> rng.integers(0, acc_width - 4, n),
        "bias": rng.integers(low, high, n) >> rng.integers(0, acc_width - 2, n),
        "multiplier": rng.integers(0, 2 ** 16, n),
        "shift": shift,
        "relu": rng.integers(0, 2, n),
        "raw": (rng.random(n) < 0.1).astype(np.int64),
    }


def corner_cases(acc_width):
    low, high = -(2 ** (acc_width - 1)), 2 ** (acc_width - 1) - 1
    rows = []
    for acc in (low, high, -1, 0, 1, -3, 3, 5, -5):
        for bias in (low, high, 0, 1):
            for multiplier in (0, 1, 2 ** 15, 2 ** 16 - 1):
                for shift in (0, 1, 2, 16, 31, 47):
                    for relu in (0, 1):
                        rows.append((acc, bias, multiplier, shift, relu, 0))
    # Ties: (acc * M) / 2**s exactly half-way, both signs: 2.5 -> 3, -2.5 -> -2, -3.5 -> -3.
    rows += [(5, 0, 1, 1, 0, 0), (-5, 0, 1, 1, 0, 0), (-7, 0, 1, 1, 0, 0), (7, 0, 1, 1, 0, 0),
             (255, 0, 1, 1, 0, 0), (-257, 0, 1, 1, 0, 0), (256, 0, 1, 1, 0, 0)]
    # Saturation edges: 127, 128, -128, -129 after scaling; raw pass-through of the extremes.
    rows += [(v, 0, 1, 0, 0, 0) for v in (127, 128, -128, -129)]
    rows += [(low, high, 7, 3, 1, 1), (high, low, 7, 3, 0, 1)]
    columns = np.array(rows, dtype=np.int64).T
    return dict(zip(("acc", "bias", "multiplier", "shift", "relu", "raw"), columns, strict=True))


@cocotb.test()
async def random_under_backpressure(dut):
    """Random elements with gaps on the input and back-pressure on the output."""
    p = tb.params()
    pp = PostprocTB(dut, tuple(p.get("valid", ["always"])), tuple(p.get("ready", ["always"])))
    await tb.reset(dut)
    cases = random_cases(tb.rng(), p.get("count", 2000), pp.acc_width)
    pp.check(await pp.run(cases), cases)


@cocotb.test()
async def corners(dut):
    """Extremes of every field, rounding ties of both signs, saturation edges, raw output."""
    pp = PostprocTB(dut, ("bursty",), ("random",))
    await tb.reset(dut)
    cases = corner_cases(pp.acc_width)
    pp.check(await pp.run(cases), cases)


@cocotb.test()
async def reset_mid_stream(dut):
    """Reset with the pipeline full drops what was in flight; the next stream is clean."""
    pp = PostprocTB(dut, ("always",), ("alternate",))
    await tb.reset(dut)
    rng = tb.rng(5)
    pp.source.send(encode_columns(pp.layout, **random_cases(rng, 50, pp.acc_width)))
    await ClockCycles(dut.clk, 7)
    pp.source.clear()
    pp.source.stop()
    pp.sink.stop()
    await tb.reset(dut)
    await RisingEdge(dut.clk)
    assert not int(dut.o__valid.value), "output still valid after reset"
    pp.source = stream.StreamSource(dut, "i")
    pp.sink = stream.StreamSink(dut, "o", signed=True)
    cases = random_cases(rng, 100, pp.acc_width)
    pp.check(await pp.run(cases), cases)
