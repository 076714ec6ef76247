"""The non-zero detector: EIE's leading non-zero detection over the PEs' source activations."""

from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2
from tessera.golden.config.sparse import ACT_WIDTH, FIELD_WIDTH

from .queue import column_layout

__all__ = ["NonZeroDetector", "leading_nonzero"]


def leading_nonzero(bits):
    """Return ``(any, index)``: whether ``bits`` has a set bit, and the lowest one's index.

    Built as EIE builds its LNZD: a tree of four-input nodes, each passing up whether one of its
    children saw a set bit and which one did (the first, in index order), with that child's own
    index below it. ``bits`` is padded with zeros to a power of four. Combinational.
    """
    bits = Value.cast(bits)
    levels = max(1, (ceil_log2(len(bits)) + 1) // 2)  # 4**levels >= len(bits)
    nodes = [(bits[n], Const(0, 0)) if n < len(bits) else (Const(0, 1), Const(0, 0))
             for n in range(4**levels)]
    for _ in range(levels):
        parents = []
        for n in range(0, len(nodes), 4):
            (a0, i0), (a1, i1), (a2, i2), (a3, i3) = nodes[n:n + 4]
            index = Mux(a0, Cat(i0, Const(0, 2)),
                        Mux(a1, Cat(i1, Const(1, 2)),
                            Mux(a2, Cat(i2, Const(2, 2)), Cat(i3, Const(3, 2)))))
            parents.append((a0 | a1 | a2 | a3, index))
        nodes = parents
    (found, index), = nodes
    return found, index


class NonZeroDetector(wiring.Component):
    """Find the non-zero input activations of a layer, in order, one per cycle.

    Activation ``j`` lives in PE ``j % N`` at local address ``j // N``, so one read of local
    address ``g`` in every PE's source buffer yields the *group* of ``N`` consecutive
    activations ``g N .. g N + N - 1`` (EIE: each PE holds its slice; one LNZD node per four
    PEs, in a quadtree). The detector keeps one group in a register, offers its leading
    non-zero (lowest column) on ``o``, and marks it sent when taken. When the group's last
    non-zero is taken, or the group has none, the next group is read; its activations reach the
    register two cycles later (the block RAM read, then the register: a block RAM's output is
    too slow to feed the tree directly).

    So, with ``o`` always ready, the non-zeros of a group are offered in consecutive cycles;
    the next group's first one two cycles after the last of the previous group, plus two
    cycles per all-zero group in between; the first group is read in the cycle after
    ``start``. Lanes past ``cols`` count as zero, whatever the buffers hold there.

    Parameters
    ----------
    config : SparseConfig

    Members
    -------
    start : In(1)
        A layer of ``cols`` columns starts.
    cols : In(16)
        The layer's column count (sampled at ``start``).
    rd_en, rd_addr : Out
        Read of local address ``rd_addr`` from every PE's source buffer.
    lanes : In(data.ArrayLayout(signed(8), n_pes))
        What that read returned, one cycle later.
    o : Out(stream.Signature(column_layout))
        Non-zero activations and their columns, in column order.
    idle : Out(1)
        Every group of the layer has been read and every non-zero taken.
    """

    def __init__(self, config):
        self.config = config
        super().__init__({
            "start": In(1),
            "cols": In(FIELD_WIDTH),
            "rd_en": Out(1),
            "rd_addr": Out(ceil_log2(config.act_depth) or 1),
            "lanes": In(data.ArrayLayout(signed(ACT_WIDTH), config.n_pes)),
            "o": Out(stream.Signature(column_layout)),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        n = self.config.n_pes
        cols = Signal(FIELD_WIDTH)
        next_base = Signal(FIELD_WIDTH + 1)
        next_group = Signal(len(self.rd_addr) + 1)
        reading = Signal()  # a group is at the buffers' read ports
        reading_base = Signal(FIELD_WIDTH + 1)
        base = Signal(FIELD_WIDTH + 1)  # column of lane 0 of the group held
        held = Signal()
        lanes = Signal(data.ArrayLayout(signed(ACT_WIDTH), n))
        inside = Signal(n)  # lanes before column `cols`, found when the group is loaded
        sent = Signal(n)

        # Which lanes of the group being loaded lie inside the layer: from registers only, so
        # that the per-cycle path (pending -> LNZD -> broadcast) starts at registers and no
        # logic sits behind the buffers' block RAM outputs.
        remaining = Signal(FIELD_WIDTH + 1)
        m.d.comb += remaining.eq(cols - reading_base)
        loading = Cat(remaining > k for k in range(n))
        nonzero = Cat(lanes[k] != 0 for k in range(n))
        pending = Signal(n)
        m.d.comb += pending.eq(Mux(held, nonzero & inside & ~sent, 0))
        found, lead = leading_nonzero(pending)
        lowest = Signal(n)
        m.d.comb += lowest.eq(pending & (~pending + 1))  # the lowest set bit alone

        take = Signal()
        free = Signal()
        more = Signal()
        fetch = Signal()
        index = lead[:ceil_log2(n)] if n > 1 else C(0, 1)
        m.d.comb += [
            self.o.valid.eq(found),
            self.o.payload.col.eq(base + index),
            self.o.payload.value.eq(lanes.as_value().word_select(index, ACT_WIDTH)),
            take.eq(self.o.valid & self.o.ready),
            free.eq(~reading & (~found | (take & ((pending & ~lowest) == 0)))),
            more.eq(next_base < cols),
            fetch.eq(more & free),
            self.rd_en.eq(fetch),
            self.rd_addr.eq(next_group),
            self.idle.eq(~more & ~reading & ~found),
        ]
        m.d.sync += reading.eq(fetch & ~self.start)
        with m.If(self.start):
            m.d.sync += [cols.eq(self.cols), next_base.eq(0), next_group.eq(0),
                         held.eq(0), sent.eq(0)]
        with m.Else():
            with m.If(fetch):
                m.d.sync += [next_base.eq(next_base + n), next_group.eq(next_group + 1),
                             reading_base.eq(next_base)]
            with m.If(reading):
                m.d.sync += [lanes.eq(self.lanes), inside.eq(loading), base.eq(reading_base),
                             held.eq(1), sent.eq(0)]
            with m.Else():
                with m.If(take):
                    m.d.sync += sent.eq(sent | lowest)
                with m.If(free):
                    m.d.sync += held.eq(0)
        return m
