"""cocotb testbench of the im2col address generator (tessera.hw.system.im2col) against golden.

Several CONV commands back to back, with gaps on ``cmd`` and back-pressure on ``o``; the words
must be those of :func:`tessera.golden.im2col_stream.im2col_addresses`, command after command.
"""

import cocotb
import numpy as np
from amaranth.lib import data
from tessera.golden.im2col_stream import ZERO, im2col_addresses
from tessera.golden.isa import Op
from tessera.golden.system_config import SystolicConfig
from tessera.hw.system.im2col import lane_layout
from tessera.hw.system.protocol import args_layout
from tessera.sim import stream, tb

from tests.golden.test_im2col_stream import random_conv


@cocotb.test()
async def back_to_back_commands(dut):
    """Random geometries, one after the other, under the given valid and ready patterns."""
    p = tb.params()
    rows, tile_m = p["rows"], p["tile_m"]
    tb.start_clock(dut)
    dut.cmd__valid.value = 0
    await tb.reset(dut)
    source = stream.StreamSource(dut, "cmd", pause=stream.pause_pattern(*p["valid"], seed=1))
    sink = stream.StreamSink(dut, "o", pause=stream.pause_pattern(*p["ready"], seed=2))
    rng = tb.rng(p.get("salt", 0))
    config = SystolicConfig(rows=rows, cols=4, max_m=512, max_k=512, acc_depth=tile_m)
    convs = [random_conv(rng) for _ in range(p.get("cases", 8))]
    expected = np.concatenate([im2col_addresses(conv, config) for conv in convs])
    layout = args_layout(Op.CONV)
    source.send([layout.const(conv.args()).as_bits() for conv in convs])
    received = await sink.wait_for(len(expected))
    words = data.ArrayLayout(lane_layout, rows)
    got = np.array([[ZERO if lane.zero else int(lane.addr) for lane in words.from_bits(int(w))]
                    for w in received], dtype=np.int64)
    bad = np.flatnonzero((got != expected).any(axis=1))
    assert not bad.size, (f"word {int(bad[0])} of {len(expected)}: expected "
                          f"{expected[bad[0]].tolist()}, got {got[bad[0]].tolist()}")
