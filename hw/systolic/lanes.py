"""The engine's output path: ``lanes`` post-processors in lockstep, one word of results a cycle."""

from amaranth import *
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.errors import check_int

from ..postproc import PostProcessor
from .protocol import quant_layout, result_layout

__all__ = ["LanePostProcessor", "lane_input_layout"]


def lane_input_layout(lanes, acc_width=32):
    """The payload of :attr:`LanePostProcessor.i`: a word of accumulators, each with its
    column's parameters (``q``), how many lanes are valid (``n``), ``relu`` and ``raw``."""
    return data.StructLayout({
        "acc": data.ArrayLayout(signed(acc_width), lanes),
        "q": data.ArrayLayout(quant_layout(acc_width), lanes),
        "n": range(lanes + 1),
        "relu": 1,
        "raw": 1,
    })


class LanePostProcessor(wiring.Component):
    """Post-process a word of ``lanes`` accumulators a cycle, as
    :class:`tessera.hw.postproc.PostProcessor` does one.

    Built as ``lanes`` instances of the shared :class:`~tessera.hw.postproc.PostProcessor`, one
    per lane, driven in lockstep (the same ``valid`` and ``ready``, so their pipelines hold the
    same words), rather than as one C-wide unit: every lane is the unit the sparse engine and
    the golden tests already check bit for bit, and what the lanes could share (seven stages of
    ``valid``, ``relu`` and ``raw`` flip-flops, and the shift amount, which differs per column)
    is a few flip-flops per lane. The lane count ``n`` of each word travels beside the
    pipelines in a small queue.

    Each lane multiplies with two 18x18 DSP blocks or in logic
    (:func:`tessera.hw.postproc.shift_add_multiply`): the first ``dsp_lanes`` lanes use DSP
    blocks. On the ECP5-85F a 16 x 16 array's PEs take 154 of the 156 MULT18X18D, so there one
    lane multiplies in DSP blocks and fifteen in logic.

    Parameters
    ----------
    lanes : int
        1..32.
    acc_width : int
        16..32.
    dsp_lanes : int or None
        Lanes whose post-processor multiplies in DSP blocks (default: all); values and timing
        do not depend on it.

    Members
    -------
    i : In(stream.Signature(lane_input_layout(lanes, acc_width)))
        Lanes ``0 .. n - 1`` hold results; the others are computed and ignored.
    o : Out(stream.Signature(protocol.result_layout(lanes, acc_width)))
        Lane ``j`` is lane ``j`` of the input, int8 sign-extended (or the raw accumulator);
        ``n`` as in the input.

    Timing
    ------
    :attr:`LATENCY` (the post-processor's): a word accepted at one edge is on ``o`` after the
    seventh, one word a cycle. Back-pressure stalls every lane together (``i.ready`` is
    combinational from ``o.ready``); nothing is dropped or duplicated. Reset empties it.
    """

    LATENCY = PostProcessor.LATENCY

    def __init__(self, *, lanes, acc_width=32, dsp_lanes=None):
        self.lanes = check_int(lanes, "lanes", 1, 32)
        self.acc_width = check_int(acc_width, "acc_width", 16, 32)
        self.dsp_lanes = (self.lanes if dsp_lanes is None
                          else check_int(dsp_lanes, "dsp_lanes", 0, self.lanes))
        super().__init__({
            "i": In(stream.Signature(lane_input_layout(self.lanes, self.acc_width))),
            "o": Out(stream.Signature(result_layout(self.lanes, self.acc_width))),
        })

    def elaborate(self, platform):
        m = Module()
        # The lane counts of the words inside the pipelines: at most one per stage.
        m.submodules.counts = counts = fifo.SyncFIFO(width=len(self.i.payload.n),
                                                     depth=self.LATENCY + 2)
        lanes = []
        for j in range(self.lanes):
            kind = "dsp" if j < self.dsp_lanes else "logic"
            pp = PostProcessor(acc_width=self.acc_width, multiplier=kind)
            m.submodules[f"lane{j}"] = pp
            lanes.append(pp)
        p = self.i.payload
        take = Signal()
        m.d.comb += [
            self.i.ready.eq(lanes[0].i.ready & counts.w_rdy),
            take.eq(self.i.valid & self.i.ready),
            counts.w_en.eq(take),
            counts.w_data.eq(p.n),
            self.o.valid.eq(lanes[0].o.valid),
            self.o.payload.n.eq(counts.r_data),
            counts.r_en.eq(self.o.valid & self.o.ready),
        ]
        for j, pp in enumerate(lanes):
            m.d.comb += [
                pp.i.valid.eq(self.i.valid & counts.w_rdy),
                pp.i.payload.acc.eq(p.acc[j]),
                pp.i.payload.bias.eq(p.q[j].bias),
                pp.i.payload.multiplier.eq(p.q[j].multiplier),
                pp.i.payload.shift.eq(p.q[j].shift),
                pp.i.payload.relu.eq(p.relu),
                pp.i.payload.raw.eq(p.raw),
                self.o.payload.data[j].eq(pp.o.payload),
                pp.o.ready.eq(self.o.ready),
            ]
        return m
