# amaranth: UnusedElaboratable=no
"""The command gate (tessera.hw.link.CommandGate) in amaranth.sim: bursts in with gaps, out in
order and without a gap; a burst longer than the FIFO in pieces; back-pressure loses nothing."""

import numpy as np
import pytest
from amaranth.sim import Simulator
from tessera.golden.errors import TesseraError
from tessera.hw.link import CommandGate

QUIET = 6


def _run(dut, bursts, seed, *, ready_p=1.0):
    """Offer each burst (its words ``gap`` cycles apart, gap random below QUIET), bursts far
    apart; return ``[(cycle, word)]`` taken from ``o`` and the cycle each input word was taken."""
    rng = np.random.default_rng(seed)
    taken_in, out = [], []
    total = sum(len(b) for b in bursts)

    async def producer(ctx):
        cycle = 0
        for burst in bursts:
            for word in burst:
                for _ in range(int(rng.integers(0, QUIET))):
                    ctx.set(dut.i.valid, 0)
                    await ctx.tick()
                    cycle += 1
                ctx.set(dut.i.payload, word)
                ctx.set(dut.i.valid, 1)
                while True:
                    _, _, ready = await ctx.tick().sample(dut.i.ready)
                    cycle += 1
                    if ready:
                        break
                taken_in.append(cycle)
            ctx.set(dut.i.valid, 0)
            for _ in range(QUIET + 3 * dut.depth + 10):
                await ctx.tick()
                cycle += 1

    async def consumer(ctx):
        cycle = 0
        while len(out) < total:
            ctx.set(dut.o.ready, int(rng.random() < ready_p))
            _, _, valid, ready, payload = await ctx.tick().sample(dut.o.valid, dut.o.ready,
                                                                   dut.o.payload)
            cycle += 1
            if valid and ready:
                out.append((cycle, payload))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run_until(1e-6 * (len(bursts) * (QUIET + 3 * dut.depth + 10) + 2 * QUIET * total + 200))
    return out, taken_in


def _runs(cycles):
    """Lengths of the runs of consecutive cycles."""
    runs, length = [], 0
    for n, c in enumerate(cycles):
        if n and c != cycles[n - 1] + 1:
            runs.append(length)
            length = 0
        length += 1
    return [*runs, length] if cycles else runs


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bursts_leave_without_a_gap(seed):
    rng = np.random.default_rng(seed)
    sizes = [int(n) for n in rng.integers(1, 17, 5)]
    bursts = [rng.integers(0, 2**32, n).tolist() for n in sizes]
    dut = CommandGate(32, depth=16, quiet_cycles=QUIET)
    out, taken_in = _run(dut, bursts, seed)
    assert [w for _, w in out] == [w for b in bursts for w in b], f"seed {seed}"
    assert _runs([c for c, _ in out]) == sizes, f"seed {seed}"
    # Store and forward: a burst's first word leaves after its last word was taken and the
    # line was quiet (a full FIFO opens at once).
    end = 0
    for size in sizes:
        wait = QUIET if size < dut.depth else 1
        assert out[end][0] >= taken_in[end + size - 1] + wait, f"seed {seed}"
        end += size


def test_a_long_burst_leaves_in_pieces_of_the_depth():
    bursts = [list(range(1, 41))]
    dut = CommandGate(8, depth=8, quiet_cycles=QUIET)
    out, _ = _run(dut, bursts, 7)
    assert [w for _, w in out] == bursts[0]
    assert max(_runs([c for c, _ in out])) >= 8


@pytest.mark.parametrize("seed", [4, 5])
def test_back_pressure_loses_nothing(seed):
    rng = np.random.default_rng(seed)
    bursts = [rng.integers(0, 2**12, int(n)).tolist() for n in rng.integers(1, 30, 6)]
    dut = CommandGate(12, depth=8, quiet_cycles=QUIET)
    out, _ = _run(dut, bursts, seed, ready_p=0.5)
    assert [w for _, w in out] == [w for b in bursts for w in b], f"seed {seed}"


def test_parameters_are_checked():
    with pytest.raises(TesseraError, match="depth"):
        CommandGate(32, depth=1, quiet_cycles=4)
    with pytest.raises(TesseraError, match="quiet_cycles"):
        CommandGate(32, depth=4, quiet_cycles=0)
