"""The pointer read unit: a column's start and end pointers in one cycle, from two banks."""

from amaranth import *
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from tessera.golden.config.sparse import ACT_WIDTH, FIELD_WIDTH

from .configwrite import write_members
from .protocol import pointers_layout
from .queue import column_layout

__all__ = ["PointerReadUnit", "span_layout"]


def span_layout(config):
    """A non-empty column's entries ``start .. end - 1`` and its activation ``value``."""
    return data.StructLayout({
        "start": unsigned(config.ptr_bits),
        "end": unsigned(config.ptr_bits),
        "value": signed(ACT_WIDTH),
    })


class PointerReadUnit(wiring.Component):
    """Turn a column index into the span of its entries: ``p[j] .. p[j + 1]``.

    Column ``j`` of a layer needs two pointers, ``p[q]`` and ``p[q + 1]`` with ``q = base + j``.
    As in EIE, the pointers are split over two single-port banks, even indices in one and odd
    in the other, so that the two neighbours always sit in different banks and are read in the
    same cycle: ``even[(q + 1) >> 1]`` and ``odd[q >> 1]``, swapped when ``q`` is odd.

    Two stages, each holding one column: *read* (the banks' read ports, which keep their data
    until the next read) and *span* (a register, so that no logic hangs behind a block RAM's
    slow output). A column taken at cycle ``t`` is read at ``t + 1`` and moves into the span
    stage at the first cycle ``>= t + 1`` in which that stage frees; it is offered on ``o`` from
    the next cycle. The span stage frees in the cycle its span is taken or dropped: an empty
    column (``p[q] == p[q + 1]``) is dropped in its first cycle there and never appears on
    ``o``. With ``o`` ready, the unit takes one column per cycle.

    Parameters
    ----------
    config : SparseConfig

    Members
    -------
    w_en, w_addr, w_data : In
        Configuration write of the pointer pair ``w_addr``
        (:func:`tessera.hw.sparse.protocol.pointers_layout`): ``p[2 w] = w_data.even`` and
        ``p[2 w + 1] = w_data.odd``, in one cycle.
    base : In(16)
        Pointer index of the layer's column 0; held during a layer.
    i : In(stream.Signature(column_layout))
        Columns from the activation queue. ``i.ready`` is high when the read stage is empty or
        moves on in this cycle.
    o : Out(stream.Signature(span_layout(config)))
        Spans of non-empty columns, held until taken.
    error : Out(1)
        High in a cycle in which a column is dropped because its pointers are bad: the end lies
        past the matrix memory (``config.capacity``) or before the start.
    idle : Out(1)
        Both stages are empty.
    """

    def __init__(self, config):
        self.config = config
        self.pair_depth = (config.ptr_depth + 1) // 2
        super().__init__({
            **write_members(self.pair_depth, pointers_layout(config)),
            "base": In(FIELD_WIDTH),
            "i": In(stream.Signature(column_layout)),
            "o": Out(stream.Signature(span_layout(config))),
            "error": Out(1),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        bits = cfg.ptr_bits
        m.submodules.even = even = memory.Memory(shape=bits, depth=self.pair_depth, init=[])
        m.submodules.odd = odd = memory.Memory(shape=bits, depth=self.pair_depth, init=[])
        even_w, odd_w = even.write_port(), odd.write_port()
        even_r, odd_r = even.read_port(), odd.read_port()
        m.d.comb += [
            even_w.addr.eq(self.w_addr), even_w.data.eq(self.w_data.even),
            even_w.en.eq(self.w_en),
            odd_w.addr.eq(self.w_addr), odd_w.data.eq(self.w_data.odd),
            odd_w.en.eq(self.w_en),
        ]

        # Read stage: the banks' outputs, for the column taken last.
        read_valid = Signal()
        read_odd = Signal()
        read_value = Signal(signed(ACT_WIDTH))
        # Span stage: registers.
        valid = Signal()
        start, end = Signal(bits), Signal(bits)
        value = Signal(signed(ACT_WIDTH))

        bad = (end > cfg.capacity) | (end < start)
        drop = Signal()  # empty or bad: one magnitude compare, `end <= start`
        advance = Signal()  # the read stage moves into the span stage
        q = Signal(FIELD_WIDTH + 1)
        take = Signal()
        m.d.comb += [
            drop.eq(valid & ((end <= start) | (end > cfg.capacity))),
            self.error.eq(valid & bad),
            self.o.valid.eq(valid & ~drop),
            self.o.payload.start.eq(start),
            self.o.payload.end.eq(end),
            self.o.payload.value.eq(value),
            advance.eq(read_valid & (~valid | drop | self.o.ready)),
            self.i.ready.eq(~read_valid | advance),
            take.eq(self.i.valid & self.i.ready),
            q.eq(self.base + self.i.payload.col),
            even_r.addr.eq((q + 1) >> 1),
            odd_r.addr.eq(q >> 1),
            even_r.en.eq(take),
            odd_r.en.eq(take),
            self.idle.eq(~read_valid & ~valid),
        ]
        with m.If(take):
            m.d.sync += [read_valid.eq(1), read_odd.eq(q[0]),
                         read_value.eq(self.i.payload.value)]
        with m.Elif(advance):
            m.d.sync += read_valid.eq(0)
        with m.If(advance):
            m.d.sync += [
                valid.eq(1),
                start.eq(Mux(read_odd, odd_r.data, even_r.data)),
                end.eq(Mux(read_odd, even_r.data, odd_r.data)),
                value.eq(read_value),
            ]
        with m.Elif(~valid | drop | self.o.ready):
            m.d.sync += valid.eq(0)
        return m
