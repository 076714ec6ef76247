"""Specs of the system's command processor (tessera.hw.system) and their broken variants.

The processor is proved on its own, with both engines' sides free: whatever the systolic and
sparse engines do (any results, any ``busy`` and error bits, any back-pressure), every stream it
drives keeps the valid/ready rule. That covers the system top's ``o`` and the engine-facing
streams in one proof; the engines' own streams are proved in spec_systolic and spec_sparse.
"""

from amaranth import Module
from amaranth.hdl import Assert, Assume
from tessera.golden.system_config import SparseConfig, SystemConfig, SystolicConfig
from tessera.hw.system.im2col import Im2colAddressGenerator
from tessera.hw.system.processor import CommandProcessor, _State

from . import harness as h

__all__ = ["im2col_stream_spec", "processor_stream_spec"]

#: The smallest system: a 2 x 2 array, two sparse PEs, one word of each memory the
#: configuration allows, two logged instructions.
TINY = SystemConfig(
    systolic=SystolicConfig(rows=2, cols=2, max_m=2, max_k=2, max_n=2, acc_depth=1),
    sparse=SparseConfig(n_pes=2, fifo_depth=2, act_depth=2, spmat_depth=2, ptr_depth=4,
                        param_depth=2, entries_per_word=2),
    act_depth=16, weight_depth=1, qparam_depth=1, stats_depth=2)


@h.breaks(CommandProcessor)
def _StatsRunsAhead(self, m):
    """Broken: STATS moves on to its next word whether or not ``o`` took the current one."""
    state, stat = h.find(m, "state"), h.find(m, "stat")
    with m.If(state == _State.STATS):
        m.d.sync += stat.eq(stat + 1)


@h.proof("processor_stream", "CommandProcessor(TINY)", "bmc", 12,
       covers="o (READ data, STATS words, BARRIER tags) and the engine-facing cmd, a, b, q and "
              "sparse streams keep valid and payload until ready, for any commands and any "
              "engine behaviour",
       broken="STATS moves on to its next word while o waits",
       why_bounded="the memories and the instruction log make the state too large for "
                   "induction to close in minutes; 12 steps: a four-word header, its "
                   "decoding and seven cycles of any instruction (a STATS word stalled on "
                   "o, the first commands and operands of a CONV or an FC)")
def processor_stream_spec(variant):
    """From the signature: ``cmd`` and the engines' outputs assumed, every output checked.

    One more assumption about the engines: the sparse array's error bits hold while the
    processor sends STATS words (it gives the array no command then, so nothing can raise
    one; STATS reports them as they are).
    """
    dut = h.pick(variant, CommandProcessor, _StatsRunsAhead)(TINY)
    inner = h.elaborated(dut)
    m = h.contract(dut, module=inner)
    in_stats = h.find(inner, "state") == _State.STATS
    error_before = h.past(m, dut.sparse_error, name="sparse_error_before")
    with m.If(in_stats & h.past(m, in_stats, name="was_in_stats")):
        m.d.comb += Assume(dut.sparse_error == error_before)
    return m


# -- Im2colAddressGenerator -----------------------------------------------------------------------

@h.breaks(Im2colAddressGenerator)
def _Im2colFlowsWhileStalled(self, m):
    """Broken: the address pipeline moves on while ``o`` is stalled."""
    m.d.comb += h.find(m, "flow").eq(1)


@h.proof("im2col_stream", "Im2colAddressGenerator(rows=4, tile_m=4)", "prove", 1, fail_depth=9,
       covers="o keeps valid and payload until ready, for any geometry",
       broken="the address pipeline moves on while o is stalled")
def im2col_stream_spec(variant):
    """``o.valid`` and ``o.payload`` hold until ``ready`` (the payload is the pipeline's last
    register)."""
    dut = h.pick(variant, Im2colAddressGenerator, _Im2colFlowsWhileStalled)(rows=4, tile_m=4)
    m = Module()
    m.submodules.dut = h.elaborated(dut)
    h.drive(m, dut.cmd.valid, dut.cmd.payload, dut.o.ready)
    h.assume_stream(m, dut.cmd, name="cmd")
    stalled = h.past(m, dut.o.valid & ~dut.o.ready, name="o_stalled")
    before = h.past(m, dut.o.payload.as_value(), name="payload_before")
    with m.If(stalled):
        m.d.comb += [Assert(dut.o.valid), Assert(dut.o.payload.as_value() == before)]
    return m
