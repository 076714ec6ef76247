"""The sparse-matrix read unit: walks a column's entries, one (index, relative index) a cycle."""

from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2
from tessera.golden.config.sparse import ACT_WIDTH

from .configwrite import configured_memory, write_members
from .pointer import span_layout
from .protocol import spmat_layout

__all__ = ["SparseMatrixReadUnit", "entry_layout"]


def entry_layout(config):
    """An entry on its way to the arithmetic: codebook ``index``, relative index ``rel``, the
    column's activation ``value`` and ``first`` (the first entry of its column)."""
    return data.StructLayout({
        "index": unsigned(config.index_bits),
        "rel": unsigned(config.rel_bits),
        "value": signed(ACT_WIDTH),
        "first": 1,
    })


class SparseMatrixReadUnit(wiring.Component):
    """Issue every entry of a span, one per cycle, from memory words of packed entries.

    Entry ``e`` of the PE lives in word ``e // entries_per_word``, field ``e %
    entries_per_word``: element ``n`` of the word's
    :func:`tessera.hw.sparse.protocol.spmat_layout` (see :func:`tessera.golden.eie.pack_entries`).
    The word read last is kept at the read port, and the memory is read only when the next entry
    lies in another word: in a steady stream of entries the memory is read once every
    ``entries_per_word`` cycles, as in EIE.

    Parameters
    ----------
    config : SparseConfig
        The memory: ``spmat_depth`` words of ``entries_per_word`` entries.

    Members
    -------
    w_en, w_addr, w_data : In
        Configuration write of one memory word (:func:`.configwrite.write_members`).
    i : In(stream.Signature(span_layout(config)))
        Spans (non-empty columns). ``i.ready`` is high when no span is in progress. A span
        taken in a cycle issues its first entry in that same cycle, so consecutive spans issue
        back to back: a span of ``n`` entries taken at cycle ``t`` issues at ``t .. t + n - 1``
        and the next span can be taken at ``t + n``.
    o : Out(stream.Signature(entry_layout(config), always_ready=True))
        Entries, two cycles after they issue (memory read and word register); downstream never
        stalls.
    issue : Out(1)
        High in a cycle in which an entry issues (the PE's busy cycles).
    busy : Out(1)
        A span is in progress (entries remain to issue after this cycle's).
    idle : Out(1)
        No span in progress and no entry on its way to ``o``.
    """

    def __init__(self, config):
        self.config = config
        super().__init__({
            **write_members(config.spmat_depth, spmat_layout(config)),
            "i": In(stream.Signature(span_layout(config))),
            "o": Out(stream.Signature(entry_layout(config), always_ready=True)),
            "issue": Out(1),
            "busy": Out(1),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        rd = configured_memory(m, "words", self, spmat_layout(cfg), cfg.spmat_depth)

        # The column in progress (after its first entry issued).
        busy = Signal()
        next_ptr = Signal(cfg.ptr_bits)
        end = Signal(cfg.ptr_bits)
        value = Signal(signed(ACT_WIDTH))

        ptr = Signal(cfg.ptr_bits)
        cur_end = Signal(cfg.ptr_bits)
        cur_value = Signal(signed(ACT_WIDTH))
        m.d.comb += [
            self.busy.eq(busy),
            self.i.ready.eq(~busy),
            self.issue.eq(busy | self.i.valid),
            ptr.eq(Mux(busy, next_ptr, self.i.payload.start)),
            cur_end.eq(Mux(busy, end, self.i.payload.end)),
            cur_value.eq(Mux(busy, value, self.i.payload.value)),
        ]
        with m.If(self.issue):
            m.d.sync += [
                next_ptr.eq(ptr + 1),
                end.eq(cur_end),
                value.eq(cur_value),
                busy.eq(ptr + 1 != cur_end),
            ]

        # Read the word of the entry that issues (every cycle: see the class docstring).
        shift = exact_log2(cfg.entries_per_word)
        m.d.comb += [rd.addr.eq(ptr >> shift), rd.en.eq(1)]

        # Two output stages: the word arrives at the read port, then in the word register.
        shift_bits = max(shift, 1)
        sel = Signal(shift_bits)
        late_sel = Signal(shift_bits)
        late = Signal(entry_layout(cfg))
        late_valid = Signal()
        word_reg = Signal(spmat_layout(cfg))
        m.d.sync += [
            late_valid.eq(self.issue),
            late_sel.eq(ptr[:shift] if shift else 0),
            late.value.eq(cur_value),
            late.first.eq(~busy),
            word_reg.eq(rd.data),
            self.o.valid.eq(late_valid),
            sel.eq(late_sel),
            self.o.payload.value.eq(late.value),
            self.o.payload.first.eq(late.first),
        ]
        m.d.comb += self.idle.eq(~busy & ~late_valid & ~self.o.valid)
        entry = word_reg[sel] if shift else word_reg[0]
        m.d.comb += [
            self.o.payload.index.eq(entry.index),
            self.o.payload.rel.eq(entry.rel),
        ]
        return m
