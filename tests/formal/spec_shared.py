"""Specs of the units shared by the engines (tessera.hw.postproc) and their broken variants."""

from amaranth import Module, Signal
from amaranth.hdl import Assert, Cover
from tessera.hw.postproc import PostProcessor

from . import harness as h

__all__ = ["postproc_conservation_spec", "postproc_stream_spec"]


@h.breaks(PostProcessor)
def _PostProcessorIgnoresStall(self, m):
    """Broken: the pipeline advances every cycle, whether or not ``o`` takes its element."""
    m.d.comb += h.find(m, "advance").eq(1)


def _postproc(m, variant, acc_width):
    dut = h.pick(variant, PostProcessor, _PostProcessorIgnoresStall)(acc_width=acc_width)
    m.submodules.dut = h.elaborated(dut)
    h.drive(m, dut.i.valid, dut.i.payload, dut.o.ready)
    h.assume_stream(m, dut.i)
    return dut


@h.proof("postproc_stream", "PostProcessor(acc_width=16)", "prove", 8, fail_depth=12,
       covers="o keeps valid and payload until ready, for inputs that follow the rule",
       broken="the output stage advances while o is stalled")
def postproc_stream_spec(variant, *, acc_width=16):
    m = Module()
    dut = _postproc(m, variant, acc_width)
    h.check_stream(m, dut.o)
    return m


@h.proof("postproc_conservation", "PostProcessor(acc_width=16)", "prove", 8, fail_depth=12,
       kind="conservation",
       covers="elements in = elements out + elements in the six stages",
       broken="the output stage is overwritten while stalled (an element is lost)")
def postproc_conservation_spec(variant, *, acc_width=16):
    """Elements in = elements out + elements in the pipeline (one valid bit per stage)."""
    m = Module()
    dut = _postproc(m, variant, acc_width)
    stages = h.find(m.submodules.dut, "valid")  # stages 1..5; stage 6 is o.valid
    occupancy = Signal(range(dut.LATENCY + 1))
    m.d.comb += occupancy.eq(sum(stages[k] for k in range(len(stages))) + dut.o.valid)
    width = 4
    pushed = h.count(m, dut.i.valid & dut.i.ready, width, name="pushed")
    popped = h.count(m, dut.o.valid & dut.o.ready, width, name="popped")
    m.d.comb += Assert((pushed - popped)[:width] == occupancy)
    m.d.comb += Cover(occupancy == dut.LATENCY)
    return m
