# amaranth: UnusedElaboratable=no
"""The broadcast slice of tessera.boards.broadcast_slice: both variants deliver every non-zero
to every queue in column order (so the timing check measures working logic), and the critical
path summary reads nextpnr's report."""

import numpy as np
import pytest
from amaranth.sim import Simulator
from tessera.boards.broadcast_slice import BroadcastSlice, critical_path


@pytest.mark.parametrize("handshake", [False, True])
def test_every_queue_gets_every_nonzero_in_order(handshake):
    n = 4
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, 3 * n) * (rng.random(3 * n) < 0.6)
    dut = BroadcastSlice(n_pes=n, fifo_depth=2, handshake=handshake)
    got = [[] for _ in range(n)]

    async def bench(ctx):
        ctx.set(dut.cols, x.size)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        lanes = None
        for cycle in range(200):
            for k in range(n):  # PE k reads every other cycle, PE 0 every third
                ctx.set(dut.q[k].ready, cycle % (3 if k == 0 else 2) == 0)
            if lanes is not None:
                ctx.set(dut.lanes, lanes)
            lanes = ([int(v) for v in x[ctx.get(dut.rd_addr) * n:][:n]] + [0] * n)[:n] \
                if ctx.get(dut.rd_en) else None
            for k in range(n):
                if ctx.get(dut.q[k].valid) and ctx.get(dut.q[k].ready):
                    got[k].append((ctx.get(dut.q[k].payload.col),
                                   ctx.get(dut.q[k].payload.value)))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    expected = [(int(j), int(x[j])) for j in np.flatnonzero(x)]
    assert len(expected) > n
    for k in range(n):
        assert got[k] == expected, (handshake, k)


def test_critical_path_summary():
    step = {"from": {"cell": "a"}, "to": {"cell": "b"}}
    report = {"critical_paths": [{"path": [
        {**step, "type": "clk-to-q", "delay": 0.5},
        {**step, "type": "routing", "delay": 2.0, "net": "n1"},
        {"from": {"cell": "b"}, "to": {"cell": "c"}, "type": "logic", "delay": 0.25},
    ]}]}
    assert critical_path(report) == {"from": "a", "to": "c", "logic_ns": 0.75,
                                     "routing_ns": 2.0, "nets": ["n1"]}
