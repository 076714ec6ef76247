"""cocotb side of the runner and stream-helper tests."""

import cocotb
from tessera.sim import tb


@cocotb.test()
async def fifo_under_backpressure(dut):
    """Every payload comes out once, in order, whatever the valid and ready patterns."""
    p = tb.params()
    tb.start_clock(dut)
    await tb.reset(dut)
    data = [int(x) for x in tb.rng().integers(0, 2 ** len(dut.i__payload), p["count"])]
    source = tb.StreamSource(dut, "i", tuple(p["valid"]), seed=1)
    sink = tb.StreamSink(dut, "o", tuple(p["ready"]), seed=2)
    source.send(data)
    await sink.wait_for(len(data))
    assert sink.received == data, f"sent {data[:8]}..., received {sink.received[:8]}..."
    tb.report(received=len(sink.received), params=p)
    tb.save_outputs(data=data)


@cocotb.test()
async def fails_on_purpose(dut):
    """Run only when asked: proves that a failing cocotb test fails the pytest test."""
    assert tb.params().get("fail") is not True, "failing on purpose"
