"""cocotb side of the runner and stream-driver tests (tessera.sim.stream on a small FIFO)."""

import cocotb
from cocotb.triggers import ClockCycles
from tessera.sim import stream, tb


def drivers(dut, p, **extra):
    source = stream.StreamSource(dut, "i", pause=stream.pause_pattern(p["valid"][0], seed=1),
                                 **extra)
    sink = stream.StreamSink(dut, "o", pause=stream.pause_pattern(p["ready"][0], seed=2),
                             **extra)
    return source, sink, stream.StreamMonitor(dut, "i"), stream.StreamMonitor(dut, "o")


@cocotb.test()
async def fifo_under_backpressure(dut):
    """Every payload comes out once, in order, whatever the valid and ready patterns; the
    monitors see the same transfers as the drivers."""
    p = tb.params()
    tb.start_clock(dut)
    await tb.reset(dut)
    data = [int(x) for x in tb.rng().integers(0, 2 ** len(dut.i__payload), p["count"])]
    source, sink, watch_i, watch_o = drivers(dut, p)
    source.send(data)
    got = await sink.wait_for(len(data))
    await source.wait_idle()
    assert got == data, f"sent {data[:8]}..., received {got[:8]}..."
    assert watch_i.payloads == data, f"monitor of i saw {watch_i.payloads[:8]}..."
    assert watch_o.payloads == data, f"monitor of o saw {watch_o.payloads[:8]}..."
    assert source.sent == sink.transfers == len(data)
    tb.report(received=len(sink.received), params=p, i_edges=watch_i.edges,
              o_edges=watch_o.edges)
    tb.save_outputs(data=data)


@cocotb.test()
async def pause_timing(dut):
    """Transfers happen exactly on the edges the pause patterns leave open: hand the caller
    the edges of every transfer (relative to the first), to compare with a model."""
    p = tb.params()
    tb.start_clock(dut)
    await tb.reset(dut)
    await ClockCycles(dut.clk, 3)
    source, sink, watch_i, watch_o = drivers(dut, p)
    origin = source._origin
    data = list(range(p["count"]))
    source.send(data)
    await sink.wait_for(len(data))
    tb.report(i_edges=[e - origin for e in watch_i.edges],
              o_edges=[e - origin for e in watch_o.edges])


@cocotb.test()
async def hang_names_stream_and_cycle(dut):
    """Waiting for more payloads than were sent fails after hang_cycles with StreamHang."""
    p = tb.params()
    tb.start_clock(dut)
    await tb.reset(dut)
    source, sink, _, _ = drivers(dut, p, hang_cycles=p["hang"])
    source.send([1, 2, 3])
    try:
        await sink.wait_for(4)
    except stream.StreamHang as error:
        tb.report(message=str(error), received=len(sink.received))
        return
    raise AssertionError("wait_for(4) returned after 3 payloads")


@cocotb.test()
async def fails_on_purpose(dut):
    """Run only when asked: proves that a failing cocotb test fails the pytest test."""
    assert tb.params().get("fail") is not True, "failing on purpose"


@cocotb.test()
async def clock_edges(dut):
    """Report the times of the clock's first three rising edges after ``start_clock``, and
    the values of ``o__valid`` a callback at those edges reads while ``i`` offers a word from
    the first edge on (the FIFO raises ``o__valid`` at the edge that takes it)."""
    from cocotb.simtime import get_sim_time
    from cocotb.triggers import RisingEdge
    from tessera.sim import simclock

    tb.start_clock(dut)
    await tb.reset(dut)
    dut.o__ready.value = 0
    dut.i__payload.value = 5
    dut.i__valid.value = 1
    times, valid = [], []
    for _ in range(3):
        await RisingEdge(dut.clk)
        times.append(get_sim_time("ns"))
        valid.append(int(dut.o__valid.value))
    tb.report(times=times, valid=valid, period=simclock.clock_period(),
              cycle=stream._cycle(dut.clk))
