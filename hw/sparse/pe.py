"""The sparse processing element: EIE's PE, from activation queue to destination buffer."""

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2
from tessera.golden.config.sparse import ACC_WIDTH, ACT_WIDTH, FIELD_WIDTH
from tessera.golden.errors import check_int

from .actrw import ActRW
from .address import AddressAccumulator
from .arith import ArithmeticUnit
from .codebook import CodebookDecoder
from .pointer import PointerReadUnit
from .protocol import Op, act_layout, codebook_layout, run_layout
from .queue import ActivationQueue, column_layout
from .spmat import SparseMatrixReadUnit

__all__ = ["SparsePE"]

#: Width of the busy and stall counters.
COUNTER_WIDTH = 32


class SparsePE(wiring.Component):
    """One PE of the sparse array: its rows of the weight matrix, accumulators and activations.

    The units, in the order an activation meets them (EIE, section IV)::

        q --> ActivationQueue --> PointerReadUnit (read stage, span register)
                              --> SparseMatrixReadUnit (one entry a cycle, word register)
                                                          | entry (index, rel, value, first)
                  CodebookDecoder + AddressAccumulator (stage E, registered; range
                                                        check in stage M)
                                                          | (row, weight, value, write)
                              ArithmeticUnit (multiply + read, register, add + write)
        after the layer:       ArithmeticUnit --> the array's WriteBack (one PostProcessor
                               for every PE) --> ActRW

    Timing of one column ``j`` with ``e`` entries for this PE, read out of the queue at cycle
    ``t`` with the stages behind it free: its pointers are at the banks' ports at ``t + 1`` and
    in the span register at ``t + 2``, where its first entry issues; entry ``n`` issues at
    ``t + 2 + n``, reaches the word register two cycles later, is decoded into the stage-E
    registers, then multiplied, then added three cycles after that. The next column can leave
    the queue while this one is still in the pointer unit, so spans issue back to back. An
    empty column costs one cycle in each pointer stage and none in the entry unit. A PE is
    *idle* once its queue is empty and no column or entry is in flight: six cycles after its
    last issue. golden/sparse_cycles.py turns this into the exact cycle count of a layer.

    Parameters
    ----------
    config : SparseConfig
    pe : int
        This PE's index ``k`` in ``0 .. n_pes - 1``.

    Members
    -------
    q : In(stream.Signature(column_layout))
        Broadcast non-zero activations.
    cfg_en, cfg_op, cfg_addr, cfg_data : In
        A configuration command addressed to this PE (the array decodes the ``pe`` field and
        checks the address): CODEBOOK, POINTERS, SPMAT, PARAMS or ACT, ``cfg_data`` holding
        the op's payload layout (:mod:`tessera.hw.sparse.protocol`) from bit 0. (PARAMS
        goes to the array's :class:`WriteBack`, not to a PE.)
    start : In(1)
        A layer starts (RUN accepted): counters rewind.
    layer : In(run_layout)
        The layer's RUN fields (:data:`tessera.hw.sparse.protocol.run_layout`), held during the
        layer.
    wb_en, wb_addr : In
        Write-back's read-and-clear of accumulator ``wb_addr`` (only while the PE is idle).
    wb_data : Out(signed(32))
        Its value, one cycle later, held until the next ``wb_en``.
    dst_en, dst_addr, dst_data : In
        Write-back's write of int8 ``dst_data`` into destination activation ``dst_addr``.
    swap : In(1)
        Exchange the activation buffers.
    bcast_wait : In(1)
        The broadcast has a non-zero it cannot send (some queue was almost full last cycle).
    act_rd_en, act_rd_addr : In
        The non-zero detector's read of source activation ``act_rd_addr``.
    act : Out(signed(8))
        Its value, one cycle later.
    almost_full : Out(1)
        Registered: the activation queue holds ``fifo_depth - 1`` pairs or more this cycle
        (:class:`ActivationQueue`).
    idle : Out(1)
        Compute pipeline empty (queue, pointer stage, span, entries in flight).
    ready : Out(1)
        The post-reset accumulator sweep is over.
    busy : Out(32)
        Cycles of this layer in which an entry (padding included) issued.
    stall : Out(32)
        Cycles of this layer in which the broadcast waited on this PE's queue: ``bcast_wait``
        while ``almost_full`` was high in the cycle before.
    error : Out(3)
        Pointer, row and code error pulses (:class:`tessera.hw.sparse.protocol.Error` bits 2..4).
    """

    def __init__(self, config, *, pe):
        self.config = config
        self.pe = check_int(pe, "pe", 0, config.n_pes - 1)
        addr = ceil_log2(config.act_depth) or 1
        super().__init__({
            "q": In(stream.Signature(column_layout)),
            "cfg_en": In(1),
            "cfg_op": In(Op),
            "cfg_addr": In(FIELD_WIDTH),
            "cfg_data": In(config.data_width),
            "start": In(1),
            "layer": In(run_layout),
            "wb_en": In(1),
            "wb_addr": In(addr),
            "wb_data": Out(signed(ACC_WIDTH)),
            "dst_en": In(1),
            "dst_addr": In(addr),
            "dst_data": In(signed(ACT_WIDTH)),
            "swap": In(1),
            "bcast_wait": In(1),
            "act_rd_en": In(1),
            "act_rd_addr": In(addr),
            "act": Out(signed(ACT_WIDTH)),
            "almost_full": Out(1),
            "idle": Out(1),
            "ready": Out(1),
            "busy": Out(COUNTER_WIDTH),
            "stall": Out(COUNTER_WIDTH),
            "error": Out(3),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        m.submodules.queue = queue = ActivationQueue(depth=cfg.fifo_depth)
        m.submodules.pointers = pointers = PointerReadUnit(cfg)
        m.submodules.spmat = spmat = SparseMatrixReadUnit(cfg)
        m.submodules.codebook = codebook = CodebookDecoder(cfg)
        m.submodules.address = address = AddressAccumulator(cfg, pe=self.pe)
        m.submodules.arith = arith = ArithmeticUnit(cfg)
        m.submodules.actrw = actrw = ActRW(cfg)

        # Configuration writes.
        def writing(op):
            return self.cfg_en & (self.cfg_op == op)

        # This PE's lanes of an ACT command: one per local address it writes.
        group, span = cfg.act_group, cfg.act_span
        mine = [self.pe % group + group * s for s in range(span)]
        book = codebook_layout(cfg)(self.cfg_data[:codebook_layout(cfg).size])
        acts = act_layout(self.cfg_data[:act_layout.size])
        m.d.comb += [
            codebook.w_en.eq(writing(Op.CODEBOOK)),
            codebook.w_index.eq(self.cfg_addr),
            codebook.w_value.eq(book.value),
            pointers.w_en.eq(writing(Op.POINTERS)),
            pointers.w_addr.eq(self.cfg_addr),
            pointers.w_data.eq(self.cfg_data),
            spmat.w_en.eq(writing(Op.SPMAT)),
            spmat.w_addr.eq(self.cfg_addr),
            spmat.w_data.eq(self.cfg_data),
            actrw.ld_en.eq(writing(Op.ACT)),
            actrw.ld_addr.eq(self.cfg_addr),
            actrw.ld_data.eq(Cat(acts[n] for n in mine)),
        ]

        # Compute: queue -> pointers -> spans -> entries.
        wiring.connect(m, wiring.flipped(self.q), queue.i)
        wiring.connect(m, queue.o, pointers.i)
        m.d.comb += self.almost_full.eq(queue.almost_full)
        wiring.connect(m, pointers.o, spmat.i)
        m.d.comb += pointers.base.eq(self.layer.ptr_base)

        # Stage E: decode the index, accumulate the row.
        entry = spmat.o
        m.d.comb += [
            codebook.slot.eq(self.layer.codebook),
            codebook.index.eq(entry.payload.index),
            address.valid.eq(entry.valid),
            address.first.eq(entry.payload.first),
            address.rel.eq(entry.payload.rel),
            address.rows.eq(self.layer.rows),
        ]
        real = entry.payload.index != 0
        decoded = Signal()  # stage M: a real entry with a known weight (range checked now)
        m.d.sync += [
            arith.i.valid.eq(entry.valid),
            arith.i.payload.weight.eq(codebook.value),
            arith.i.payload.value.eq(entry.payload.value),
            decoded.eq(real & codebook.known),
        ]
        m.d.comb += [
            arith.i.payload.row.eq(address.row),
            arith.i.payload.write.eq(decoded & address.in_range),
            self.error.eq(Cat(
                pointers.error,
                arith.i.valid & ~address.in_range,
                entry.valid & real & ~codebook.known,
            )),
        ]

        # Write-back (the array's) and the activation buffers.
        m.d.comb += [
            arith.wb_en.eq(self.wb_en),
            arith.wb_addr.eq(self.wb_addr),
            self.wb_data.eq(arith.wb_data),
            actrw.wr_en.eq(self.dst_en),
            actrw.wr_addr.eq(self.dst_addr),
            actrw.wr_data.eq(self.dst_data),
            actrw.swap.eq(self.swap),
            actrw.rd_en.eq(self.act_rd_en),
            actrw.rd_addr.eq(self.act_rd_addr),
            self.act.eq(actrw.rd_data),
            self.ready.eq(arith.ready),
        ]

        m.d.comb += self.idle.eq(~queue.o.valid & pointers.idle & spmat.idle
                                 & ~arith.i.valid & arith.idle)

        # Counters.
        busy = Signal(COUNTER_WIDTH)
        stall = Signal(COUNTER_WIDTH)
        blocked = Signal()  # almost_full as the broadcast's registered decision saw it
        m.d.sync += blocked.eq(queue.almost_full)
        with m.If(self.start):
            m.d.sync += [busy.eq(0), stall.eq(0)]
        with m.Else():
            with m.If(spmat.issue):
                m.d.sync += busy.eq(busy + 1)
            with m.If(self.bcast_wait & blocked):
                m.d.sync += stall.eq(stall + 1)
        m.d.comb += [self.busy.eq(busy), self.stall.eq(stall)]
        return m
